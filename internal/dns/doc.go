// Package dns is the cluster DNS: it answers for the cluster domain (cluster.local) from
// informer caches of Services, EndpointSlices and Namespaces, following the Kubernetes DNS
// specification as CoreDNS's kubernetes plugin implements it — A/AAAA for
// <svc>.<ns>.svc.<domain> (the ClusterIPs, or a headless Service's ready endpoints),
// <endpoint>.<svc>.<ns>.svc.<domain> (a pod's hostname when it has one, else its dashed
// address), SRV for named ports, CNAME for ExternalName Services, PTR for ClusterIPs and
// endpoint addresses, dashed-address pod names, NXDOMAIN and NODATA where CoreDNS gives them —
// and forwards every other question to upstream resolvers, over UDP and TCP, truncating UDP
// answers to the client's buffer.
//
// The Zone holds records precomputed per Service and updated on each informer event, so that
// an answer is a map lookup under a read lock and follows a change within milliseconds. Search
// domains are the client's business: the server never appends any.
//
// It must never write to the API, and never forward a question in the cluster domain (a
// missing Service is NXDOMAIN here, not a query to the outside).
//
// Usage:
//
//	s, err := dns.New(dns.Config{Client: cs, Listen: "10.0.0.5:53", Logger: logger})
//	go s.Run(ctx)
package dns
