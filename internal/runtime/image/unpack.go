package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// OCI whiteout markers (image-spec layer.md) and their overlayfs equivalents.
const (
	whiteoutPrefix   = ".wh."
	whiteoutMetaPfx  = ".wh..wh."
	whiteoutOpaque   = ".wh..wh..opq"
	overlayOpaqueKey = "trusted.overlay.opaque"
	paxXattrPrefix   = "SCHILY.xattr."
)

// unpacker writes one layer's tar stream into an empty directory so that the directory is usable
// as an overlayfs lower dir on its own: OCI whiteout files become 0/0 character devices and
// opaque markers become the trusted.overlay.opaque xattr. It never follows a symlink while
// writing, so a hostile layer cannot reach outside its directory.
type unpacker struct {
	root string
	// safeDirs caches relative directory paths known to be real directories (not symlinks).
	safeDirs map[string]bool
	dirTimes []dirTime
	size     int64
	root0    bool // running as root: ownership and device nodes must succeed
}

type dirTime struct {
	path  string
	atime time.Time
	mtime time.Time
}

// unpackLayer extracts r into dir and returns the bytes of file content written.
func unpackLayer(r io.Reader, dir string) (int64, error) {
	u := &unpacker{root: dir, safeDirs: map[string]bool{".": true}, root0: os.Geteuid() == 0}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("%w: reading layer tar: %w", ErrInvalidImage, err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return 0, err
		}
	}
	// Directory times last: writing entries into a directory moves its mtime.
	for i := len(u.dirTimes) - 1; i >= 0; i-- {
		d := u.dirTimes[i]
		_ = setTimes(d.path, d.atime, d.mtime)
	}
	return u.size, nil
}

// cleanEntryName makes a tar entry name relative to the layer root and refuses any that climb
// out of it: docker strips a leading "/", but ".." past the root is an attack, not a typo.
func cleanEntryName(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	if n == "" {
		return ".", nil
	}
	n = path.Clean(n)
	if n == ".." || strings.HasPrefix(n, "../") {
		return "", fmt.Errorf("%w: layer entry %q escapes the layer root", ErrInvalidImage, name)
	}
	return n, nil
}

func (u *unpacker) full(rel string) string { return filepath.Join(u.root, filepath.FromSlash(rel)) }

// ensureDir makes sure every component of rel is a real directory, creating missing ones, and
// refuses a symlink anywhere on the way (writing through it could land outside the root).
func (u *unpacker) ensureDir(rel string) error {
	if u.safeDirs[rel] {
		return nil
	}
	if parent := path.Dir(rel); parent != rel {
		if err := u.ensureDir(parent); err != nil {
			return err
		}
	}
	p := u.full(rel)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%w: layer writes through symlink %q", ErrInvalidImage, rel)
	case !fi.IsDir():
		return fmt.Errorf("%w: layer uses non-directory %q as a directory", ErrInvalidImage, rel)
	}
	u.safeDirs[rel] = true
	return nil
}

// clear removes whatever sits at rel so a later entry can replace it, as tar semantics require.
func (u *unpacker) clear(rel string) error {
	p := u.full(rel)
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		for d := range u.safeDirs {
			if d == rel || strings.HasPrefix(d, rel+"/") {
				delete(u.safeDirs, d)
			}
		}
		return os.RemoveAll(p)
	}
	return os.Remove(p)
}

func (u *unpacker) entry(hdr *tar.Header, tr io.Reader) error {
	rel, err := cleanEntryName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := path.Dir(rel), path.Base(rel)
	if rel != "." {
		if err := u.ensureDir(dir); err != nil {
			return err
		}
	}

	switch {
	case base == whiteoutOpaque:
		// The directory hides everything below it in lower layers but keeps its own new entries.
		if err := unix.Lsetxattr(u.full(dir), overlayOpaqueKey, []byte("y"), 0); err != nil {
			return fmt.Errorf("marking %q opaque: %w", dir, err)
		}
		return nil
	case strings.HasPrefix(base, whiteoutMetaPfx):
		// Other AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs) has no overlayfs meaning.
		return nil
	case strings.HasPrefix(base, whiteoutPrefix):
		victim := path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
		if path.Base(victim) == "" || path.Base(victim) == "." || path.Base(victim) == ".." {
			return fmt.Errorf("%w: bad whiteout %q", ErrInvalidImage, hdr.Name)
		}
		if err := u.clear(victim); err != nil {
			return err
		}
		if err := unix.Mknod(u.full(victim), unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("creating whiteout for %q: %w", victim, err)
		}
		return nil
	}

	p := u.full(rel)
	if hdr.Typeflag != tar.TypeDir || rel == "." {
		if rel != "." {
			if err := u.clear(rel); err != nil {
				return err
			}
		}
	} else if fi, err := os.Lstat(p); err == nil && !fi.IsDir() {
		if err := u.clear(rel); err != nil {
			return err
		}
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if rel != "." {
			if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			u.safeDirs[rel] = true
		}
	case tar.TypeReg, tar.TypeRegA:
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %q: %w", rel, err)
		}
		u.size += n
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, p); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := cleanEntryName(hdr.Linkname)
		if err != nil || target == "." {
			return fmt.Errorf("%w: hardlink %q -> %q escapes the layer root", ErrInvalidImage, hdr.Name, hdr.Linkname)
		}
		if err := u.ensureDir(path.Dir(target)); err != nil {
			return err
		}
		if err := os.Link(u.full(target), p); err != nil {
			return fmt.Errorf("%w: hardlink %q -> %q: %w", ErrInvalidImage, hdr.Name, hdr.Linkname, err)
		}
		// A hardlink shares the target's inode: its metadata is already right.
		return nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		if err := unix.Mknod(p, mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			if u.root0 {
				return fmt.Errorf("creating device %q: %w", rel, err)
			}
			return nil // unprivileged unpack: devices are skipped rather than failing the image
		}
	default:
		// Global PAX headers and vendor types carry nothing we can materialise.
		return nil
	}
	return u.applyMetadata(hdr, rel, p)
}

// applyMetadata sets ownership, mode, xattrs and times; chown comes before chmod because
// chown clears the set-id bits.
func (u *unpacker) applyMetadata(hdr *tar.Header, rel, p string) error {
	if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil && u.root0 {
		return fmt.Errorf("chown %q: %w", rel, err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Chmod(p, uint32(hdr.Mode&0o7777)); err != nil {
			return fmt.Errorf("chmod %q: %w", rel, err)
		}
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattrPrefix)
		if !ok {
			continue
		}
		if err := unix.Lsetxattr(p, name, []byte(v), 0); err != nil &&
			!errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("xattr %s on %q: %w", name, rel, err)
		}
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	if hdr.Typeflag == tar.TypeDir {
		u.dirTimes = append(u.dirTimes, dirTime{path: p, atime: atime, mtime: hdr.ModTime})
		return nil
	}
	_ = setTimes(p, atime, hdr.ModTime)
	return nil
}

func setTimes(p string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}
