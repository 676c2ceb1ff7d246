// Package volume owns a pod's volumes on its node: it lays them out under
// <data-dir>/pods/<podUID>/volumes/<plugin>/<name> as upstream does (emptyDir on disk or tmpfs,
// configMap, secret, downwardAPI and projected written by an atomic writer, hostPath checked in
// place), re-projects API-backed volumes when their sources change so that a reader never sees a
// mix of old and new files, turns a container's volumeMounts into bind-mount specs for the runtime
// (subPath resolved and pinned inside the volume) and tears everything down again, mounts included,
// from what is on disk, so that it also cleans up after a crash.
//
// It must never talk to the API server itself (sources come through the Sources interface the
// kubelet backs with informers or gets), never follow a path a pod controls out of the volume it
// belongs to, never delete below a directory that still has a mount under it, and never fake data
// it cannot produce (service account tokens come with the security issue; persistentVolumeClaim
// volumes come through a Plugin).
//
// Usage:
//
//	m, err := volume.New(volume.Config{DataDir: dir, Sources: src, Allocatable: nodeAllocatable})
//	paths, err := m.SetUp(ctx, pod)               // before the pod's containers are created; idempotent
//	mounts, err := m.ContainerMounts(pod, &c, paths, env) // per container, for the runtime
//	err = m.Update(ctx, pod)                      // on every resync: re-projects changed sources
//	err = m.TearDown(ctx, pod.UID)                // once no container of the pod runs; repeatable
package volume
