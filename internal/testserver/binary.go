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

// Binary builds the skiff binary once per test process, with the release build tags and ldflags (so
// the embedded kubectl reports the right version), and returns its path. Tests that need a real
// process (kill -9, the kubectl a user runs, benchmarks) use it; their TestMain calls
// RemoveBinary when done.
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
		tags, err := exec.Command("make", "-s", "-C", root, "tags").Output()
		if err != nil {
			binErr = fmt.Errorf("make tags: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "skiff-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "skiff")
		cmd := exec.Command("go", "build", "-tags", strings.TrimSpace(string(tags)),
			"-ldflags", strings.TrimSpace(string(ldflags)), "-o", binPath, "./cmd/skiff")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return binPath, binErr
}

// RemoveBinary deletes the binary Binary built, if any.
func RemoveBinary() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}
