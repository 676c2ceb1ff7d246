// Command build-test-images builds skiff's own test images (testserver, busybox, nginx) from this
// machine's files and writes them as archives, for `skiff image import` or a registry push by hand.
// Tests do not run it: they call the testimages package, which builds the same images into the
// same cache.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/skiff-dev/skiff/test/images/build"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "build-test-images:", err)
		os.Exit(1)
	}
}

func run() error {
	def, _ := build.DefaultCacheDir()
	out := flag.String("out", def, "directory to write the archives to")
	format := flag.String("format", "docker", "archive format: docker, oci or both")
	only := flag.String("only", "", "comma-separated image names to build (default all: testserver,busybox,nginx)")
	push := flag.String("push", "", "also push each image to this registry host[:port], same repository path and tag")
	flag.Parse()

	var formats []build.Format
	switch *format {
	case "docker":
		formats = []build.Format{build.FormatDocker}
	case "oci":
		formats = []build.Format{build.FormatOCI}
	case "both":
		formats = []build.Format{build.FormatDocker, build.FormatOCI}
	default:
		return fmt.Errorf("unknown -format %q", *format)
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	ctx := context.Background()
	var specs []*build.Spec
	add := func(name string, mk func() (*build.Spec, error)) error {
		if len(want) > 0 && !want[name] {
			return nil
		}
		s, err := mk()
		if err != nil {
			return err
		}
		specs = append(specs, s)
		return nil
	}
	if err := add(build.Testserver, func() (*build.Spec, error) {
		dir, err := build.ModuleDir()
		if err != nil {
			return nil, err
		}
		return build.BuildTestserverSpec(ctx, dir)
	}); err != nil {
		return err
	}
	if err := add(build.Busybox, build.BusyboxSpec); err != nil {
		return err
	}
	if err := add(build.Nginx, build.NginxSpec); err != nil {
		return err
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREF\tDIGEST\tSIZE\tARCHIVE")
	for _, s := range specs {
		b, err := s.Build()
		if err != nil {
			return err
		}
		for _, f := range formats {
			path := filepath.Join(*out, archiveName(b, f))
			if err := build.WriteArchive(path, f, b.Ref, b.Image); err != nil {
				return err
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", b.Name, b.Ref, b.Digest, b.Size, path)
		}
		if *push != "" {
			dst, err := build.MirrorRef(b.Ref, *push)
			if err != nil {
				return err
			}
			if err := build.Push(ctx, b.Image, dst); err != nil {
				return err
			}
			fmt.Fprintf(tw, "%s\t%s\tpushed\t\t\n", b.Name, dst)
		}
	}
	return tw.Flush()
}

func archiveName(b *build.Built, f build.Format) string {
	return fmt.Sprintf("%s_%s.%s.tar", b.Name, b.Ref[strings.LastIndex(b.Ref, ":")+1:], f)
}
