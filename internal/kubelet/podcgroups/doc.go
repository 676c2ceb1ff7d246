// Package podcgroups owns a node's pod cgroups on cgroupfs, laid out as upstream's kubelet lays
// them out: <root>/kubepods/pod<uid> for Guaranteed pods, <root>/kubepods/burstable/pod<uid>
// and <root>/kubepods/besteffort/pod<uid> for the others, each pod cgroup carrying the
// pod-level limits of its QoS class (cpu shares from the sum of requests, quota and memory
// limit when every container sets one) and the besteffort tier the least cpu shares there
// are. It works on cgroup v1 (one hierarchy per controller set) and v2 (one unified tree).
//
// It must never create the containers' cgroups below a pod's (the runtime's), move a process,
// or write outside its root.
//
// Usage:
//
//	m, err := podcgroups.New(podcgroups.Config{Root: "/skiff-n1"})
//	parent, err := m.Ensure(pod)  // the sandbox's CgroupParent
//	...
//	err = m.Remove(pod.UID)       // once the runtime removed the pod's sandboxes
package podcgroups
