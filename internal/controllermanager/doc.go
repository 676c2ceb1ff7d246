// Package controllermanager runs skiff's controllers: one shared informer factory, one event
// broadcaster, a client per controller (its own user agent), Lease-based leader election
// (kube-system/kube-controller-manager), and the upstream `--controllers` selection (`*`,
// `name`, `-name`) with a worker count per controller.
//
// It owns the wiring and the lifecycle only; it must never hold reconcile logic, which lives in
// internal/controller/<name>. Adding a controller is one entry in the Controllers table.
//
// Usage:
//
//	err := controllermanager.Run(ctx, controllermanager.Config{RESTConfig: rc, LeaderElect: true})
package controllermanager
