package build

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

func TestTagFromDebianVersion(t *testing.T) {
	cases := []struct{ in, want string }{
		{"1:1.35.0-4+deb12u1+b1", "1.35.0-4_deb12u1_b1"},
		{"1.22.1-9+deb12u11", "1.22.1-9_deb12u11"},
		{"2.0~rc1-1", "2.0_rc1-1"},
		{"1.0", "1.0"},
		{"3:1.2 odd", "1.2-odd"},
	}
	for _, tc := range cases {
		if got := TagFromDebianVersion(tc.in); got != tc.want {
			t.Errorf("TagFromDebianVersion(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseLdd(t *testing.T) {
	const interp = "/lib64/ld-linux-x86-64.so.2"
	cases := []struct {
		name    string
		out     string
		interp  string
		want    Linked
		wantErr string
	}{
		{
			name: "dynamic",
			out: "\tlinux-vdso.so.1 (0x00007ffd)\n" +
				"\tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f1)\n" +
				"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2)\n" +
				"\t/lib64/ld-linux-x86-64.so.2 (0x00007f3)\n",
			interp: interp,
			want: Linked{
				Libraries: []string{"/lib/x86_64-linux-gnu/libssl.so.3", "/lib/x86_64-linux-gnu/libc.so.6"},
				Loader:    interp,
			},
		},
		{
			name:   "loader missing from output falls back to PT_INTERP",
			out:    "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n",
			interp: interp,
			want:   Linked{Libraries: []string{"/lib/x86_64-linux-gnu/libc.so.6"}, Loader: interp},
		},
		{
			name: "static",
			out:  "\tnot a dynamic executable\n",
		},
		{
			name:    "missing library",
			out:     "\tlibfoo.so.1 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n",
			interp:  interp,
			wantErr: "libfoo.so.1 not found",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLdd(tc.out, tc.interp)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Libraries, ",") != strings.Join(tc.want.Libraries, ",") || got.Loader != tc.want.Loader {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSpecValidate(t *testing.T) {
	ok := func() *Spec {
		return &Spec{Name: "x", Repository: Registry + "/x", Tag: "1.0", Entries: []Entry{File("/a/b", 0o644, nil)}}
	}
	cases := []struct {
		name    string
		mutate  func(*Spec)
		wantErr string
	}{
		{name: "valid", mutate: func(*Spec) {}},
		{name: "latest", mutate: func(s *Spec) { s.Tag = "latest" }, wantErr: "explicit version"},
		{name: "no tag", mutate: func(s *Spec) { s.Tag = "" }, wantErr: "explicit version"},
		{name: "foreign name", mutate: func(s *Spec) { s.Repository = "docker.io/library/nginx" }, wantErr: "not under"},
		{name: "bad tag", mutate: func(s *Spec) { s.Tag = "1:2" }, wantErr: "x"},
		{name: "relative path", mutate: func(s *Spec) { s.Entries[0].Path = "a/b" }, wantErr: "absolute and clean"},
		{name: "unclean path", mutate: func(s *Spec) { s.Entries[0].Path = "/a/../b" }, wantErr: "absolute and clean"},
		{name: "duplicate", mutate: func(s *Spec) { s.Entries = append(s.Entries, File("/a/b", 0o600, nil)) }, wantErr: "given twice"},
		{name: "parent is a file", mutate: func(s *Spec) { s.Entries = append(s.Entries, File("/a", 0o644, nil)) }, wantErr: "to be a directory"},
		{name: "symlink without target", mutate: func(s *Spec) { s.Entries = append(s.Entries, Entry{Path: "/l", Kind: KindSymlink}) }, wantErr: "no target"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := ok()
			tc.mutate(s)
			err := s.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

type tarEntry struct {
	typ      byte
	mode     int64
	uid, gid int
	link     string
	data     string
}

func readTar(t *testing.T, r io.Reader) (map[string]tarEntry, []string) {
	t.Helper()
	tr := tar.NewReader(r)
	m := map[string]tarEntry{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return m, order
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(Epoch) {
			t.Errorf("%s: mtime %v, want the fixed epoch", h.Name, h.ModTime)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: carries user/group names %q/%q", h.Name, h.Uname, h.Gname)
		}
		name := "/" + strings.TrimSuffix(h.Name, "/")
		m[name] = tarEntry{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, link: h.Linkname, data: string(b)}
		order = append(order, name)
	}
}

func TestLayerTar(t *testing.T) {
	s := &Spec{Name: "x", Repository: Registry + "/x", Tag: "1", Entries: []Entry{
		Symlink("/usr/bin/sh", "/bin/busybox"),
		File("/bin/busybox", 0o755, []byte("elf")),
		Dir("/tmp", 0o777|os.ModeSticky),
		{Path: "/home/u/f", Kind: KindFile, Mode: 0o600, Data: []byte("x"), UID: 1000, GID: 100},
	}}
	raw, err := s.LayerTar()
	if err != nil {
		t.Fatal(err)
	}
	got, order := readTar(t, bytes.NewReader(raw))
	want := map[string]tarEntry{
		"/bin":         {typ: tar.TypeDir, mode: 0o755},
		"/bin/busybox": {typ: tar.TypeReg, mode: 0o755, data: "elf"},
		"/home":        {typ: tar.TypeDir, mode: 0o755},
		"/home/u":      {typ: tar.TypeDir, mode: 0o755},
		"/home/u/f":    {typ: tar.TypeReg, mode: 0o600, uid: 1000, gid: 100, data: "x"},
		"/tmp":         {typ: tar.TypeDir, mode: 0o1777},
		"/usr":         {typ: tar.TypeDir, mode: 0o755},
		"/usr/bin":     {typ: tar.TypeDir, mode: 0o755},
		"/usr/bin/sh":  {typ: tar.TypeSymlink, mode: 0o777, link: "/bin/busybox"},
	}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want %d", order, len(want))
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: %+v, want %+v", p, got[p], w)
		}
	}
	seen := map[string]bool{}
	for _, p := range order {
		if parent := p[:strings.LastIndex(p, "/")]; parent != "" && !seen[parent] {
			t.Errorf("%s comes before its parent %s", p, parent)
		}
		seen[p] = true
	}
	again, err := s.LayerTar()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, again) {
		t.Fatal("two LayerTar calls gave different bytes")
	}
	k1, _ := s.Key()
	s.Entries[1].Data = []byte("elf2")
	k2, _ := s.Key()
	if k1 == k2 {
		t.Fatal("Key did not change with file content")
	}
}

func TestMirrorRef(t *testing.T) {
	cases := []struct{ ref, reg, want, wantErr string }{
		{"skiff.local/test/nginx:1.22.1-9_deb12u11", "127.0.0.1:5000", "127.0.0.1:5000/test/nginx:1.22.1-9_deb12u11", ""},
		{"skiff.local/test/testserver:0.1", "localhost:1", "localhost:1/test/testserver:0.1", ""},
		{"skiff.local/test/testserver:0.1", "a/b", "", "host[:port]"},
		{"skiff.local/test/testserver", "localhost:1", "", "tag"},
	}
	for _, tc := range cases {
		got, err := MirrorRef(tc.ref, tc.reg)
		if tc.wantErr != "" {
			if err == nil {
				t.Errorf("MirrorRef(%q, %q) = %q, want an error", tc.ref, tc.reg, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("MirrorRef(%q, %q) = %q, %v; want %q", tc.ref, tc.reg, got, err, tc.want)
		}
	}
}
