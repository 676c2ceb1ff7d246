package containerconfig

import (
	v1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/kubelet/expansion"
)

// makeArgs combines the image's entrypoint and cmd with the container's
// command and args the way Docker and CRI runtimes do: command replaces the
// entrypoint and drops the image cmd; args alone replace only the cmd.
// Only the container's own fields are expanded; image values are literal.
func makeArgs(c *v1.Container, img ImageConfig, env map[string]string) ([]string, error) {
	m := expansion.MapOf(env)
	command := expansion.Strings(c.Command, m)
	args := expansion.Strings(c.Args, m)
	var argv []string
	switch {
	case len(command) > 0:
		argv = append(append(argv, command...), args...)
	case len(args) > 0:
		argv = append(append(argv, img.Entrypoint...), args...)
	default:
		argv = append(append(argv, img.Entrypoint...), img.Cmd...)
	}
	if len(argv) == 0 {
		return nil, createError("no command specified")
	}
	return argv, nil
}
