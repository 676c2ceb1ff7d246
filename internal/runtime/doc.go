// Package runtime is the container runtime contract the node agent (kubelet) uses: pod sandboxes,
// containers, exec, attach and container logs, shaped after the CRI but declared by what the kubelet needs
// and kept small. It owns the types of that contract, its error categories, the rules every
// implementation shares (how an image's entrypoint/cmd/env combine with a container's), and the
// RootfsSource interface through which an image store hands a runtime its unpacked layers.
// Implementations live below it (libcontainer, fake) and must pass the shared suite in runtimetest.
// This package must never import an implementation, talk to the API server or know Kubernetes API
// types: the kubelet translates pods into these plain configs.
//
// Usage, in the order a pod starts:
//
//	sb, _ := rt.RunPodSandbox(ctx, &runtime.SandboxConfig{Name: "web", Namespace: "default", UID: uid, Hostname: "web"})
//	id, _ := rt.CreateContainer(ctx, sb, &runtime.ContainerConfig{Name: "app", Image: "busybox:1.35", Args: []string{"sleep", "3600"}, LogPath: "/var/log/pods/.../app/0.log"})
//	_ = rt.StartContainer(ctx, id)
//	st, _ := rt.ContainerStatus(ctx, id) // State, Pid, ExitCode, Reason (OOMKilled, Error, Completed)
//	_ = rt.StopContainer(ctx, id, 30*time.Second) // SIGTERM, then SIGKILL after the grace period
//	_ = rt.RemoveContainer(ctx, id)
//	_ = rt.StopPodSandbox(ctx, sb)
//	_ = rt.RemovePodSandbox(ctx, sb)
//
// Containers outlive the Runtime value that started them: Close releases the instance only, and a
// new instance over the same state directory adopts what is still running.
package runtime
