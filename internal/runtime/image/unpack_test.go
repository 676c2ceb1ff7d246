package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// entry describes one tar entry for hand-built layers.
type entry struct {
	name     string
	typ      byte
	body     string
	link     string
	mode     int64
	uid, gid int
	xattrs   map[string]string
}

func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, body: body, mode: 0o644}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }

func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords[paxXattrPrefix+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUnpackRefusesTraversal(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
	}{
		{"dotdot", []entry{file("../escape", "x")}},
		{"nested dotdot", []entry{file("a/../../escape", "x")}},
		{"absolute dotdot", []entry{file("/../escape", "x")}},
		{"hardlink out", []entry{{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}}},
		{"write through symlink", []entry{{name: "l", typ: tar.TypeSymlink, link: "/tmp", mode: 0o777}, file("l/escape", "x")}},
		{"write through relative symlink", []entry{{name: "l", typ: tar.TypeSymlink, link: "../..", mode: 0o777}, file("l/escape", "x")}},
		{"whiteout through symlink", []entry{{name: "l", typ: tar.TypeSymlink, link: "/etc", mode: 0o777}, {name: "l/.wh.passwd", typ: tar.TypeReg}}},
		{"hardlink via symlink", []entry{{name: "l", typ: tar.TypeSymlink, link: "/etc", mode: 0o777}, {name: "h", typ: tar.TypeLink, link: "l/passwd"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			root := filepath.Join(parent, "a", "b")
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := unpackLayer(bytes.NewReader(tarOf(t, tc.entries...)), root)
			if !errors.Is(err, ErrInvalidImage) {
				t.Fatalf("unpack = %v, want ErrInvalidImage", err)
			}
			for _, p := range []string{filepath.Join(parent, "escape"), filepath.Join(parent, "a", "escape"), "/tmp/escape"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written outside the layer root", p)
				}
			}
		})
	}
}

func TestUnpackEntries(t *testing.T) {
	root := t.TempDir()
	layer := tarOf(t,
		dir("./"),
		dir("bin/"),
		entry{name: "bin/tool", typ: tar.TypeReg, body: "#!/bin/sh\n", mode: 0o4755, uid: 1000, gid: 1000},
		entry{name: "bin/alias", typ: tar.TypeLink, link: "bin/tool"},
		entry{name: "bin/sym", typ: tar.TypeSymlink, link: "tool", mode: 0o777},
		file("deep/implicit/parent/f", "x"),
		entry{name: "cap", typ: tar.TypeReg, body: "c", mode: 0o600, xattrs: map[string]string{"user.skiff": "v"}},
		file("replaced", "old"),
		file("replaced", "new"),
		entry{name: "ro/", typ: tar.TypeDir, mode: 0o555},
		file("ro/inside", "in"),
	)
	size, err := unpackLayer(bytes.NewReader(layer), root)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len("#!/bin/sh\n")+1+1+3+3+2) {
		t.Errorf("size = %d", size)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if read("replaced") != "new" || read("deep/implicit/parent/f") != "x" || read("ro/inside") != "in" {
		t.Error("file content wrong")
	}
	var st, st2 unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "bin/tool"), &st); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(filepath.Join(root, "bin/alias"), &st2); err != nil {
		t.Fatal(err)
	}
	if st.Ino != st2.Ino {
		t.Error("hardlink is not the same inode")
	}
	if st.Mode&0o7777 != 0o4755 {
		t.Errorf("mode = %o, want 4755 (set-uid kept after chown)", st.Mode&0o7777)
	}
	if os.Geteuid() == 0 && (st.Uid != 1000 || st.Gid != 1000) {
		t.Errorf("owner = %d:%d, want 1000:1000", st.Uid, st.Gid)
	}
	if l, err := os.Readlink(filepath.Join(root, "bin/sym")); err != nil || l != "tool" {
		t.Errorf("symlink = %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "ro")); err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("ro dir mode = %v, %v", fi.Mode(), err)
	}
	if fi, _ := os.Stat(filepath.Join(root, "ro")); !fi.ModTime().Equal(time.Unix(1700000000, 0)) {
		t.Errorf("dir mtime = %v, want the tar's (set after its children)", fi.ModTime())
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(root, "cap"), "user.skiff", buf); err == nil && string(buf[:n]) != "v" {
		t.Errorf("xattr = %q", buf[:n])
	}
}

func TestUnpackWhiteouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("whiteout devices and trusted.* xattrs need root")
	}
	root := t.TempDir()
	layer := tarOf(t,
		dir("etc/"),
		entry{name: "etc/.wh.passwd", typ: tar.TypeReg},
		dir("data/"),
		entry{name: "data/.wh..wh..opq", typ: tar.TypeReg},
		file("data/new", "n"),
		entry{name: ".wh..wh.plnk", typ: tar.TypeDir, mode: 0o700},
	)
	if _, err := unpackLayer(bytes.NewReader(layer), root); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "etc/passwd"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout mode %o rdev %d, want char device 0/0", st.Mode, st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/.wh.passwd")); err == nil {
		t.Error("whiteout marker file left in place")
	}
	buf := make([]byte, 4)
	n, err := unix.Lgetxattr(filepath.Join(root, "data"), overlayOpaqueKey, buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr = %q, %v", buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(root, "data/.wh..wh..opq")); err == nil {
		t.Error("opaque marker left in place")
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".wh.") {
			t.Errorf("AUFS metadata %s materialised", e.Name())
		}
	}
}
