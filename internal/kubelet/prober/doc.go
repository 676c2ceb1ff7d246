// Package prober owns a node's liveness, readiness and startup probes: one
// worker per (pod, container, probe kind) that runs exec, httpGet, tcpSocket
// or grpc checks on the probe's schedule, applies the success and failure
// thresholds, and publishes the outcome in a results cache with change
// notifications. It decides *that* a container must be killed or is unready;
// it must never kill a container, write pod status or events to the API
// server itself: the kubelet reads Updates and Events and acts on them. All
// timing goes through an injected clock so tests never sleep.
//
// Usage:
//
//	m := prober.NewManager(prober.Config{Exec: rt, Statuses: statusManager})
//	defer m.Stop()
//	m.AddPod(pod)                      // when a pod worker starts the pod
//	go func() { for u := range m.Updates() { ... } }() // Kill => restart; readiness => resync status
//	go func() { for e := range m.Events() { recorder.Event(...) } }()
//	m.UpdatePodStatus(pod, &status)    // fill Ready/Started before writing status
//	m.RemovePod(pod)                   // when the pod is gone
package prober
