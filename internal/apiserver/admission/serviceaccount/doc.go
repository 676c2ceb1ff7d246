// Package serviceaccount is the ServiceAccount admission plugin: a pod that names no service
// account runs as its namespace's "default" one, and a pod may only name a service account that
// exists.
//
// It must never create service accounts (internal/controller/serviceaccount creates "default" in
// every namespace) nor mint tokens. Upstream refuses a pod whose account is missing, "default"
// included, which makes a pod created in the same moment as its namespace fail until the
// controller catches up; here "default" is admitted without being present, so that pods work in
// a new namespace at once and wherever the controller manager does not run (API-only tests).
package serviceaccount
