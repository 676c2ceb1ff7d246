// Package kubelet is the node agent's core: it watches the pods bound to its node through
// client-go and makes them run, composing the pieces below it — the volume manager, the pod
// network, the image store, the container runtime (through the runtime contract only), the
// container config generator and the prober — and reports what it sees back as pod status and
// events exactly as upstream's kubelet words them. One worker per pod serialises that pod's sync
// and kill; the runtime, not memory, is the source of truth, so an agent restarted over the same
// data dir adopts the sandboxes and containers that kept running and starts nothing twice.
//
// It must never talk to the API server other than through its client-go client, never write a
// pod's spec, never start a container whose volumes, sandbox or network are not ready, and never
// leave a mount, cgroup, network namespace or address behind once a pod is gone.
//
// Usage:
//
//	k, err := kubelet.New(client, kubelet.Config{NodeName: "n1", NodeIP: ip, DataDir: dir, PodCIDR: "10.244.0.0/24"})
//	go k.Run(ctx) // registers the Node, syncs pods until ctx ends; containers survive the agent
//	id, logPath, err := k.ContainerID("default", "web", "app") // for the kubelet API server
package kubelet
