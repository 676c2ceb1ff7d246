package kubelet

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/skiff-dev/skiff/internal/kubelet/containerconfig"
	"github.com/skiff-dev/skiff/internal/runtime"
	"github.com/skiff-dev/skiff/internal/runtime/image"
)

// ErrImageNotPresent is what Images.Get wraps for an image the node does not have.
var ErrImageNotPresent = errors.New("image not present")

// ImageInfo is what the agent needs to know of a stored image.
type ImageInfo struct {
	// ID is the config digest; RepoDigest the "repo@sha256:..." status.imageID shows, if known.
	ID         string
	RepoDigest string
	Size       int64
	Config     containerconfig.ImageConfig
}

// Images is the node's image store as the agent uses it; it is also the runtime's RootfsSource.
type Images interface {
	runtime.RootfsSource
	// Get describes a stored image, or wraps ErrImageNotPresent.
	Get(ref string) (ImageInfo, error)
	// Pull fetches ref with the given pull secrets' documents.
	Pull(ctx context.Context, ref string, pullSecrets [][]byte) (ImageInfo, error)
	// RootDirs returns the image's layer dirs, uppermost first, to resolve user names.
	RootDirs(ref string) ([]string, error)
}

// StoreImages adapts the image store to Images.
type StoreImages struct{ Store *image.Store }

func infoOf(img image.Image) ImageInfo {
	info := ImageInfo{ID: img.ID, Size: img.Size, Config: containerconfig.ImageConfig{
		Entrypoint: img.Config.Entrypoint, Cmd: img.Config.Cmd, Env: img.Config.Env,
		WorkingDir: img.Config.WorkingDir, User: img.Config.User,
	}}
	if len(img.RepoDigests) > 0 {
		info.RepoDigest = img.RepoDigests[0]
	}
	return info
}

func (s StoreImages) Get(ref string) (ImageInfo, error) {
	img, err := s.Store.Get(ref)
	if errors.Is(err, image.ErrNotFound) {
		return ImageInfo{}, errors.Join(ErrImageNotPresent, err)
	}
	if err != nil {
		return ImageInfo{}, err
	}
	return infoOf(img), nil
}

func (s StoreImages) Pull(ctx context.Context, ref string, secrets [][]byte) (ImageInfo, error) {
	img, err := s.Store.Pull(ctx, ref, image.PullOptions{PullSecrets: secrets})
	if err != nil {
		return ImageInfo{}, err
	}
	return infoOf(img), nil
}

func (s StoreImages) Mounts(ref string) ([]string, runtime.ImageConfig, error) {
	lower, cfg, err := s.Store.Mounts(ref)
	if err != nil {
		return nil, runtime.ImageConfig{}, err
	}
	img, err := s.Store.Get(ref)
	if err != nil {
		return nil, runtime.ImageConfig{}, err
	}
	return lower, runtime.ImageConfig{
		Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env, WorkingDir: cfg.WorkingDir,
		User: cfg.User, ID: img.ID,
	}, nil
}

func (s StoreImages) RootDirs(ref string) ([]string, error) {
	lower, _, err := s.Store.Mounts(ref)
	return lower, err
}

// layeredAccounts answers user questions from the uppermost layer that has the file, which is
// what the container will see unless a whiteout hides it (rare enough for /etc/passwd).
type layeredAccounts struct{ dirs []string }

func (l layeredAccounts) pick(name string) containerconfig.RootfsAccounts {
	for _, d := range l.dirs {
		if _, err := os.Lstat(filepath.Join(d, name)); err == nil {
			return containerconfig.RootfsAccounts{Root: d}
		}
	}
	return containerconfig.RootfsAccounts{Root: filepath.Join(os.TempDir(), "skiff-no-such-root")}
}

func (l layeredAccounts) User(n string) (containerconfig.Account, bool, error) {
	return l.pick("etc/passwd").User(n)
}

func (l layeredAccounts) Group(n string) (int64, bool, error) { return l.pick("etc/group").Group(n) }

func (l layeredAccounts) MemberOf(u string) ([]int64, error) { return l.pick("etc/group").MemberOf(u) }
