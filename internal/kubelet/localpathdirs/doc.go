// Package localpathdirs owns, on one node, the directories behind the node's local-path
// PersistentVolumes (those the built-in provisioner skiff.dev/local-path made for this node,
// labelled skiff.dev/local-path-node=<node>): it creates a PV's directory under
// <data-dir>/storage/local-path when the PV appears (and on demand at mount time), and when such a
// PV is being deleted and no longer protected it removes the directory (reclaim policy Delete) or
// keeps it (Retain), then drops the PV's skiff.dev/local-path-cleanup finalizer. It watches only
// the PVs carrying its node's label, so a node holds its own volumes in memory and no others.
// The names it shares with the provisioner and the scheduler are internal/localpath's.
//
// It must never create or remove anything but a direct child of its root, whatever path a PV
// names (a PV is an API object anyone with the right to create PVs can write), never remove a
// directory that has a mount below it, and never remove data while the PV is still Bound or
// carries kubernetes.io/pv-protection (a pod may still use it).
package localpathdirs
