package image

import (
	"errors"
	"testing"
)

func TestParseReference(t *testing.T) {
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		in       string
		want     string
		familiar string
		wantErr  bool
	}{
		{in: "nginx", want: "docker.io/library/nginx:latest", familiar: "nginx:latest"},
		{in: "nginx:1.27", want: "docker.io/library/nginx:1.27", familiar: "nginx:1.27"},
		{in: "library/nginx:1.27", want: "docker.io/library/nginx:1.27"},
		{in: "docker.io/nginx", want: "docker.io/library/nginx:latest"},
		{in: "index.docker.io/library/nginx:1", want: "docker.io/library/nginx:1"},
		{in: "bitnami/redis:7", want: "docker.io/bitnami/redis:7", familiar: "bitnami/redis:7"},
		{in: "quay.io/coreos/etcd:v3.5", want: "quay.io/coreos/etcd:v3.5", familiar: "quay.io/coreos/etcd:v3.5"},
		{in: "localhost/app", want: "localhost/app:latest"},
		{in: "localhost:5000/app:v1", want: "localhost:5000/app:v1"},
		{in: "127.0.0.1:5000/a/b/c", want: "127.0.0.1:5000/a/b/c:latest"},
		{in: "registry.k8s.io/pause:3.10", want: "registry.k8s.io/pause:3.10"},
		{in: "nginx@" + dgst, want: "docker.io/library/nginx@" + dgst},
		{in: "nginx:1.27@" + dgst, want: "docker.io/library/nginx:1.27@" + dgst},
		{in: "my-reg.example.com:443/team/app_x.y:tag-1.2_3", want: "my-reg.example.com:443/team/app_x.y:tag-1.2_3"},
		{in: "", wantErr: true},
		{in: "Nginx", wantErr: true},
		{in: "nginx:", wantErr: true},
		{in: "nginx:bad tag", wantErr: true},
		{in: "nginx@sha256:short", wantErr: true},
		{in: "a//b", wantErr: true},
		{in: "nginx:-tag", wantErr: true},
		{in: "/nginx", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseReference(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidReference) {
					t.Fatalf("ParseReference(%q) = %v, %v; want ErrInvalidReference", tc.in, r, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tc.in, err)
			}
			if got := r.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if tc.familiar != "" && r.Familiar() != tc.familiar {
				t.Errorf("Familiar() = %q, want %q", r.Familiar(), tc.familiar)
			}
			// Normalisation is idempotent.
			again, err := ParseReference(r.String())
			if err != nil || again != r {
				t.Errorf("re-parse of %q = %+v, %v; want %+v", r.String(), again, err, r)
			}
		})
	}
}

func TestStoreKeyPrefersDigest(t *testing.T) {
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct{ in, want string }{
		{"nginx", "docker.io/library/nginx:latest"},
		{"nginx:1.27@" + dgst, "docker.io/library/nginx@" + dgst},
		{"quay.io/x/y@" + dgst, "quay.io/x/y@" + dgst},
	}
	for _, tc := range tests {
		r, err := ParseReference(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.storeKey(); got != tc.want {
			t.Errorf("storeKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
