package server

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Rotator rotates containers' CRI log files by size: path becomes path.1, path.1 becomes path.2
// and so on, keeping MaxFiles files in all (the live one included), then the runtime reopens
// path. With Compress, rotated files older than path.1 are gzipped (path.2.gz, …); path.1 stays
// plain because a follower may still be draining it.
type Rotator struct {
	// Reopener is the runtime (runtime.Runtime satisfies it).
	Reopener interface {
		ReopenContainerLog(ctx context.Context, id string) error
	}
	MaxSize  int64 // bytes; the live file is rotated once larger
	MaxFiles int   // >= 2
	Compress bool
}

// Rotate rotates the log of container id at path if it outgrew MaxSize, and reports whether it
// did.
func (r *Rotator) Rotate(ctx context.Context, id, path string) (bool, error) {
	if r.MaxFiles < 2 || r.MaxSize <= 0 {
		return false, fmt.Errorf("log rotation needs MaxFiles >= 2 and MaxSize > 0")
	}
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if st.Size() <= r.MaxSize {
		return false, nil
	}
	// Make room: drop the oldest, shift the others up by one.
	for _, name := range []string{rotatedName(path, r.MaxFiles-1, false), rotatedName(path, r.MaxFiles-1, true)} {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
	}
	for i := r.MaxFiles - 2; i >= 1; i-- {
		for _, gz := range []bool{false, true} {
			if err := os.Rename(rotatedName(path, i, gz), rotatedName(path, i+1, gz)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return false, err
			}
		}
	}
	if err := os.Rename(path, rotatedName(path, 1, false)); err != nil {
		return false, err
	}
	if err := r.Reopener.ReopenContainerLog(ctx, id); err != nil {
		// The writer still appends to path.1; put it back so nothing is lost.
		if rerr := os.Rename(rotatedName(path, 1, false), path); rerr != nil {
			return false, errors.Join(err, rerr)
		}
		return false, fmt.Errorf("reopen the log of container %s: %w", id, err)
	}
	if r.Compress && r.MaxFiles > 2 {
		if err := compress(rotatedName(path, 2, false)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return true, err
		}
	}
	return true, nil
}

// RotatedFiles lists path's rotated files that exist, newest first.
func (r *Rotator) RotatedFiles(path string) []string {
	var out []string
	for i := 1; i < r.MaxFiles; i++ {
		for _, gz := range []bool{false, true} {
			if _, err := os.Stat(rotatedName(path, i, gz)); err == nil {
				out = append(out, rotatedName(path, i, gz))
			}
		}
	}
	return out
}

func rotatedName(path string, i int, gz bool) string {
	name := path + "." + strconv.Itoa(i)
	if gz {
		name += ".gz"
	}
	return name
}

// compress replaces name by name.gz, written aside and renamed so a crash leaves one or the other.
func compress(name string) error {
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := name + ".gz.tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	err = errors.Join(err, zw.Close(), out.Close())
	if err == nil {
		err = os.Rename(tmp, name+".gz")
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(name)
}
