// Package quotausage says what an object counts against a ResourceQuota: which quota names
// measure which resource, the usage of one pod, service, claim or other object, and which objects
// a scoped quota covers. The ResourceQuota admission plugin (which charges writes) and the quota
// controller (which re-measures whole namespaces) both count with it, so that they agree.
//
// It is pure arithmetic over objects; it must never read or write cluster state.
package quotausage
