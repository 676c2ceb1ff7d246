package kubelet

import (
	"strings"
	"testing"
	"time"
)

func TestConfigNodeLeaseDuration(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lease   time.Duration
		wantErr string
	}{
		{name: "default", lease: 0},
		{name: "whole seconds", lease: 4 * time.Second},
		{name: "negative", lease: -time.Second, wantErr: "whole number of seconds"},
		{name: "fraction", lease: 1500 * time.Millisecond, wantErr: "whole number of seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{NodeName: "n1", DataDir: t.TempDir(), NodeLeaseDuration: tc.lease}
			err := cfg.defaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.NodeLeaseDuration != tc.lease {
				t.Fatalf("NodeLeaseDuration changed to %v", cfg.NodeLeaseDuration)
			}
		})
	}
}
