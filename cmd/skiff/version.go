package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/version"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print skiff's version and the Kubernetes API version it serves",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			info := version.Info()
			fmt.Fprintf(cmd.OutOrStdout(), "skiff %s (commit %s, built %s, %s)\nKubernetes API: %s (%s)\n",
				version.Version, orUnknown(info.GitCommit), info.BuildDate, info.GoVersion, version.KubernetesVersion, info.GitVersion)
		},
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
