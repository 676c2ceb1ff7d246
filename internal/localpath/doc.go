// Package localpath holds the names and the on-node layout of skiff's built-in local-path
// storage, the contract between the parts that meet there: the API server bootstrap (the
// default StorageClass), the PV controller (provisioning, reclaim), the scheduler (which nodes
// can host a volume) and the node agent (which creates and removes the directories).
//
// It only names things and computes paths; it must never touch the file system or the API.
package localpath
