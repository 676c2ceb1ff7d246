// Package admission declares the admission contract of the API server: after a request is
// authenticated and authorized, and after the resource's strategy has defaulted and prepared the
// object, mutating plugins may change it, then validating plugins may refuse it, before it reaches
// storage. Plugins see the versioned object as stored, never raw request bodies.
//
// Plugins change only the object they admit (mutators) and otherwise write nothing but the status
// they own through the Lookup the server gives them (quota usage, disruption budgets), with
// optimistic concurrency; they read other objects through it, from the watch cache, and past the
// cache (LiveReader) only where a just-made write may not have reached it.
package admission
