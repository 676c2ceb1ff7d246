package main

import (
	"slices"
	"testing"
)

// TestCommandsBuild builds every subcommand with its flags: pflag panics on a flag defined twice
// (two features adding the same flag to one command), which would otherwise surface only when
// the binary runs.
func TestCommandsBuild(t *testing.T) {
	var names []string
	for _, c := range newRootCommand().Commands() {
		names = append(names, c.Name())
	}
	want := []string{"controller-manager", "dns", "image", "kubectl", "kubelet", "proxy", "scheduler", "server", "version"}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("subcommands %v lack %q", names, w)
		}
	}
}
