//go:build cgo && seccomp && amd64

package initseccomp

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"unsafe"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"golang.org/x/sys/unix"
)

// libcontainer offers no hook between its init's configuration and its call to
// seccomp.InitSeccomp, and that call is where the profile is compiled. So, in the init process
// only, before libcontainer.Init runs, the first instructions of seccomp.InitSeccomp are replaced
// by a jump to initSeccomp below, which puts them back at once: libcontainer's first call lands
// here, on the same thread, at the same point of its sequence, with the profile it decoded from
// its configuration. A program whose key matches that profile is loaded as libcontainer's
// PatchAndLoad loads its own (same system call, same flags); any other profile goes to the
// original function. The init is a short-lived process that ends in execve, which discards the
// modified text.

// jump is "movabs r12, imm64; jmp r12". R12 is scratch in Go's internal ABI (arguments travel in
// RAX, RBX, RCX, RDI, RSI, R8–R11), so the arguments reach initSeccomp untouched.
const jumpLen = 13

var redirected struct {
	prog  *Program
	entry unsafe.Pointer // seccomp.InitSeccomp's first instruction
	saved [jumpLen]byte
}

// Install arranges for the init about to run (libcontainer's standard init, started in the
// container's directory's rootfs) to load the program the agent left in FileName instead of
// compiling its profile. Without a usable file, nothing changes.
func Install() {
	if os.Getenv("_LIBCONTAINER_INITTYPE") != "standard" {
		// An exec (setns init) has entered the container's mount namespace already: a relative
		// path would be resolved in the container's files.
		return
	}
	p, err := Read(filepath.Join("..", FileName))
	if err != nil {
		return
	}
	redirected.prog = p
	redirected.entry = codeOf(seccomp.InitSeccomp)
	copy(redirected.saved[:], unsafe.Slice((*byte)(redirected.entry), jumpLen))
	var jump [jumpLen]byte
	jump[0], jump[1] = 0x49, 0xbc
	*(*uintptr)(unsafe.Pointer(&jump[2])) = uintptr(codeOf(initSeccomp))
	jump[10], jump[11], jump[12] = 0x41, 0xff, 0xe4
	if err := writeText(redirected.entry, jump[:]); err != nil {
		redirected.prog = nil
	}
}

// codeOf is the entry of a Go function: a func value points to a word holding it.
func codeOf[F any](f F) unsafe.Pointer {
	return **(**unsafe.Pointer)(unsafe.Pointer(&f))
}

// writeText copies b over the code at at, making its pages writable for the time of the copy.
func writeText(at unsafe.Pointer, b []byte) error {
	pg := uintptr(os.Getpagesize())
	off := uintptr(at) & (pg - 1)
	start := unsafe.Add(at, -int(off))
	span := unsafe.Slice((*byte)(start), (off+uintptr(len(b))+pg-1)&^(pg-1))
	if err := unix.Mprotect(span, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC); err != nil {
		return err
	}
	copy(unsafe.Slice((*byte)(at), len(b)), b)
	return unix.Mprotect(span, unix.PROT_READ|unix.PROT_EXEC)
}

// initSeccomp stands in for seccomp.InitSeccomp (same signature, so the same registers) for its
// first call.
func initSeccomp(config *configs.Seccomp) (int, error) {
	p := redirected.prog
	if err := writeText(redirected.entry, redirected.saved[:]); err != nil {
		return -1, fmt.Errorf("error restoring libcontainer's seccomp setup: %w", err)
	}
	redirected.prog = nil
	if config == nil || p == nil {
		return seccomp.InitSeccomp(config)
	}
	if key, err := Key(config); err != nil || key != p.Key {
		return seccomp.InitSeccomp(config)
	}
	if err := load(p); err != nil {
		// libcontainer's wording, as its PatchAndLoad fails.
		return -1, fmt.Errorf("error loading seccomp filter into kernel: error loading seccomp filter: %w", err)
	}
	return -1, nil
}

// load installs p's filter on the calling thread as libcontainer's patchbpf does: prctl(2)
// without flags, seccomp(2) with them.
func load(p *Program) error {
	filter := make([]unix.SockFilter, len(p.Filter)/8)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&filter[0])), len(p.Filter)), p.Filter)
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	var err error
	if p.Flags == 0 {
		err = unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0)
	} else if _, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(p.Flags), uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		err = errno
	}
	runtime.KeepAlive(filter)
	runtime.KeepAlive(&fprog)
	return err
}
