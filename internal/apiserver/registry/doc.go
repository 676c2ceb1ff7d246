// Package registry declares what the API server knows about each resource it serves: its names, its
// scope, its subresources and its strategy (defaults, validation, status split, selectable fields, table
// columns). The generic REST handlers in package apiserver read these descriptors; the packages below
// registry/ fill them in, one per resource.
//
// A registry package must never talk to storage or HTTP: it sees objects, never requests, so the same
// strategy runs for create, update, patch and server-side apply alike.
package registry
