// Package nodestatus owns a node agent's presence in the API: it registers the Node (default
// labels, registration taints, pod CIDR), reconciles an existing one without undoing what others
// set (cordon, taints, labels, the controller manager's pod CIDR), keeps status.capacity,
// allocatable, addresses, nodeInfo, daemonEndpoints and the Ready, MemoryPressure, DiskPressure and
// PIDPressure conditions true to the host, and renews the node's Lease in kube-node-lease, all
// through client-go exactly as upstream's kubelet does: status goes out as a strategic merge PATCH
// to nodes/status, only when something other than a heartbeat changed or every
// StatusReportFrequency, while the Lease is the cheap 10 s heartbeat. Settings the host refuses
// are recorded on the Node in the HostSettingsRefused condition (see RecordHostRefusal).
//
// It must never write the Node's spec after registration (beyond filling an empty pod CIDR once),
// never remove conditions, capacity entries or labels it does not own, never write status that
// did not change more often than StatusReportFrequency, and never sleep on the wall clock: every
// timer comes from the injected Clock, so tests run without waiting.
//
// Usage:
//
//	a, err := nodestatus.New(client, nodestatus.Config{
//		NodeName: "n1", NodeIP: ip, DataDir: dir, PodCIDR: "10.244.0.0/24",
//		ReadinessChecks: []nodestatus.ReadinessCheck{runtimeReady, networkReady},
//	})
//	go a.Run(ctx)
//	<-a.Registered()                          // the Node exists; watch pods bound to it
//	a.RecordHostRefusal("oom_score_adj", "negative values are refused; containers keep 0")
//	cidr := a.PodCIDR()                       // the Node's, once the controller manager set one
package nodestatus
