// Package expectations remembers, per controller key, how many creations and which deletions a
// controller has asked the API server for and not yet seen come back through its informers.
//
// A controller that acts on a stale cache would create or delete the same pods twice: a sync must
// not act again until its earlier writes are observed (or a timeout says they never will be). This
// package only counts; it must never talk to the API server or decide what to create.
package expectations
