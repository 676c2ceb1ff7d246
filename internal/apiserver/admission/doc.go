// Package admission declares the admission contract of the API server: after a request is
// authenticated and authorized, and after the resource's strategy has defaulted and prepared the
// object, mutating plugins may change it, then validating plugins may refuse it, before it reaches
// storage. Plugins see the versioned object as stored, never raw request bodies.
//
// Plugins must not write the object they admit; they may read other objects through the Lookup the
// server gives them (the API server's own storage, read-only).
package admission
