// Package allocator owns the cluster-wide pools a Service draws from: cluster IPs from the service
// CIDR and node ports (health check ports included) from the node port range. Each pool is a
// bitmap in one etcd key beside the object store (/registry/ranges/serviceips and
// /registry/ranges/servicenodeports); every change is a compare-and-swap on that key, so
// concurrent requests and several API servers sharing one etcd never hand out a value twice.
// Services plugs into the API server as the services resource hooks: it reserves what a create or
// update needs before validation, gives it back when the write is not stored, and frees what a
// stored update or a delete let go. Repair reconciles the bitmaps with the stored Services at start
// and periodically.
//
// It must never write Service objects (it only fills fields of the object in flight), never
// validate beyond what allocation itself decides (that is the service strategy's), and never keep
// allocation state anywhere but etcd: an in-memory copy is only a guess that the compare-and-swap
// checks.
//
// Usage:
//
//	svcs, _ := allocator.New(allocator.Config{Client: etcd, ServiceCIDR: cidr, NodePorts: ports,
//		ListServices: list})
//	// pass svcs as apiserver.Config.Hooks[{Resource: "services"}], start storage, then:
//	if err := svcs.Repair(ctx); err != nil { ... } // before serving
//	go svcs.RunRepair(ctx)
package allocator
