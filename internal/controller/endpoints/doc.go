// Package endpoints is the Endpoints controller: for every Service with a selector it keeps an
// Endpoints object of the same name listing the selected pods' addresses, ready ones in
// `addresses` and the others in `notReadyAddresses` (all ready with publishNotReadyAddresses),
// grouped into subsets by the ports each pod's (possibly named) targetPorts resolve to, with
// hostnames for pods whose hostname and subdomain name the Service, node names, pod references
// and the last-change-trigger-time annotation. Pod changes are batched for a short period so a
// rollout costs few writes; Service changes are synced at once.
//
// It must never touch the Endpoints of a Service without a selector (the API server's
// kubernetes Service, the cluster DNS Service, endpoints a user keeps by hand), and never write
// an Endpoints whose content would not change.
//
// Usage:
//
//	c, err := endpoints.New(endpoints.Config{Client: cs, Informers: informers, Logger: logger})
//	go c.Run(ctx, 5)
package endpoints
