package volume

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCheckHostPath(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "dir")
	file := filepath.Join(base, "file")
	sock := filepath.Join(base, "sock")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	missing := filepath.Join(base, "missing")
	blockDev := ""
	for _, p := range []string{"/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1"} {
		if info, err := os.Stat(p); err == nil && info.Mode()&os.ModeDevice != 0 && info.Mode()&os.ModeCharDevice == 0 {
			blockDev = p
			break
		}
	}

	for _, tt := range []struct {
		name    string
		path    string
		typ     corev1.HostPathType
		wantErr string
		// created is what must exist afterwards, with this mode, for the *OrCreate types.
		created os.FileMode
	}{
		{name: "unset missing is fine", path: missing, typ: corev1.HostPathUnset},
		{name: "dir ok", path: dir, typ: corev1.HostPathDirectory},
		{name: "dir missing", path: missing, typ: corev1.HostPathDirectory, wantErr: "hostPath type check failed: " + missing + " is not a directory"},
		{name: "dir is file", path: file, typ: corev1.HostPathDirectory, wantErr: "is not a directory"},
		{name: "dir or create existing", path: dir, typ: corev1.HostPathDirectoryOrCreate},
		{name: "dir or create on file", path: file, typ: corev1.HostPathDirectoryOrCreate, wantErr: "is not a directory"},
		{name: "dir or create creates", path: filepath.Join(base, "new/deep"), typ: corev1.HostPathDirectoryOrCreate, created: os.ModeDir | 0o755},
		{name: "file ok", path: file, typ: corev1.HostPathFile},
		{name: "file is dir", path: dir, typ: corev1.HostPathFile, wantErr: "hostPath type check failed: " + dir + " is not a file"},
		{name: "file missing", path: missing, typ: corev1.HostPathFile, wantErr: "is not a file"},
		{name: "file or create creates", path: filepath.Join(base, "newfile"), typ: corev1.HostPathFileOrCreate, created: 0o644},
		{name: "file or create on dir", path: dir, typ: corev1.HostPathFileOrCreate, wantErr: "is not a file"},
		{name: "file or create without parent", path: filepath.Join(base, "nope/f"), typ: corev1.HostPathFileOrCreate, wantErr: "no such file"},
		{name: "socket ok", path: sock, typ: corev1.HostPathSocket},
		{name: "socket is file", path: file, typ: corev1.HostPathSocket, wantErr: "is not a socket file"},
		{name: "char device ok", path: "/dev/null", typ: corev1.HostPathCharDev},
		{name: "char device is file", path: file, typ: corev1.HostPathCharDev, wantErr: "is not a character device"},
		{name: "block device is char device", path: "/dev/null", typ: corev1.HostPathBlockDev, wantErr: "is not a block device"},
		{name: "block device ok", path: blockDev, typ: corev1.HostPathBlockDev},
		{name: "invalid type", path: dir, typ: "Weird", wantErr: "Weird is an invalid volume type"},
		{name: "relative path", path: "rel", typ: corev1.HostPathDirectory, wantErr: "must be an absolute path"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "" {
				t.Skip("no block device on this machine")
			}
			err := checkHostPath(&corev1.HostPathVolumeSource{Path: tt.path, Type: &tt.typ})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.created != 0 {
				info, err := os.Stat(tt.path)
				if err != nil {
					t.Fatal(err)
				}
				if info.Mode() != tt.created {
					t.Errorf("created mode %v, want %v", info.Mode(), tt.created)
				}
			}
		})
	}
}
