package image

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PullOptions are per-pull settings.
type PullOptions struct {
	// PullSecrets are the contents of imagePullSecrets: `.dockerconfigjson` or `.dockercfg`
	// documents. Credentials whose key matches the registry (or mirror) host are tried in order
	// of specificity; with none, the pull is anonymous.
	PullSecrets [][]byte
}

type platform struct{ os, arch, variant string }

func parsePlatform(s string) (platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return platform{}, fmt.Errorf("bad platform %q: want os/arch[/variant]", s)
	}
	p := platform{os: parts[0], arch: parts[1]}
	if len(parts) == 3 {
		p.variant = parts[2]
	}
	return p, nil
}

func (p platform) v1() v1.Platform {
	return v1.Platform{OS: p.os, Architecture: p.arch, Variant: p.variant}
}

func (p platform) String() string {
	if p.variant != "" {
		return p.os + "/" + p.arch + "/" + p.variant
	}
	return p.os + "/" + p.arch
}

// endpoint is one place an image can be fetched from: a mirror or the registry itself.
type endpoint struct {
	host     string // host[:port] to dial and to look credentials up by
	prefix   string // repository path prefix a mirror serves the registry under
	insecure bool
}

// endpoints lists where to look for ref: its mirrors in configured order, then the registry.
func (s *Store) endpoints(ref Reference) ([]endpoint, error) {
	var eps []endpoint
	for _, m := range s.cfg.RegistryMirrors[ref.Domain] {
		u, err := url.Parse(m)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("registry mirror %q for %s: want a URL like http://host:port", m, ref.Domain)
		}
		eps = append(eps, endpoint{
			host:     u.Host,
			prefix:   strings.Trim(u.Path, "/"),
			insecure: u.Scheme == "http" || slices.Contains(s.cfg.InsecureRegistries, u.Host),
		})
	}
	eps = append(eps, endpoint{host: ref.Domain, insecure: slices.Contains(s.cfg.InsecureRegistries, ref.Domain)})
	return eps, nil
}

// Pull fetches ref from its mirrors or registry and stores it, reusing layers already unpacked.
// Errors wrap ErrNotFound, ErrUnauthorized, ErrNetwork or ErrInvalidImage.
func (s *Store) Pull(ctx context.Context, refStr string, opts PullOptions) (Image, error) {
	ref, err := ParseReference(refStr)
	if err != nil {
		return Image{}, err
	}
	ring, err := parsePullSecrets(opts.PullSecrets)
	if err != nil {
		return Image{}, err
	}
	eps, err := s.endpoints(ref)
	if err != nil {
		return Image{}, err
	}
	var mirrorErrs []string
	for i, ep := range eps {
		src, digest, err := s.fetch(ctx, ep, ref, ring)
		if err == nil {
			names := []string{ref.Repository() + "@" + digest}
			if ref.Tag != "" && ref.Digest == "" {
				names = append(names, ref.storeKey())
			}
			return s.add(ctx, src, names)
		}
		if ctx.Err() != nil || i == len(eps)-1 {
			if len(mirrorErrs) > 0 {
				// Keep the registry's category, but say what the mirrors answered.
				return Image{}, fmt.Errorf("%w (mirrors: %s)", err, strings.Join(mirrorErrs, "; "))
			}
			return Image{}, err
		}
		mirrorErrs = append(mirrorErrs, fmt.Sprintf("%s: %v", ep.host, err))
	}
	panic("unreachable")
}

// fetch resolves ref at one endpoint to the image for this node's platform, trying each
// matching credential until one is accepted.
func (s *Store) fetch(ctx context.Context, ep endpoint, ref Reference, ring keyring) (imageSource, string, error) {
	var nopts []name.Option
	if ep.insecure {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(ep.host, nopts...)
	if err != nil {
		return imageSource{}, "", fmt.Errorf("%w: %w", ErrInvalidReference, err)
	}
	repo := reg.Repo(path.Join(ep.prefix, ref.Path))
	var nref name.Reference = repo.Tag(ref.Tag)
	if ref.Digest != "" {
		nref = repo.Digest(ref.Digest)
	}
	auths := []authn.Authenticator{authn.Anonymous}
	if creds := ring.lookup(ep.host, ref.Path); len(creds) > 0 {
		auths = auths[:0]
		for _, c := range creds {
			auths = append(auths, authn.FromConfig(c))
		}
	}
	var lastErr error
	for _, a := range auths {
		src, digest, err := s.fetchWith(ctx, nref, ep.insecure, a)
		if err == nil {
			return src, digest, nil
		}
		lastErr = err
		if !errors.Is(err, ErrUnauthorized) {
			break
		}
	}
	return imageSource{}, "", lastErr
}

func (s *Store) fetchWith(ctx context.Context, nref name.Reference, insecure bool, auth authn.Authenticator) (imageSource, string, error) {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(auth),
		remote.WithPlatform(s.platform.v1()),
		remote.WithTransport(transportFor(insecure)),
		remote.WithUserAgent("skiff"),
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 3, Jitter: 0.1, Steps: 3}),
	}
	desc, err := remote.Get(nref, opts...)
	if err != nil {
		return imageSource{}, "", classifyRemote(nref.String(), err)
	}
	src := imageSource{blobs: map[string][]byte{}}
	// The digest a user pulled by (the index's, for a multi-platform image) is the RepoDigest.
	top := desc.Digest.String()
	if desc.MediaType.IsIndex() {
		src.blobs[top] = desc.Manifest
	}
	img, err := desc.Image()
	if err != nil {
		if strings.Contains(err.Error(), "no child with platform") {
			return imageSource{}, "", fmt.Errorf("pulling %s: %w: no manifest for platform %s: %w", nref, ErrNotFound, s.platform, err)
		}
		return imageSource{}, "", classifyRemote(nref.String(), err)
	}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return imageSource{}, "", classifyRemote(nref.String(), err)
	}
	src.blobs[sha256Digest(rawManifest)] = rawManifest
	if src.rawConfig, err = img.RawConfigFile(); err != nil {
		return imageSource{}, "", classifyRemote(nref.String(), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return imageSource{}, "", classifyRemote(nref.String(), err)
	}
	if got := sha256Digest(src.rawConfig); got != m.Config.Digest.String() {
		return imageSource{}, "", fmt.Errorf("%w: config is %s, manifest says %s", ErrInvalidImage, got, m.Config.Digest)
	}
	layers, err := img.Layers()
	if err != nil {
		return imageSource{}, "", classifyRemote(nref.String(), err)
	}
	for _, l := range layers {
		l := l
		src.layers = append(src.layers, layerSource{open: func() (io.ReadCloser, error) {
			rc, err := l.Uncompressed()
			if err != nil {
				return nil, classifyRemote(nref.String(), err)
			}
			return rc, nil
		}})
	}
	return src, top, nil
}

var insecureTransport = func() http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only for InsecureRegistries
	return t
}()

func transportFor(insecure bool) http.RoundTripper {
	if insecure {
		return insecureTransport
	}
	return remote.DefaultTransport
}
