// Package resourcequota is the ResourceQuota admission plugin: it measures what a write adds to
// (or, for a delete, frees from) its namespace's quotas, refuses it when a quota would be
// exceeded, and records the new usage in the quota's status.used with optimistic concurrency, so
// that concurrent writes cannot both take the last unit.
//
// A new or changed ResourceQuota gets status.hard and a freshly measured status.used at once (the
// quota controller, internal/controller/resourcequota, re-measures later), and a refusal first
// re-measures usage so that drift (a write charged but never stored) heals itself. Both count
// with internal/quotausage, so they agree. It must never write any object but ResourceQuota
// status.
package resourcequota
