// Command skiff is the one binary of skiff: every component is a subcommand.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	// The container runtime's helpers (shim, pause, libcontainer's init) run from this binary
	// before main; see internal/runtime/libcontainer/shim.
	_ "github.com/skiff-dev/skiff/internal/runtime/libcontainer/shim"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "skiff: a Kubernetes-compatible cluster in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand(), newServerCommand(), newKubectlCommand(), newImageCommand(), newKubeletCommand(),
		newSchedulerCommand(), newControllerManagerCommand(), newProxyCommand(), newDNSCommand())
	return root
}
