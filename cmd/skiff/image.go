package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/runtime/image"
)

// newImageCommand manages a node's image store by hand. It opens the same store as the node
// agent; the store's flocks keep the two from corrupting each other while the agent runs.
func newImageCommand() *cobra.Command {
	var (
		dataDir string
		reg     registryFlags
	)
	open := func() (*image.Store, error) {
		mirrors, err := reg.mirrorMap()
		if err != nil {
			return nil, err
		}
		return image.Open(image.Config{Root: imageRoot(dataDir), RegistryMirrors: mirrors, InsecureRegistries: reg.insecure})
	}
	cmd := &cobra.Command{
		Use:   "image",
		Short: "List, pull, import and remove images in a node's image store",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&dataDir, "data-dir", "/var/lib/skiff", "the --data-dir of the node's skiff server (images in DATA_DIR/agent/images) or skiff kubelet (DATA_DIR/images)")

	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			imgs, err := s.List()
			if err != nil {
				return err
			}
			return printImages(cmd.OutOrStdout(), imgs)
		},
	}

	var secretFiles []string
	pull := &cobra.Command{
		Use:   "pull IMAGE...",
		Short: "Pull images from their registry (or its mirrors)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			var opts image.PullOptions
			for _, f := range secretFiles {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				opts.PullSecrets = append(opts.PullSecrets, b)
			}
			for _, ref := range args {
				img, err := s.Pull(cmd.Context(), ref, opts)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", ref, img.ID)
			}
			return nil
		},
	}
	pull.Flags().StringArrayVar(&secretFiles, "auth-file", nil, "docker config JSON with registry credentials (.dockerconfigjson or .dockercfg form); repeatable")
	reg.add(pull.Flags())

	rm := &cobra.Command{
		Use:     "rm IMAGE...",
		Aliases: []string{"remove", "rmi"},
		Short:   "Remove images by name or ID (and the layers no other image uses)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			for _, ref := range args {
				if err := s.Remove(ref); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted: %s\n", ref)
			}
			return nil
		},
	}

	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a `docker save` tarball or an OCI image layout (directory or tar)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			imgs, err := s.Import(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, img := range imgs {
				fmt.Fprintf(cmd.OutOrStdout(), "Imported %s %s\n", img.ID, strings.Join(img.RepoTags, " "))
			}
			return nil
		},
	}

	inspect := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Print an image's record and config as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			img, err := s.Get(args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(img)
		},
	}

	cmd.AddCommand(ls, pull, rm, imp, inspect)
	return cmd
}

// printImages prints one row per name, as `crictl images` does; an image without tags shows
// <none>.
func printImages(w io.Writer, imgs []image.Image) error {
	type row struct{ repo, tag, id, size string }
	var rows []row
	for _, img := range imgs {
		id := strings.TrimPrefix(img.ID, "sha256:")
		if len(id) > 13 {
			id = id[:13]
		}
		size := humanSize(img.Size)
		if len(img.RepoTags) == 0 {
			repo := "<none>"
			if len(img.RepoDigests) > 0 {
				repo, _, _ = strings.Cut(img.RepoDigests[0], "@")
			}
			rows = append(rows, row{repo, "<none>", id, size})
		}
		for _, t := range img.RepoTags {
			i := strings.LastIndex(t, ":")
			rows = append(rows, row{t[:i], t[i+1:], id, size})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].repo != rows[j].repo {
			return rows[i].repo < rows[j].repo
		}
		return rows[i].tag < rows[j].tag
	})
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tSIZE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.repo, r.tag, r.id, r.size)
	}
	return tw.Flush()
}

// humanSize formats bytes as docker does: decimal units, about three significant digits.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}

// imageRoot finds the image store of the node started with --data-dir dir: `skiff server` keeps its
// agent's data in dir/agent, `skiff kubelet` directly in dir.
func imageRoot(dir string) string {
	if fi, err := os.Stat(filepath.Join(dir, "agent")); err == nil && fi.IsDir() {
		return filepath.Join(dir, "agent", "images")
	}
	return filepath.Join(dir, "images")
}
