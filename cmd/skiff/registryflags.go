package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// registryFlags are the image-source settings `skiff image`, `skiff kubelet` and `skiff server`
// share: mirrors tried before a registry (how tests point docker.io at an in-process registry) and
// registries reached without verified TLS.
type registryFlags struct {
	mirrors  []string
	insecure []string
}

func (r *registryFlags) add(fs *pflag.FlagSet) {
	fs.StringArrayVar(&r.mirrors, "registry-mirror", nil, "HOST=URL: try URL before registry HOST (e.g. docker.io=http://127.0.0.1:5000); repeatable")
	fs.StringSliceVar(&r.insecure, "insecure-registry", nil, "registries reached over plain HTTP or unverified TLS")
}

// mirrorMap parses the --registry-mirror values.
func (r *registryFlags) mirrorMap() (map[string][]string, error) {
	var out map[string][]string
	for _, m := range r.mirrors {
		host, url, ok := strings.Cut(m, "=")
		if !ok || host == "" || url == "" {
			return nil, fmt.Errorf("--registry-mirror %q: want HOST=URL", m)
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[host] = append(out[host], url)
	}
	return out, nil
}
