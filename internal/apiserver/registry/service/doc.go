// Package service is the strategy for core/v1 Services: the defaults a client may omit (type,
// session affinity, port protocol and target port, traffic policies, IP families once a cluster IP is
// known), the validation of ports, types and cluster IPs, and the rule that an allocated cluster IP
// never changes.
//
// It must never allocate cluster IPs or node ports: allocation needs cluster-wide state and belongs to
// the API server's allocator; this package only checks and carries what was allocated.
package service
