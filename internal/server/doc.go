// Package server assembles `skiff server`: the cluster PKI, etcd (embedded or external), the API
// server and, as later components land, the controller manager, scheduler and node agent, all in one
// process. Each component is wired to the others only through the API server.
//
// It owns start-up order and graceful shutdown; it must not implement any component itself.
package server
