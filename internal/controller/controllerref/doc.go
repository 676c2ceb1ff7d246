// Package controllerref decides which objects a controller owns: it adopts orphans its selector
// matches and releases owned objects its selector no longer matches, by patching their
// ownerReferences, as upstream controllers do.
//
// It owns the claim rules (an object has at most one controller; an owner being deleted adopts
// nothing; objects being deleted are not adopted). It must never create or delete the objects it
// claims, and never adopts without first re-reading the owner from the API server.
package controllerref
