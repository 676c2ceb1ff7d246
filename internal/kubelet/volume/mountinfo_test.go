package volume

import (
	"strings"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	in := strings.Join([]string{
		`22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw`,
		`40 22 0:35 / /var/lib/skiff/pods/u1/volumes/kubernetes.io~secret/s rw,relatime shared:20 master:3 - tmpfs tmpfs rw,size=1024k,mode=777`,
		`41 22 0:36 / /data/with\040space\134x rw - tmpfs tmpfs rw`,
		`42 22 0:37 / /no/optional rw - proc proc rw`,
	}, "\n")
	got, err := parseMountInfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []mountEntry{
		{MountPoint: "/", FSType: "ext4", SuperOptions: "rw"},
		{MountPoint: "/var/lib/skiff/pods/u1/volumes/kubernetes.io~secret/s", FSType: "tmpfs", SuperOptions: "rw,size=1024k,mode=777"},
		{MountPoint: `/data/with space\x`, FSType: "tmpfs", SuperOptions: "rw"},
		{MountPoint: "/no/optional", FSType: "proc", SuperOptions: "rw"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := parseMountInfo(strings.NewReader("garbage line")); err == nil {
		t.Error("garbage accepted")
	}
}

func TestIsWithin(t *testing.T) {
	for _, tt := range []struct {
		root, p string
		want    bool
	}{
		{"/a/b", "/a/b", true},
		{"/a/b", "/a/b/c", true},
		{"/a/b", "/a/bc", false},
		{"/a/b", "/a", false},
		{"/a/b/", "/a/b/c", true},
	} {
		if got := isWithin(tt.root, tt.p); got != tt.want {
			t.Errorf("isWithin(%q, %q) = %v", tt.root, tt.p, got)
		}
	}
}
