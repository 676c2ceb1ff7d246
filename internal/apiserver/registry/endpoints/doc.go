// Package endpoints is the strategy for core/v1 Endpoints: addresses must be usable pod or external
// IPs (not loopback or link-local), ports well formed and named when there are several.
//
// It must never compute endpoints from pods: the endpoints controller owns that; this package only
// guards what any writer stores.
package endpoints
