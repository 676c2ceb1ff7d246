// Package scheduler puts each unscheduled pod on a node, as kube-scheduler does: it watches pods
// without spec.nodeName whose schedulerName is "default-scheduler", keeps a cache of nodes and the
// pods bound to them (and the pods it has just bound, "assumed", so a burst cannot oversubscribe a
// node), runs the filter and score plugins (package plugins) over a snapshot of that cache, binds
// the pod through pods/binding and reports failures the way upstream does (PodScheduled=False,
// reason Unschedulable, a FailedScheduling event whose message counts the reasons). Pods that fit
// nowhere wait in the queue's unschedulable set until a cluster change that could help moves
// them back (package queue), and may preempt lower-priority pods.
//
// WaitForFirstConsumer claims are bound around the binding by package volumebinder (Reserve in
// the scheduling cycle, PreBind on the binding goroutine before pods/binding, Unreserve on
// failure).
//
// It talks to the cluster only through the API server with client-go. It must never write a pod's
// spec other than through the binding subresource, never write claims or volumes other than the
// selected-node annotation and a volume's pre-binding claimRef (the PV controller binds), never delete pods other than preemption
// victims, and never poll the API server for changes: informers tell it.
//
// Usage:
//
//	s, err := scheduler.New(client, scheduler.Config{Logger: log})
//	err = s.Run(ctx) // blocks until ctx ends
package scheduler
