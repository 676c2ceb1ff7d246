package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary builds the skiff binary once per test process, with the release ldflags (so the embedded
// kubectl reports the right version), and returns its path. Tests that need a real process (kill -9,
// the kubectl a user runs) use it. The directory is left for the OS to clean: test processes share
// no state through it.
func Binary() (string, error) {
	binOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			binErr = err
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		ldflags, err := exec.Command("make", "-s", "-C", root, "ldflags").Output()
		if err != nil {
			binErr = fmt.Errorf("make ldflags: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "skiff-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "skiff")
		cmd := exec.Command("go", "build", "-ldflags", strings.TrimSpace(string(ldflags)), "-o", binPath, "./cmd/skiff")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return binPath, binErr
}
