package image

import (
	"encoding/base64"
	"testing"
)

func TestPullSecrets(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	secrets := [][]byte{
		// .dockerconfigjson form, Docker Hub under its historic key.
		[]byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"` + b64("hub:hubpw") + `"},
		  "reg.example.com:5000":{"username":"u","password":"p"},
		  "reg.example.com:5000/team":{"username":"team","password":"tp"},
		  "*.corp.example":{"auth":"` + b64("glob:gp") + `"}}}`),
		// .dockercfg form.
		[]byte(`{"http://old.example.com/":{"auth":"` + b64("old:op") + `"}}`),
	}
	ring, err := parsePullSecrets(secrets)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		domain, path string
		wantUsers    []string
	}{
		{"docker.io", "library/nginx", []string{"hub"}},
		{"reg.example.com:5000", "team/app", []string{"team", "u"}},
		{"reg.example.com:5000", "teammate/app", []string{"u"}},
		{"reg.example.com", "team/app", nil}, // the port is part of the key
		{"a.corp.example", "x", []string{"glob"}},
		{"old.example.com", "x/y", []string{"old"}},
		{"quay.io", "x", nil},
	}
	for _, tc := range tests {
		t.Run(tc.domain+"/"+tc.path, func(t *testing.T) {
			got := ring.lookup(tc.domain, tc.path)
			var users []string
			for _, c := range got {
				users = append(users, c.Username)
			}
			if len(users) != len(tc.wantUsers) {
				t.Fatalf("lookup = %v, want %v", users, tc.wantUsers)
			}
			for i := range users {
				if users[i] != tc.wantUsers[i] {
					t.Fatalf("lookup = %v, want %v", users, tc.wantUsers)
				}
			}
		})
	}
	if _, err := parsePullSecrets([][]byte{[]byte("not json")}); err == nil {
		t.Error("garbage secret accepted")
	}
}
