package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The on-disk shape matches upstream's, because users and tools (and inotify-based reloaders)
// know it: every user-visible entry is a symlink through dataLink, dataLink points at one
// timestamped directory holding a complete generation, and a generation is replaced by renaming
// a fresh symlink over dataLink, which is atomic.
const (
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
	// tsDirLayout is the prefix os.MkdirTemp completes with a random suffix.
	tsDirLayout = "..2006_01_02_15_04_05."
)

// fileProjection is one file of a volume's payload.
type fileProjection struct {
	Data []byte
	Mode int32
}

// now is replaced in tests that want stable directory names.
var now = time.Now

// writeAtomic makes dir hold exactly payload (paths relative to dir). A reader that resolves
// dir/..data once sees either the whole old generation or the whole new one; a reader going
// through dir/<path> sees each file whole. Nothing is rewritten when the payload is unchanged, so
// that resyncs do not wake file watchers. With fsGroup set, the generation is group-owned by it
// and group-readable before it becomes visible.
func writeAtomic(dir string, payload map[string]fileProjection, fsGroup *int64) (changed bool, err error) {
	top := map[string]bool{}
	for p := range payload {
		if err := validatePayloadPath(p); err != nil {
			return false, err
		}
		first, _, _ := strings.Cut(p, "/")
		top[first] = true
	}
	// One payload path must not be a directory prefix of another: "a" and "a/b" cannot both be files.
	for p := range payload {
		for q := range payload {
			if strings.HasPrefix(q, p+"/") {
				return false, fmt.Errorf("payload paths %q and %q conflict", p, q)
			}
		}
	}

	old, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if old != "" {
		same, err := generationMatches(filepath.Join(dir, old), payload, fsGroup)
		if err != nil {
			return false, err
		}
		if same && userVisibleMatch(dir, top) {
			return false, removeStaleGenerations(dir, old)
		}
	}

	tsDir, err := os.MkdirTemp(dir, now().UTC().Format(tsDirLayout))
	if err != nil {
		return false, err
	}
	tsName := filepath.Base(tsDir)
	if err := writeGeneration(tsDir, payload, fsGroup); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, err
	}

	tmp := filepath.Join(dir, dataLinkTmp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := os.Symlink(tsName, tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return false, err
	}

	// New names appear only after the swap, so they never dangle; names that went away are
	// removed only after it, so a reader of a surviving name never sees it vanish.
	for name := range top {
		if err := ensureUserVisible(dir, name); err != nil {
			return true, err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true, err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") || top[name] {
			continue
		}
		if target, err := os.Readlink(filepath.Join(dir, name)); err == nil && target == path.Join(dataLink, name) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return true, err
			}
		}
	}
	// A replaced generation is kept for retiredGrace and removed by a later call: following
	// user/..data/key takes several lookups, and a reader that read ..data just before the swap
	// must still find the name it read. Removing it at once (as upstream does) lets such a
	// reader see ENOENT. Its mtime records when it was retired.
	if old != "" {
		t := now()
		if err := os.Chtimes(filepath.Join(dir, old), t, t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return true, err
		}
	}
	return true, removeStaleGenerations(dir, tsName)
}

// retiredGrace is how long a replaced generation outlives its replacement.
var retiredGrace = 2 * time.Second

func validatePayloadPath(p string) error {
	switch {
	case p == "":
		return errors.New("payload path must not be empty")
	case path.IsAbs(p):
		return fmt.Errorf("payload path %q must be relative", p)
	case path.Clean(p) != p:
		return fmt.Errorf("payload path %q is not clean", p)
	case strings.HasPrefix(p, ".."):
		// covers both backsteps and the names reserved for generations and the data link
		return fmt.Errorf("payload path %q must not start with '..'", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return fmt.Errorf("payload path %q must not contain '..'", p)
		}
		if len(seg) > 255 {
			return fmt.Errorf("payload path %q has a segment longer than 255 bytes", p)
		}
	}
	return nil
}

// fileMode is the mode a projected file ends up with.
func fileMode(mode int32, fsGroup *int64) os.FileMode {
	m := os.FileMode(mode) & os.ModePerm
	if fsGroup != nil {
		m |= 0o440 // the volume is read-only to the pod, so the group gets read, not write
	}
	return m
}

func writeGeneration(tsDir string, payload map[string]fileProjection, fsGroup *int64) error {
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return err
	}
	paths := make([]string, 0, len(payload))
	for p := range payload {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := payload[p]
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.Data, 0o600); err != nil {
			return err
		}
		// Chmod after writing so the umask has no say in the mode the pod asked for.
		if err := os.Chmod(full, fileMode(f.Mode, nil)); err != nil {
			return err
		}
	}
	if fsGroup == nil {
		return nil
	}
	gid := int(*fsGroup)
	return filepath.WalkDir(tsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, info.Mode().Perm()|0o550|os.ModeSetgid)
		}
		return os.Chmod(p, info.Mode().Perm()|0o440)
	})
}

// generationMatches reports whether tsDir already holds exactly payload with the right modes.
func generationMatches(tsDir string, payload map[string]fileProjection, fsGroup *int64) (bool, error) {
	seen := 0
	err := filepath.WalkDir(tsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(tsDir, p)
		if err != nil {
			return err
		}
		want, ok := payload[filepath.ToSlash(rel)]
		if !ok || !d.Type().IsRegular() {
			return errMismatch
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != fileMode(want.Mode, fsGroup) {
			return errMismatch
		}
		have, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(have, want.Data) {
			return errMismatch
		}
		seen++
		return nil
	})
	switch {
	case errors.Is(err, errMismatch), errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	return seen == len(payload), nil
}

var errMismatch = errors.New("generation differs from payload")

func userVisibleMatch(dir string, top map[string]bool) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	visible := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		if !top[e.Name()] {
			return false
		}
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err != nil || target != path.Join(dataLink, e.Name()) {
			return false
		}
		visible++
	}
	return visible == len(top)
}

func ensureUserVisible(dir, name string) error {
	link := filepath.Join(dir, name)
	want := path.Join(dataLink, name)
	if target, err := os.Readlink(link); err == nil && target == want {
		return nil
	}
	if err := os.RemoveAll(link); err != nil {
		return err
	}
	return os.Symlink(want, link)
}

// removeStaleGenerations deletes every generation but current that was retired more than
// retiredGrace ago, including those a crash left half-written, and a stale ..data_tmp.
func removeStaleGenerations(dir, current string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "..") || name == dataLink || name == current {
			continue
		}
		if info, err := e.Info(); err == nil && info.IsDir() && now().Sub(info.ModTime()) < retiredGrace {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}
