package build

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// DebianVersion is the installed version of a Debian package, as dpkg records it.
func DebianVersion(pkg string) (string, error) {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}\t${Version}", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("debian package %s is not installed (run scripts/install-test-deps.sh): %v", pkg, err)
	}
	status, version, _ := strings.Cut(string(out), "\t")
	if !strings.HasSuffix(status, " installed") || version == "" {
		return "", fmt.Errorf("debian package %s is not installed (status %q); run scripts/install-test-deps.sh", pkg, status)
	}
	return version, nil
}

var tagJunk = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// TagFromDebianVersion turns a Debian version into an image tag that still says exactly which
// build it was: the epoch goes (tags cannot hold ':'), '+' and '~' become '_', so
// "1:1.35.0-4+deb12u1+b1" is "1.35.0-4_deb12u1_b1".
func TagFromDebianVersion(v string) string {
	if i := strings.Index(v, ":"); i >= 0 {
		v = v[i+1:]
	}
	v = strings.NewReplacer("+", "_", "~", "_").Replace(v)
	v = tagJunk.ReplaceAllString(v, "-")
	if len(v) > 128 {
		v = v[:128]
	}
	return v
}

// ELFInfo is what a binary needs from the system to run.
type ELFInfo struct {
	Interpreter string   // PT_INTERP: the dynamic loader, empty for a static binary
	Needed      []string // DT_NEEDED sonames
}

func (i ELFInfo) Static() bool { return i.Interpreter == "" && len(i.Needed) == 0 }

// ReadELF reads a binary's loader and direct library needs.
func ReadELF(path string) (ELFInfo, error) {
	f, err := elf.Open(path)
	if err != nil {
		return ELFInfo{}, err
	}
	defer f.Close()
	var info ELFInfo
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return ELFInfo{}, fmt.Errorf("%s: reading PT_INTERP: %w", path, err)
		}
		info.Interpreter = string(bytes.TrimRight(b, "\x00"))
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return ELFInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	info.Needed = needed
	return info, nil
}

// Linked is a binary's full shared-library closure as the dynamic loader resolves it on this
// machine.
type Linked struct {
	Libraries []string // absolute paths, in ldd's order, loader excluded
	Loader    string   // absolute path of the dynamic loader
}

// SharedLibraries runs ldd on a binary. ldd, not the ELF's DT_NEEDED list, because the image must
// hold the whole closure (libssl pulls in libcrypto) at the paths the loader will look for.
func SharedLibraries(binary string) (Linked, error) {
	out, err := exec.Command("ldd", binary).CombinedOutput()
	if err != nil {
		return Linked{}, fmt.Errorf("ldd %s: %v: %s", binary, err, out)
	}
	info, err := ReadELF(binary)
	if err != nil {
		return Linked{}, err
	}
	linked, err := parseLdd(string(out), info.Interpreter)
	if err != nil {
		return Linked{}, fmt.Errorf("ldd %s: %w", binary, err)
	}
	return linked, nil
}

// parseLdd reads ldd's output. The loader is the entry that matches the binary's PT_INTERP;
// kernel-provided objects (vdso) have no path and are left out.
func parseLdd(out, interp string) (Linked, error) {
	var l Linked
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "statically linked" || strings.Contains(line, "not a dynamic executable") {
			continue
		}
		soname, rest, arrow := strings.Cut(line, "=>")
		if !arrow {
			rest = soname
		}
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "not found") {
			return Linked{}, fmt.Errorf("library %s not found", strings.TrimSpace(soname))
		}
		p := rest
		if i := strings.Index(p, " ("); i >= 0 {
			p = p[:i]
		} else if strings.HasPrefix(p, "(") {
			p = ""
		}
		p = strings.TrimSpace(p)
		if !strings.HasPrefix(p, "/") {
			continue // linux-vdso.so.1 and friends
		}
		if !arrow && (interp == "" || p == interp) {
			l.Loader = p
			continue
		}
		l.Libraries = append(l.Libraries, p)
	}
	if interp != "" && l.Loader == "" {
		l.Loader = interp
	}
	return l, nil
}

// hostFile reads a file of this machine, following symlinks: the image gets the content under the
// path it is asked for, whatever the host's /lib -> /usr/lib layout.
func hostFile(p string) ([]byte, os.FileMode, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, 0, err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", p)
	}
	b, err := os.ReadFile(real)
	return b, fi.Mode(), err
}

// firstExisting returns the first of paths that exists.
func firstExisting(paths ...string) (string, error) {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %v exists", paths)
}
