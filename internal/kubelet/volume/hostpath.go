package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// checkHostPath applies a hostPath volume's type: the *OrCreate types create what is missing,
// the others require it to exist with that type. The messages are upstream's, because users
// search for them.
func checkHostPath(s *corev1.HostPathVolumeSource) error {
	if !filepath.IsAbs(s.Path) {
		return fmt.Errorf("hostPath %q must be an absolute path", s.Path)
	}
	t := corev1.HostPathUnset
	if s.Type != nil {
		t = *s.Type
	}
	// Stat follows symlinks: the type is that of what the container will see.
	info, err := os.Stat(s.Path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hostPath type check failed: %w", err)
	}
	mode := fs.FileMode(0)
	if exists {
		mode = info.Mode()
	}
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(s.Path, 0o755); err != nil {
				return fmt.Errorf("hostPath type check failed: %w", err)
			}
			// MkdirAll honours the umask; the documented mode is 0755 regardless.
			return os.Chmod(s.Path, 0o755)
		}
		fallthrough
	case corev1.HostPathDirectory:
		if !exists || !mode.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", s.Path)
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(s.Path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("hostPath type check failed: %w", err)
			}
			if err == nil {
				_ = f.Close()
				return os.Chmod(s.Path, 0o644)
			}
			if info, err = os.Stat(s.Path); err != nil {
				return fmt.Errorf("hostPath type check failed: %w", err)
			}
			exists, mode = true, info.Mode()
		}
		fallthrough
	case corev1.HostPathFile:
		if !exists || !mode.IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", s.Path)
		}
	case corev1.HostPathSocket:
		if !exists || mode&fs.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", s.Path)
		}
	case corev1.HostPathCharDev:
		if !exists || mode&fs.ModeCharDevice == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", s.Path)
		}
	case corev1.HostPathBlockDev:
		if !exists || mode&fs.ModeDevice == 0 || mode&fs.ModeCharDevice != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", s.Path)
		}
	default:
		return fmt.Errorf("%s is an invalid volume type", t)
	}
	return nil
}
