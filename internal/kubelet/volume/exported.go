package volume

import corev1 "k8s.io/api/core/v1"

// CheckHostPath applies a hostPath source's type as a hostPath volume does: the *OrCreate types
// create what is missing, the others require it with that type. Plugins whose volumes are host
// paths too (hostPath PersistentVolumes) share the rules and the messages.
func CheckHostPath(s *corev1.HostPathVolumeSource) error { return checkHostPath(s) }

// RemoveAllNoMounts deletes dir and everything below it, refusing when anything below it is a
// mount point: a bind mount under dir would otherwise let the removal reach into what it binds.
func RemoveAllNoMounts(dir string) error { return removeAllNoMounts(dir) }
