package fake

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/runtimetest"
)

func TestContract(t *testing.T) {
	img := &runtimetest.Rootfs{Name: runtimetest.BusyboxImage, Config: runtime.ImageConfig{Cmd: []string{"sh"}, ID: "sha256:fake"}}
	runtimetest.Run(t, runtimetest.Harness{
		New:   func(t *testing.T, dir string) runtime.Runtime { return New(dir, img) },
		Image: runtimetest.BusyboxImage,
	})
}

func TestScript(t *testing.T) {
	for _, tc := range []struct {
		script, stdin, out, err string
		code                    int
	}{
		{"echo a b; echo c >&2; exit 3", "", "a b\n", "c\n", 3},
		{"true; false; echo no", "", "", "", 1},
		{"cat", "in\n", "in\n", "", 0},
		{"sleep 0.01; echo done", "", "done\n", "", 0},
		{"frobnicate", "", "", "sh: frobnicate: not found\n", 127},
	} {
		var out, errb bytes.Buffer
		code := Script(tc.script, strings.NewReader(tc.stdin), &out, &errb, nil)
		if code != tc.code || out.String() != tc.out || errb.String() != tc.err {
			t.Errorf("%q: %d %q %q", tc.script, code, out.String(), errb.String())
		}
	}
	sigs := make(chan string, 1)
	sigs <- "TERM"
	t0 := time.Now()
	if code := Script("trap 'exit 5' TERM; sleep 10 & wait", nil, &bytes.Buffer{}, &bytes.Buffer{}, sigs); code != 5 || time.Since(t0) > time.Second {
		t.Errorf("trapped TERM: %d after %v", code, time.Since(t0))
	}
	sigs <- "KILL"
	if code := Script("trap '' TERM; sleep 10", nil, &bytes.Buffer{}, &bytes.Buffer{}, sigs); code != 137 {
		t.Errorf("KILL: %d", code)
	}
}
