package initseccomp

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"
)

func TestKey(t *testing.T) {
	errno := uint(1)
	a := &configs.Seccomp{DefaultAction: configs.Errno, DefaultErrnoRet: &errno, Architectures: []string{"amd64"},
		Syscalls: []*configs.Syscall{{Name: "read", Action: configs.Allow}}}
	b := *a
	b.Syscalls = []*configs.Syscall{{Name: "write", Action: configs.Allow}}
	ka, err := Key(a)
	if err != nil {
		t.Fatal(err)
	}
	ka2, _ := Key(a)
	kb, _ := Key(&b)
	if ka != ka2 {
		t.Error("one profile, two keys")
	}
	if ka == kb {
		t.Error("two profiles, one key")
	}
	if _, err := Key(nil); err == nil {
		t.Error("a key for no profile")
	}
}

func TestWriteRead(t *testing.T) {
	good := &Program{Key: [32]byte{1, 2, 3}, Flags: 4, Filter: []byte{6, 0, 0, 0, 0, 0, 0xff, 0x7f}}
	for _, tc := range []struct {
		name    string
		p       *Program
		raw     func(b []byte) []byte // rewrites the file written from p
		mode    os.FileMode
		wantErr string
	}{
		{name: "round trip", p: good},
		{name: "empty program", p: &Program{}, wantErr: "not whole instructions"},
		{name: "partial instruction", p: &Program{Filter: []byte{1, 2, 3}}, wantErr: "not whole instructions"},
		{name: "too long", p: &Program{Filter: make([]byte, 4097*8)}, wantErr: "more than the kernel takes"},
		{name: "bad magic", p: good, raw: func(b []byte) []byte { b[0] = 'x'; return b }, wantErr: "not a seccomp program file"},
		{name: "truncated", p: good, raw: func(b []byte) []byte { return b[:headerLen+3] }, wantErr: "not whole instructions"},
		{name: "header only", p: good, raw: func(b []byte) []byte { return b[:headerLen] }, wantErr: "not whole instructions"},
		{name: "writable by others", p: good, mode: 0o622, wantErr: "only writable by root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			err := Write(dir, tc.p)
			if err == nil && tc.raw != nil {
				b, _ := os.ReadFile(path)
				os.WriteFile(path, tc.raw(b), 0o600)
			}
			if err == nil && tc.mode != 0 {
				os.Chmod(path, tc.mode)
			}
			var got *Program
			if err == nil {
				got, err = Read(path)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Key != tc.p.Key || got.Flags != tc.p.Flags || !slices.Equal(got.Filter, tc.p.Filter) {
				t.Errorf("read %+v, wrote %+v", got, tc.p)
			}
		})
	}
	t.Run("symlink", func(t *testing.T) {
		dir := t.TempDir()
		if err := Write(dir, good); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "link")
		os.Symlink(filepath.Join(dir, FileName), link)
		if _, err := Read(link); err == nil {
			t.Error("read through a symlink")
		}
	})
}
