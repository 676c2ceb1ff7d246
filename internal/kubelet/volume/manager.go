package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/podresources"
)

// Directory names of the built-in volume kinds under <pod>/volumes, as upstream names them.
const (
	PluginEmptyDir    = "kubernetes.io~empty-dir"
	PluginConfigMap   = "kubernetes.io~configmap"
	PluginSecret      = "kubernetes.io~secret"
	PluginDownwardAPI = "kubernetes.io~downward-api"
	PluginProjected   = "kubernetes.io~projected"
)

// Plugin sets up a volume kind this package does not own (persistentVolumeClaim, CSI, ...). Its directory is <pod>/volumes/<Name()>/<volume>; TearDown is called for every
// such directory found on disk, also after a crash, before the manager unmounts what is left
// below the pod and deletes it.
type Plugin interface {
	// Name is the plugin's directory name, e.g. "kubernetes.io~csi".
	Name() string
	// Handles reports whether the plugin owns v.
	Handles(v *corev1.Volume) bool
	// SetUp makes the volume available and returns the host path containers bind; dir exists.
	// It must be idempotent.
	SetUp(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, dir string) (hostPath string, err error)
	// TearDown releases what SetUp acquired for the volume in dir; repeatable.
	TearDown(ctx context.Context, podUID types.UID, volumeName, dir string) error
}

// Config says where a node keeps pod volumes and where their contents come from.
type Config struct {
	// DataDir is the node's data directory; volumes live under DataDir/pods.
	DataDir string
	// Sources backs configMap and secret volumes (and their projected forms).
	Sources Sources
	// Allocatable returns the node's allocatable resources: the default size of memory-backed
	// volumes and the value of an unset limit in resourceFieldRef. Nil means unknown.
	Allocatable func() corev1.ResourceList
	// Plugins set up volume kinds beyond the built-in ones.
	Plugins []Plugin
	Logger  *slog.Logger
}

// Manager sets up and tears down pod volumes. Its methods are safe for concurrent use; calls
// for one pod are serialised.
type Manager struct {
	podsDir string
	cfg     Config
	log     *slog.Logger

	mu   sync.Mutex
	pods map[types.UID]*sync.Mutex
}

// New prepares DataDir/pods.
func New(cfg Config) (*Manager, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("volume: DataDir is required")
	}
	root, err := realDir(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("volume: data dir: %w", err)
	}
	podsDir := filepath.Join(root, "pods")
	if err := os.MkdirAll(podsDir, 0o750); err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Manager{podsDir: podsDir, cfg: cfg, log: log.With("component", "volume"), pods: map[types.UID]*sync.Mutex{}}, nil
}

// PodDir is <data-dir>/pods/<uid>, which TearDown removes as a whole.
func (m *Manager) PodDir(uid types.UID) string { return filepath.Join(m.podsDir, string(uid)) }

func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.podsDir, string(uid), "volumes", plugin, name)
}

func (m *Manager) lockPod(uid types.UID) func() {
	m.mu.Lock()
	l, ok := m.pods[uid]
	if !ok {
		l = &sync.Mutex{}
		m.pods[uid] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// validName refuses names that would step out of the directory they are joined to. The API
// validates them already; the host filesystem must not depend on that.
func validName(kind, s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("invalid %s %q", kind, s)
	}
	return nil
}

// SetUp makes every volume of pod available on the node and returns its host path by volume
// name. It is idempotent: a second call changes nothing that is already right, and rewrites
// projections whose sources changed. When some volumes fail, the others are still set up and
// returned, and the error names each failure; the pod's containers must not start until a later
// call succeeds.
func (m *Manager) SetUp(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	if err := validName("pod UID", string(pod.UID)); err != nil {
		return nil, err
	}
	defer m.lockPod(pod.UID)()
	paths := map[string]string{}
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, err := m.setUpVolume(ctx, pod, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
			continue
		}
		paths[v.Name] = p
	}
	return paths, errors.Join(errs...)
}

// Update re-projects the configMap, secret, downwardAPI and projected volumes of pod that are
// set up, so that changed sources (or, for downwardAPI, a changed pod) show through the same
// paths. Each volume switches atomically; an unchanged one is not touched. Volumes not set up
// are skipped, so that a resync racing with TearDown cannot bring a pod's directories back.
func (m *Manager) Update(ctx context.Context, pod *corev1.Pod) error {
	if err := validName("pod UID", string(pod.UID)); err != nil {
		return err
	}
	defer m.lockPod(pod.UID)()
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		plugin := builtinPlugin(v)
		switch plugin {
		case PluginConfigMap, PluginSecret, PluginDownwardAPI, PluginProjected:
		default:
			continue
		}
		if _, err := os.Lstat(filepath.Join(m.volumeDir(pod.UID, plugin, v.Name), dataLink)); err != nil {
			continue
		}
		if _, err := m.setUpVolume(ctx, pod, v); err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
		}
	}
	return errors.Join(errs...)
}

// builtinPlugin names the directory of a built-in volume kind, "" for others.
func builtinPlugin(v *corev1.Volume) string {
	switch {
	case v.EmptyDir != nil:
		return PluginEmptyDir
	case v.ConfigMap != nil:
		return PluginConfigMap
	case v.Secret != nil:
		return PluginSecret
	case v.DownwardAPI != nil:
		return PluginDownwardAPI
	case v.Projected != nil:
		return PluginProjected
	}
	return ""
}

// readOnlyToPod reports the volumes whose mounts are always read-only: the kinds whose contents
// belong to the API (a write would be lost at the next update anyway), and claims the pod
// references with readOnly: true, which upstream mounts read-only into every container.
func readOnlyToPod(v *corev1.Volume) bool {
	return v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil ||
		v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ReadOnly
}

func (m *Manager) allocatable() corev1.ResourceList {
	if m.cfg.Allocatable == nil {
		return nil
	}
	return m.cfg.Allocatable()
}

func (m *Manager) setUpVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (string, error) {
	if err := validName("volume name", v.Name); err != nil {
		return "", err
	}
	var fsGroup *int64
	if pod.Spec.SecurityContext != nil {
		fsGroup = pod.Spec.SecurityContext.FSGroup
	}
	var (
		payload map[string]fileProjection
		err     error
	)
	switch {
	case v.HostPath != nil:
		return v.HostPath.Path, checkHostPath(v.HostPath)

	case v.EmptyDir != nil:
		dir := m.volumeDir(pod.UID, PluginEmptyDir, v.Name)
		switch v.EmptyDir.Medium {
		case corev1.StorageMediumDefault:
			return dir, ensureDir(dir, 0o777)
		case corev1.StorageMediumMemory:
			return dir, m.ensureTmpfs(pod, dir, v.EmptyDir.SizeLimit)
		default:
			return "", fmt.Errorf("emptyDir medium %q is not supported", v.EmptyDir.Medium)
		}

	case v.ConfigMap != nil:
		if payload, err = configMapPayload(ctx, m.cfg.Sources, pod, v.ConfigMap); err != nil {
			return "", err
		}
		dir := m.volumeDir(pod.UID, PluginConfigMap, v.Name)
		if err := ensureDir(dir, 0o777); err != nil {
			return "", err
		}
		return dir, m.project(pod, v.Name, dir, payload, fsGroup)

	case v.Secret != nil:
		payload, err = secretPayload(ctx, m.cfg.Sources, pod, v.Secret)
	case v.DownwardAPI != nil:
		payload = map[string]fileProjection{}
		err = downwardAPIPayload(pod, v.DownwardAPI.Items, modeOr(v.DownwardAPI.DefaultMode, defaultFileMode), m.allocatable(), payload)
	case v.Projected != nil:
		payload, err = projectedPayload(ctx, m.cfg.Sources, pod, v.Projected, m.allocatable())

	default:
		for _, p := range m.cfg.Plugins {
			if p.Handles(v) {
				if err := validName("plugin name", p.Name()); err != nil {
					return "", err
				}
				dir := m.volumeDir(pod.UID, p.Name(), v.Name)
				if err := os.MkdirAll(dir, 0o750); err != nil {
					return "", err
				}
				return p.SetUp(ctx, pod, v, dir)
			}
		}
		if v.PersistentVolumeClaim != nil {
			return "", errors.New("persistentVolumeClaim volumes are not supported yet: they come with the storage issue")
		}
		return "", errors.New("volume type not supported")
	}
	if err != nil {
		return "", err
	}
	// Secret-bearing kinds (and downwardAPI, as upstream) live on tmpfs: their bytes never
	// reach a disk.
	dir := m.volumeDir(pod.UID, builtinPlugin(v), v.Name)
	if err := m.ensureTmpfs(pod, dir, nil); err != nil {
		return "", err
	}
	return dir, m.project(pod, v.Name, dir, payload, fsGroup)
}

func (m *Manager) project(pod *corev1.Pod, name, dir string, payload map[string]fileProjection, fsGroup *int64) error {
	changed, err := writeAtomic(dir, payload, fsGroup)
	if changed {
		m.log.Debug("projected volume contents", "pod", pod.Namespace+"/"+pod.Name, "volume", name, "files", len(payload))
	}
	return err
}

// ensureDir creates dir with mode, ignoring the umask; an existing dir keeps whatever mode the
// pod gave it since.
func ensureDir(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return err
	}
	err := os.Mkdir(dir, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// ensureTmpfs mounts a tmpfs on dir unless one is there already.
func (m *Manager) ensureTmpfs(pod *corev1.Pod, dir string, sizeLimit *resource.Quantity) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	fsType, err := mountedFSType(dir)
	if err != nil {
		return err
	}
	switch fsType {
	case "tmpfs":
		return nil
	case "":
	default:
		return fmt.Errorf("%s already has a %s mount", dir, fsType)
	}
	opts := "mode=0777"
	if size := m.tmpfsSize(pod, sizeLimit); size > 0 {
		opts += ",size=" + strconv.FormatInt(size, 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// tmpfsSize bounds a memory-backed volume by the least of the node's allocatable memory, the
// pod's memory limit (when every container has one, as only then is the pod's cgroup bounded)
// and the volume's sizeLimit: a tmpfs larger than what the pod may use only invites an OOM kill.
// 0 means no bound is known and leaves the kernel's default.
func (m *Manager) tmpfsSize(pod *corev1.Pod, sizeLimit *resource.Quantity) int64 {
	var size int64
	lower := func(v int64) {
		if v > 0 && (size == 0 || v < size) {
			size = v
		}
	}
	if q, ok := m.allocatable()[corev1.ResourceMemory]; ok {
		lower(q.Value())
	}
	if everyContainerLimitsMemory(pod) {
		if q, ok := podresources.Limits(pod)[corev1.ResourceMemory]; ok {
			lower(q.Value())
		}
	}
	if sizeLimit != nil {
		lower(sizeLimit.Value())
	}
	return size
}

func everyContainerLimitsMemory(pod *corev1.Pod) bool {
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	if len(all) == 0 {
		return false
	}
	for _, c := range all {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
			return false
		}
	}
	return true
}

// TearDown removes everything the node keeps for the pod: it lets plugins release their
// volumes, unmounts every mount below <data-dir>/pods/<uid> (tmpfs volumes, pinned subPaths),
// then deletes the directory. It works from what is on disk, so it also cleans up after a crash,
// and it is safe to call again. Call it only once no container of the pod runs.
func (m *Manager) TearDown(ctx context.Context, uid types.UID) error {
	if err := validName("pod UID", string(uid)); err != nil {
		return err
	}
	unlock := m.lockPod(uid)
	defer func() {
		unlock()
		m.mu.Lock()
		delete(m.pods, uid)
		m.mu.Unlock()
	}()
	podDir := m.PodDir(uid)
	if _, err := os.Lstat(podDir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var errs []error
	for _, p := range m.cfg.Plugins {
		pluginDir := filepath.Join(podDir, "volumes", p.Name())
		entries, err := os.ReadDir(pluginDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		for _, e := range entries {
			if err := p.TearDown(ctx, uid, e.Name(), filepath.Join(pluginDir, e.Name())); err != nil {
				errs = append(errs, fmt.Errorf("volume %q: %w", e.Name(), err))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := unmountAllUnder(podDir); err != nil {
		return err
	}
	if err := removeAllNoMounts(podDir); err != nil {
		return err
	}
	m.log.Debug("tore down pod volumes", "podUID", uid)
	return nil
}

// PodUIDs lists the pods that have a directory on the node, so that the kubelet can tear down
// those it no longer runs, for example after a restart.
func (m *Manager) PodUIDs() ([]types.UID, error) {
	entries, err := os.ReadDir(m.podsDir)
	if err != nil {
		return nil, err
	}
	out := make([]types.UID, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, types.UID(e.Name()))
		}
	}
	return out, nil
}
