package image

import (
	"fmt"
	"regexp"
	"strings"
)

// Reference is an image name normalised the way docker and the kubelet do it, so that "nginx",
// "docker.io/library/nginx:latest" and "index.docker.io/library/nginx" all name one image.
type Reference struct {
	// Domain is the registry host[:port]; Docker Hub is always "docker.io".
	Domain string
	// Path is the repository path inside the registry ("library/nginx").
	Path string
	// Tag is empty only when the reference names a digest and no tag.
	Tag string
	// Digest is "algorithm:hex" when the reference pins one.
	Digest string
}

const (
	dockerHubDomain = "docker.io"
	defaultTag      = "latest"
)

var (
	// Path components as the distribution spec allows them.
	pathComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagRE           = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestRE        = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$`)
	domainRE        = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:.]+\](?::[0-9]+)?$`)
)

// ParseReference normalises an image reference as docker does: a first component with no "." or
// ":" (and not "localhost") is a Docker Hub repository, single-component Hub names live under
// "library/", and a reference with neither tag nor digest means ":latest".
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("%w: empty image reference", ErrInvalidReference)
	}
	var r Reference
	rest := s
	if i := strings.Index(rest, "@"); i >= 0 {
		r.Digest = rest[i+1:]
		rest = rest[:i]
		if !digestRE.MatchString(r.Digest) {
			return Reference{}, fmt.Errorf("%w: %q: bad digest %q", ErrInvalidReference, s, r.Digest)
		}
	}
	// The tag separator is the last ":" after the last "/"; an earlier ":" is a registry port.
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		r.Tag = rest[i+1:]
		rest = rest[:i]
		if !tagRE.MatchString(r.Tag) {
			return Reference{}, fmt.Errorf("%w: %q: bad tag %q", ErrInvalidReference, s, r.Tag)
		}
	}
	domain, path := dockerHubDomain, rest
	if i := strings.Index(rest, "/"); i >= 0 {
		first := rest[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			domain, path = first, rest[i+1:]
		}
	}
	if domain == "index.docker.io" || domain == "registry-1.docker.io" {
		domain = dockerHubDomain
	}
	if !domainRE.MatchString(domain) {
		return Reference{}, fmt.Errorf("%w: %q: bad registry %q", ErrInvalidReference, s, domain)
	}
	if domain == dockerHubDomain && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if path == "" || len(path) > 255 {
		return Reference{}, fmt.Errorf("%w: %q: bad repository name", ErrInvalidReference, s)
	}
	for _, c := range strings.Split(path, "/") {
		if !pathComponentRE.MatchString(c) {
			return Reference{}, fmt.Errorf("%w: %q: bad repository component %q (must be lowercase)", ErrInvalidReference, s, c)
		}
	}
	r.Domain, r.Path = domain, path
	if r.Tag == "" && r.Digest == "" {
		r.Tag = defaultTag
	}
	return r, nil
}

// Repository is the fully qualified repository name, "docker.io/library/nginx".
func (r Reference) Repository() string { return r.Domain + "/" + r.Path }

// String is the canonical form: "repo:tag", "repo@digest" or "repo:tag@digest".
func (r Reference) String() string {
	s := r.Repository()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Familiar is the short form docker prints ("nginx:1.27", "myorg/app:v1"), for humans only.
func (r Reference) Familiar() string {
	repo := r.Repository()
	if r.Domain == dockerHubDomain {
		repo = strings.TrimPrefix(r.Path, "library/")
	}
	s := repo
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// storeKey is the name under which the index records this reference: a digest pins content, so
// it wins over the tag (a tag beside a digest is informational, as in docker).
func (r Reference) storeKey() string {
	if r.Digest != "" {
		return r.Repository() + "@" + r.Digest
	}
	return r.Repository() + ":" + r.Tag
}
