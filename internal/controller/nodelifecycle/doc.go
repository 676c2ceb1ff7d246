// Package nodelifecycle is the node lifecycle controller. It watches Nodes and their
// kube-node-lease Leases: a node whose agent has not renewed its Lease (nor changed its Ready
// condition) within the grace period gets its Ready and pressure conditions set to Unknown
// (NodeStatusUnknown), and the pods on it are marked not Ready. From the Ready condition it keeps
// the node.kubernetes.io/unreachable or not-ready NoExecute taint, adding it at a per-zone rate
// that slows when a zone is largely down and stops when every zone is (the controller's own
// connectivity is then the likelier fault), and from the conditions and spec.unschedulable the
// NoSchedule taints (upstream's TaintNodesByCondition). Its taint manager deletes the pods of a
// NoExecute-tainted node that do not tolerate the taint, at once, or once their
// tolerationSeconds have passed.
//
// It must never touch what the node agent owns (heartbeats, other conditions, addresses), taints
// it does not manage, or pods on nodes without NoExecute taints; pods of deleted nodes are pod
// GC's.
//
// Usage:
//
//	c, err := nodelifecycle.New(nodelifecycle.Config{Client: cs, Informers: informers,
//		Recorder: recorder, Logger: logger})
//	go c.Run(ctx, 5)
package nodelifecycle
