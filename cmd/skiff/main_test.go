package main

import (
	"testing"

	"github.com/spf13/cobra"
)

// TestCommandsBuild: every subcommand's flag set builds (a flag defined twice panics at start-up,
// before any command runs) and parses its own defaults.
func TestCommandsBuild(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func() *cobra.Command
	}{
		{"version", newVersionCommand}, {"server", newServerCommand}, {"kubectl", newKubectlCommand},
		{"image", newImageCommand}, {"kubelet", newKubeletCommand}, {"scheduler", newSchedulerCommand},
		{"controller-manager", newControllerManagerCommand}, {"proxy", newProxyCommand}, {"dns", newDNSCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cmd *cobra.Command
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("building the %s command panicked: %v", tc.name, r)
					}
				}()
				cmd = tc.new()
			}()
			if err := cmd.ParseFlags(nil); err != nil {
				t.Errorf("%s: parsing no flags: %v", tc.name, err)
			}
		})
	}
}
