package initseccomp

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// FileName is the program's file in a container's directory (the parent of its rootfs).
const FileName = "init-seccomp.bpf"

// magic starts the file; a new layout gets a new one.
var magic = [8]byte{'s', 'k', 'f', 'b', 'p', 'f', '0', '1'}

const headerLen = 8 + 32 + 8 // magic, key, flags

// maxLen bounds what is read: the kernel takes at most 4,096 instructions of 8 bytes.
const maxLen = headerLen + 4096*8

// Program is a profile compiled as libcontainer's InitSeccomp would load it.
type Program struct {
	// Key is the profile's key (Key).
	Key [32]byte
	// Flags are the seccomp(2) flags it is loaded with; with none, prctl(2) loads it.
	Flags uint
	// Filter is the program as the kernel takes it (struct sock_filter[]).
	Filter []byte
}

// Key identifies a profile as libcontainer's init receives it: its JSON encoding (the init gets
// the configuration as JSON, and the encoding of configs.Seccomp has no maps, so it survives the
// round trip byte for byte).
func Key(cfg *configs.Seccomp) ([32]byte, error) {
	if cfg == nil {
		return [32]byte{}, errors.New("no seccomp profile")
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// Write stores p as dir's init program, atomically (the init must never see half a program).
func Write(dir string, p *Program) error {
	if err := p.check(); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Write(magic[:])
	buf.Write(p.Key[:])
	binary.Write(&buf, binary.LittleEndian, uint64(p.Flags))
	buf.Write(p.Filter)
	path := filepath.Join(dir, FileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (p *Program) check() error {
	switch {
	case len(p.Filter) == 0 || len(p.Filter)%8 != 0:
		return fmt.Errorf("seccomp program of %d bytes: not whole instructions", len(p.Filter))
	case len(p.Filter) > maxLen-headerLen:
		return fmt.Errorf("seccomp program of %d instructions: more than the kernel takes", len(p.Filter)/8)
	}
	return nil
}

// Read reads the program file at path, which must be a regular file owned by root and writable
// by nobody else (the init trusts it as it trusts its own configuration).
func Read(path string) (*Program, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !st.Mode().IsRegular() || !ok || sys.Uid != 0 || st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%s: not a regular file owned and only writable by root", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxLen+1))
	if err != nil {
		return nil, err
	}
	return parse(b)
}

func parse(b []byte) (*Program, error) {
	if len(b) < headerLen || !bytes.Equal(b[:8], magic[:]) {
		return nil, errors.New("not a seccomp program file")
	}
	if len(b) > maxLen {
		return nil, errors.New("seccomp program file too long")
	}
	p := &Program{Flags: uint(binary.LittleEndian.Uint64(b[40:48])), Filter: b[headerLen:]}
	copy(p.Key[:], b[8:40])
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}
