// Package serviceaccount is the ServiceAccount admission plugin: a pod that names no service
// account runs as its namespace's "default" one, and a pod may only name a service account that
// exists.
//
// It must never create service accounts (the service account controller does) nor mint tokens.
// Until that controller exists, the "default" account is allowed without being present.
package serviceaccount
