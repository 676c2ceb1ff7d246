package localpathdirs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/kubelet/volume"
	"github.com/skiff-dev/skiff/internal/localpath"
)

// FinalizerPVProtection is the PV protection controller's finalizer: while it is there the PV may
// still be in use.
const FinalizerPVProtection = "kubernetes.io/pv-protection"

// RootFor is where a node agent with data dir dataDir keeps local-path volumes.
func RootFor(dataDir string) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	return filepath.Join(abs, "storage", "local-path"), nil
}

// dirMode lets any user of a pod write into its volume, as local-path provisioners do: the pod
// runs with whatever uid its image says, and the directory is the pod's alone.
const dirMode = 0o777

// Dirs is the set of volume directories under one root. It holds no state besides the root, so
// the plugin that mounts volumes and the controller that follows PVs share one.
type Dirs struct {
	root string
}

// NewDirs creates root (and its parents) when missing.
func NewDirs(root string) (*Dirs, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("localpath: root %q is not absolute", root)
	}
	root = filepath.Clean(root)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("localpath: %w", err)
	}
	return &Dirs{root: root}, nil
}

// Root is the directory every volume of the node lives directly under.
func (d *Dirs) Root() string { return d.root }

// Owns reports whether pv is a local-path volume for node (by its label) and, if so, the
// directory it names, which must be a direct child of the root. ok=false with a nil error means
// the PV is none of this node's business; an error means it claims to be but names a path this
// node refuses to manage.
func (d *Dirs) Owns(pv *corev1.PersistentVolume, node string) (dir string, ok bool, err error) {
	if pv == nil || pv.Labels[localpath.NodeLabel] != node || node == "" {
		return "", false, nil
	}
	if pv.Spec.Local == nil {
		return "", false, fmt.Errorf("PV %s is labelled %s=%s but is not a local volume", pv.Name, localpath.NodeLabel, node)
	}
	p := pv.Spec.Local.Path
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return "", false, fmt.Errorf("PV %s: path %q is not a clean absolute path", pv.Name, p)
	}
	base := filepath.Base(p)
	if filepath.Dir(p) != d.root || base == "." || base == ".." || base == "/" {
		return "", false, fmt.Errorf("PV %s: path %q is not directly under this node's local-path root %s", pv.Name, p, d.root)
	}
	return p, true, nil
}

// Ensure creates dir (a path Owns returned) when it is missing. An existing directory keeps
// its mode and contents; anything else in its place is an error.
func (d *Dirs) Ensure(dir string) error {
	if filepath.Dir(dir) != d.root {
		return fmt.Errorf("localpath: %s is not directly under %s", dir, d.root)
	}
	info, err := os.Lstat(dir)
	switch {
	case err == nil && info.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("localpath: %s exists and is not a directory", dir)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	// Mkdir honours the umask; the volume's mode must not depend on the agent's.
	return os.Chmod(dir, dirMode)
}

// Remove deletes dir (a path Owns returned) with everything in it; a missing one is fine. It
// refuses while anything below dir is mounted.
func (d *Dirs) Remove(dir string) error {
	if filepath.Dir(dir) != d.root {
		return fmt.Errorf("localpath: %s is not directly under %s", dir, d.root)
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return volume.RemoveAllNoMounts(dir)
}

// cleanupState says what the agent may do with a PV on its way out.
type cleanupState int

const (
	cleanupNotDeleting cleanupState = iota // not being deleted: keep the directory
	cleanupWait                            // being deleted, but still protected or Bound
	cleanupNothing                         // being deleted, our finalizer already gone
	cleanupRemove                          // remove the directory, then the finalizer
	cleanupKeep                            // keep the directory (Retain), drop the finalizer
)

// cleanupFor decides. Data goes only with reclaim policy Delete: an administrator who deletes a
// Retain volume has said the data outlives the PV (upstream's meaning of Retain).
func cleanupFor(pv *corev1.PersistentVolume) cleanupState {
	switch {
	case pv.DeletionTimestamp == nil:
		return cleanupNotDeleting
	case !slices.Contains(pv.Finalizers, localpath.CleanupFinalizer):
		return cleanupNothing
	case slices.Contains(pv.Finalizers, FinalizerPVProtection) || pv.Status.Phase == corev1.VolumeBound:
		return cleanupWait
	case pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete:
		return cleanupRemove
	default:
		return cleanupKeep
	}
}
