// Package containerconfig owns the translation of a pod's container spec,
// plus the image's config, into the plain description a runtime needs to
// create that container: argv, environment, working directory, user and
// groups, capabilities and other security settings, cgroup resources, and
// the mounts (volume mounts with expanded subPaths, the termination message
// file, /etc/hosts, /etc/hostname and /etc/resolv.conf placeholders). It
// reproduces upstream's rules, including `$(VAR)` expansion and the
// CreateContainerConfigError messages users search for. It must never talk
// to the API server (ConfigMaps and Secrets come through Sources), touch the
// host, or know about a particular runtime: the runtime contract maps Config
// onto its own types.
//
// Usage:
//
//	cfg, err := containerconfig.Generate(containerconfig.Input{Pod: pod, Container: &c, Image: img, Sources: cache, ...})
//	var ce *containerconfig.Error
//	if errors.As(err, &ce) { /* waiting reason ce.Reason, message ce.Message */ }
//	for _, w := range cfg.Warnings { /* record a Warning event w.Reason, w.Message */ }
package containerconfig
