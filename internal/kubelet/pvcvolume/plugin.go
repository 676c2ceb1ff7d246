package pvcvolume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/kubelet/localpathdirs"
	"github.com/skiff-dev/skiff/internal/kubelet/volume"
	"github.com/skiff-dev/skiff/internal/localpath"
)

// PluginName is the directory of claim volumes under <pod>/volumes. It holds only the record of
// the resolution: containers bind the PV's own directory.
const PluginName = "kubernetes.io~persistent-volume-claim"

// recordFile, in a volume's plugin directory, remembers what the claim resolved to.
const recordFile = "volume.json"

// Objects is where claims and volumes are read from. A missing object must be reported as an
// API NotFound error (apierrors.IsNotFound).
type Objects interface {
	GetClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	GetVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
}

// Config is what the plugin needs; all but Logger are required.
type Config struct {
	Objects  Objects
	NodeName string
	// Dirs is the node's local-path root (package localpath).
	Dirs   *localpathdirs.Dirs
	Logger *slog.Logger
}

// Plugin implements volume.Plugin for persistentVolumeClaim volumes.
type Plugin struct {
	cfg Config
	log *slog.Logger
}

var _ volume.Plugin = (*Plugin)(nil)

// New checks cfg.
func New(cfg Config) (*Plugin, error) {
	if cfg.Objects == nil || cfg.NodeName == "" || cfg.Dirs == nil {
		return nil, errors.New("pvcvolume: Objects, NodeName and Dirs are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Plugin{cfg: cfg, log: log.With("component", "pvcvolume", "node", cfg.NodeName)}, nil
}

func (p *Plugin) Name() string { return PluginName }

func (p *Plugin) Handles(v *corev1.Volume) bool { return v.PersistentVolumeClaim != nil }

// ClaimError says that a pod's claim cannot be used (yet): missing, not bound, being deleted, or
// bound to a volume that is missing or not bound back. The pod waits; the agent retries.
type ClaimError struct {
	Volume    string // the pod's volume name
	Namespace string
	Claim     string
	Err       error
}

func (e *ClaimError) Error() string {
	return fmt.Sprintf("error processing PVC %s/%s: %v", e.Namespace, e.Claim, e.Err)
}

func (e *ClaimError) Unwrap() error { return e.Err }

// ClaimErrors collects every ClaimError in err's tree (the volume manager joins one error per
// failed volume).
func ClaimErrors(err error) []*ClaimError {
	var out []*ClaimError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if ce, ok := e.(*ClaimError); ok {
			out = append(out, ce)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// record is what a set-up volume resolved to.
type record struct {
	Claim     string    `json:"claim"`
	ClaimUID  types.UID `json:"claimUID"`
	Volume    string    `json:"volume"`
	Path      string    `json:"path"`
	LocalPath bool      `json:"localPath,omitempty"`
}

// SetUp resolves the claim and returns the directory containers bind. Once it succeeded for a
// pod's volume, later calls return the recorded directory without reading the API.
func (p *Plugin) SetUp(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, dir string) (string, error) {
	claimName := v.PersistentVolumeClaim.ClaimName
	if r, ok := readRecord(dir); ok && r.Claim == claimName {
		if _, err := os.Stat(r.Path); err != nil {
			return "", fmt.Errorf("volume %s of claim %s: %w", r.Volume, claimName, err)
		}
		return r.Path, nil
	}
	claimErr := func(err error) error {
		return &ClaimError{Volume: v.Name, Namespace: pod.Namespace, Claim: claimName, Err: err}
	}
	if claimName == "" {
		return "", claimErr(errors.New("claimName is empty"))
	}
	claim, err := p.cfg.Objects.GetClaim(ctx, pod.Namespace, claimName)
	if apierrors.IsNotFound(err) {
		return "", claimErr(fmt.Errorf("persistentvolumeclaim %q not found", claimName))
	}
	if err != nil {
		return "", claimErr(fmt.Errorf("failed to fetch PVC from API server: %w", err))
	}
	if claim.DeletionTimestamp != nil {
		return "", claimErr(errors.New("can't start pod because PVC is being deleted"))
	}
	if claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName == "" {
		return "", claimErr(errors.New("PVC is not bound"))
	}
	pv, err := p.cfg.Objects.GetVolume(ctx, claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		return "", claimErr(fmt.Errorf("persistentvolume %q not found", claim.Spec.VolumeName))
	}
	if err != nil {
		return "", claimErr(fmt.Errorf("failed to fetch PV %s from API server: %w", claim.Spec.VolumeName, err))
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != claim.Namespace || ref.Name != claim.Name ||
		(ref.UID != "" && ref.UID != claim.UID) {
		return "", claimErr(fmt.Errorf("persistentvolume %q is not bound to this claim", pv.Name))
	}
	if pv.Spec.VolumeMode != nil && *pv.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return "", fmt.Errorf("persistentvolume %q: block volumes are not supported by this node", pv.Name)
	}
	r := record{Claim: claimName, ClaimUID: claim.UID, Volume: pv.Name}
	if r.Path, r.LocalPath, err = p.volumeDir(pv); err != nil {
		return "", fmt.Errorf("persistentvolume %q: %w", pv.Name, err)
	}
	if err := writeRecord(dir, r); err != nil {
		return "", err
	}
	p.log.Info("claim volume set up", "pod", pod.Namespace+"/"+pod.Name, "volume", v.Name,
		"claim", pod.Namespace+"/"+claimName, "pv", pv.Name, "path", r.Path)
	return r.Path, nil
}

// volumeDir makes pv's directory available on this node and returns it.
func (p *Plugin) volumeDir(pv *corev1.PersistentVolume) (string, bool, error) {
	if owner := pv.Labels[localpath.NodeLabel]; owner != "" && owner != p.cfg.NodeName {
		return "", false, fmt.Errorf("the volume lives on node %s, not on %s", owner, p.cfg.NodeName)
	}
	switch {
	case pv.Spec.Local != nil:
		dir, ours, err := p.cfg.Dirs.Owns(pv, p.cfg.NodeName)
		if err != nil {
			return "", false, err
		}
		if ours {
			if pv.DeletionTimestamp != nil {
				return "", false, errors.New("the volume is being deleted")
			}
			// The agent makes the directory when the PV appears; a pod may be faster.
			return dir, true, p.cfg.Dirs.Ensure(dir)
		}
		// A local volume made by hand names storage an administrator prepared: it must be there.
		path := pv.Spec.Local.Path
		if !filepath.IsAbs(path) {
			return "", false, fmt.Errorf("local path %q is not absolute", path)
		}
		info, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return "", false, fmt.Errorf("path %q does not exist", path)
		}
		if err != nil {
			return "", false, err
		}
		if !info.IsDir() {
			return "", false, fmt.Errorf("path %q is not a directory", path)
		}
		return path, false, nil
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, false, volume.CheckHostPath(pv.Spec.HostPath)
	default:
		return "", false, errors.New("volume type not supported by this node (local and hostPath are)")
	}
}

// TearDown forgets the resolution; the volume's data is never touched.
func (p *Plugin) TearDown(_ context.Context, podUID types.UID, volumeName, dir string) error {
	err := os.Remove(filepath.Join(dir, recordFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	p.log.Debug("claim volume torn down", "podUID", podUID, "volume", volumeName)
	return nil
}

func readRecord(dir string) (record, bool) {
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return record{}, false
	}
	var r record
	if json.Unmarshal(b, &r) != nil || r.Path == "" {
		return record{}, false
	}
	return r, true
}

// writeRecord replaces the record atomically: a crash leaves the old one or the new one.
func writeRecord(dir string, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+recordFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, recordFile))
}
