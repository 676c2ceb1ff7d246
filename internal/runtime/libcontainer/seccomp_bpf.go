//go:build cgo && seccomp

package libcontainer

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/opencontainers/runc/libcontainer/configs"
	_ "github.com/opencontainers/runc/libcontainer/seccomp"          // for the functions linked below
	_ "github.com/opencontainers/runc/libcontainer/seccomp/patchbpf" // for the functions linked below
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The filter of an exec run by a shim must be the very program libcontainer loads into the
// container's init: libcontainer's own rule translation and its -ENOSYS stub, which it does not
// export. They are linked by name; TestExecSeccompSameFilter compares the two programs as the
// kernel holds them, so a libcontainer upgrade that renames or changes them fails that test.

//go:linkname lcGetAction github.com/opencontainers/runc/libcontainer/seccomp.getAction
func lcGetAction(act configs.Action, errnoRet *uint) (libseccomp.ScmpAction, error)

//go:linkname lcMatchCall github.com/opencontainers/runc/libcontainer/seccomp.matchCall
func lcMatchCall(filter *libseccomp.ScmpFilter, call *configs.Syscall, defAct libseccomp.ScmpAction) error

//go:linkname lcSetFlag github.com/opencontainers/runc/libcontainer/seccomp.setFlag
func lcSetFlag(filter *libseccomp.ScmpFilter, flag specs.LinuxSeccompFlag) error

//go:linkname lcFilterFlags github.com/opencontainers/runc/libcontainer/seccomp/patchbpf.filterFlags
func lcFilterFlags(config *configs.Seccomp, filter *libseccomp.ScmpFilter) (flags uint, noNewPrivs bool, err error)

//go:linkname lcEnosysPatchFilter github.com/opencontainers/runc/libcontainer/seccomp/patchbpf.enosysPatchFilter
func lcEnosysPatchFilter(config *configs.Seccomp, filter *libseccomp.ScmpFilter) ([]unix.SockFilter, error)

// compileSeccomp builds the program libcontainer's InitSeccomp loads for cfg, step for step, but
// returns it (with the seccomp(2) flags it loads it with) instead of loading it. Profiles with a
// notification listener are refused: libcontainer's exec path handles those.
func compileSeccomp(cfg *configs.Seccomp) ([]byte, uint, error) {
	if cfg.ListenerPath != "" {
		return nil, 0, errors.New("the seccomp profile notifies a listener")
	}
	for _, call := range cfg.Syscalls {
		if call == nil {
			return nil, 0, errors.New("nil syscall in the seccomp profile")
		}
		if call.Action == configs.Notify {
			return nil, 0, errors.New("the seccomp profile notifies a listener")
		}
	}
	defAct, err := lcGetAction(cfg.DefaultAction, cfg.DefaultErrnoRet)
	if err != nil {
		return nil, 0, fmt.Errorf("seccomp default action: %w", err)
	}
	if defAct == libseccomp.ActNotify {
		return nil, 0, errors.New("the seccomp profile notifies a listener")
	}
	filter, err := libseccomp.NewFilter(defAct)
	if err != nil {
		return nil, 0, fmt.Errorf("seccomp filter: %w", err)
	}
	defer filter.Release()
	for _, a := range cfg.Architectures {
		arch, err := libseccomp.GetArchFromString(a)
		if err != nil {
			return nil, 0, fmt.Errorf("seccomp architecture %q: %w", a, err)
		}
		if err := filter.AddArch(arch); err != nil {
			return nil, 0, fmt.Errorf("seccomp architecture %q: %w", a, err)
		}
	}
	for _, f := range cfg.Flags {
		if err := lcSetFlag(filter, f); err != nil {
			return nil, 0, err
		}
	}
	if len(cfg.Syscalls) > 32 {
		filter.SetOptimize(2) // as libcontainer: an older libseccomp without it is no error
	}
	if err := filter.SetNoNewPrivsBit(false); err != nil {
		return nil, 0, err
	}
	for _, call := range cfg.Syscalls {
		if err := lcMatchCall(filter, call, defAct); err != nil {
			return nil, 0, err
		}
	}
	prog, err := lcEnosysPatchFilter(cfg, filter)
	if err != nil {
		return nil, 0, err
	}
	if len(prog) == 0 {
		return nil, 0, errors.New("empty seccomp program")
	}
	flags, nnp, err := lcFilterFlags(cfg, filter)
	if err != nil {
		return nil, 0, err
	}
	if nnp {
		return nil, 0, errors.New("the seccomp filter sets no_new_privs")
	}
	if flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
		return nil, 0, errors.New("the seccomp profile notifies a listener")
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&prog[0])), len(prog)*int(unsafe.Sizeof(prog[0])))
	return append([]byte(nil), b...), flags, nil
}
