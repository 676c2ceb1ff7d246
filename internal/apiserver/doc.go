// Package apiserver is skiff's Kubernetes API server: the HTTP front of the cluster state. It serves
// discovery, the REST verbs and watch for every resource described in package registry, with
// upstream's semantics (resourceVersions, conflicts, generateName, graceful deletion, finalizers,
// patches, server-side apply, status and scale subresources, tables), on the store of package
// storage.
//
// Every request goes through one chain: authentication, authorization, then the resource handler,
// which runs strategy defaults, admission mutation, validation, admission validation and finally
// storage. Nothing else in skiff writes to etcd: controllers, scheduler and node agents are clients.
//
// Usage:
//
//	srv, err := apiserver.New(cfg)   // cfg: store, resources, TLS material, admission chain
//	err = srv.Run(ctx)               // serves until ctx is done, then shuts down gracefully
package apiserver
