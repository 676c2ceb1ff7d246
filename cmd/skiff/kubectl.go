package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/plugin"
)

// defaultKubeconfig is where `skiff server` writes the admin kubeconfig with default flags.
const defaultKubeconfig = "/var/lib/skiff/admin.kubeconfig"

func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl",
		Short:              "Run kubectl against the cluster (the admin kubeconfig by default)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !hasKubeconfigFlag(args) && os.Getenv("KUBECONFIG") == "" {
				if _, err := os.Stat(defaultKubeconfig); err == nil {
					os.Setenv("KUBECONFIG", defaultKubeconfig)
				}
			}
			kc := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
				PluginHandler: kubectlcmd.NewDefaultPluginHandler(plugin.ValidPluginFilenamePrefixes),
				Arguments:     append([]string{filepath.Base(os.Args[0]) + " kubectl"}, args...),
				ConfigFlags:   genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0),
				IOStreams:     genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
			})
			kc.SetArgs(args)
			os.Exit(cli.Run(kc))
			return nil
		},
	}
}

func hasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--kubeconfig" || strings.HasPrefix(a, "--kubeconfig=") {
			return true
		}
	}
	return false
}
