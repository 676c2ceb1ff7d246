//go:build !(cgo && seccomp)

package libcontainer

import (
	"errors"

	"github.com/opencontainers/runc/libcontainer/configs"
)

// compileSeccomp: without libseccomp no profile is applied to containers, so none reaches here
// but from a state written by a binary built with it; libcontainer's path then says why it fails.
func compileSeccomp(cfg *configs.Seccomp) ([]byte, uint, error) {
	return nil, 0, errors.New("seccomp support is not compiled in")
}
