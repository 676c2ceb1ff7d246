// Package staticpod owns static pods: it reads the pod manifests of a node's
// --pod-manifest-path into pods with upstream's identity (name "<name>-<node>", a uid derived
// from the file's content, its path and the node, so that a restarted agent adopts what runs
// and a changed file replaces it) and config annotations, and builds the mirror pod that
// stands for a static pod in the API. It never talks to the API server or to the runtime:
// the node agent does both with what it returns.
package staticpod
