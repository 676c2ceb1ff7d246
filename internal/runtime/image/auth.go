package image

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// credential is one entry of a docker config file, keyed as the kubelet keys imagePullSecrets:
// a host (glob allowed, "*.example.com") and an optional repository path prefix.
type credential struct {
	host   string
	prefix string
	auth   authn.AuthConfig
}

// keyring holds the credentials of every pull secret given to one pull.
type keyring []credential

// parsePullSecrets reads the contents of kubernetes.io/dockerconfigjson (`{"auths":{...}}`) and
// kubernetes.io/dockercfg (`{...}`) secrets; each secret may be either form.
func parsePullSecrets(secrets [][]byte) (keyring, error) {
	var ring keyring
	for i, raw := range secrets {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("pull secret %d: not docker config JSON: %w", i, err)
		}
		entries := probe
		if auths, ok := probe["auths"]; ok {
			entries = nil
			if err := json.Unmarshal(auths, &entries); err != nil {
				return nil, fmt.Errorf("pull secret %d: bad \"auths\": %w", i, err)
			}
		}
		for key, val := range entries {
			var ac authn.AuthConfig
			if err := json.Unmarshal(val, &ac); err != nil {
				return nil, fmt.Errorf("pull secret %d: entry %q: %w", i, key, err)
			}
			host, prefix := splitCredentialKey(key)
			ring = append(ring, credential{host: host, prefix: prefix, auth: ac})
		}
	}
	// Most specific first, so a repository-scoped secret beats a registry-wide one.
	sort.SliceStable(ring, func(a, b int) bool {
		if len(ring[a].prefix) != len(ring[b].prefix) {
			return len(ring[a].prefix) > len(ring[b].prefix)
		}
		return !strings.Contains(ring[a].host, "*") && strings.Contains(ring[b].host, "*")
	})
	return ring, nil
}

// splitCredentialKey turns "https://index.docker.io/v1/" or "reg.example.com:5000/team" into a
// host and a path prefix, folding Docker Hub's historic names into "docker.io".
func splitCredentialKey(key string) (host, prefix string) {
	k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	k = strings.TrimSuffix(k, "/")
	host, prefix, _ = strings.Cut(k, "/")
	host = strings.ToLower(host)
	switch host {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		host = dockerHubDomain
	}
	// "/v1" and "/v2" are API versions written by old `docker login`, not repository paths.
	if prefix == "v1" || prefix == "v2" {
		prefix = ""
	}
	return host, strings.Trim(prefix, "/")
}

// lookup returns the credentials that apply to a repository, best match first.
func (k keyring) lookup(domain, repoPath string) []authn.AuthConfig {
	var out []authn.AuthConfig
	for _, c := range k {
		if ok, _ := path.Match(c.host, strings.ToLower(domain)); !ok {
			continue
		}
		if c.prefix != "" && repoPath != c.prefix && !strings.HasPrefix(repoPath, c.prefix+"/") {
			continue
		}
		out = append(out, c.auth)
	}
	return out
}
