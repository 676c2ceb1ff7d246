// Package serviceendpoints owns what a Service's pods contribute to its endpoints, the rules the
// Endpoints and EndpointSlice controllers share: which pods a Service selects and which of them
// count (an address, not terminal, not yet gone), whether each is ready, serving or terminating,
// which port a (possibly named) targetPort resolves to on each pod, which hostname a pod carries
// for a Service, which Services a pod change concerns, and when the change that triggered an
// update happened (the endpoints.kubernetes.io/last-change-trigger-time annotation).
//
// It must never write to the API or keep objects from a lister beyond a call: it computes, the
// controllers write.
package serviceendpoints
