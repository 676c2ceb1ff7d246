// Package version owns the version identity of a skiff build: the Kubernetes API version it serves
// and skiff's own release, commit and build date, stamped at link time with -ldflags -X. It produces
// the body of the API server's /version endpoint and the strings components log at start-up.
//
// It must never depend on other skiff packages or read anything at run time beyond the Go runtime's
// own build facts: every other package may import it, so it stays a leaf.
package version
