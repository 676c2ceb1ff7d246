// Package testimages is what e2e and integration tests call to get skiff's own test images: Ensure
// builds the testserver, busybox and nginx images once per machine into a cache keyed by the
// content they are made from (so a second test binary, or a second run, reuses the archives), and
// returns their names, digests and docker-save archives for import into a node's image store or a
// push to a test's registry. It also rewrites the upstream image names that example manifests use
// (nginx:1.27) to the local stand-ins. It must never pull from or push to a registry by itself,
// never re-tag an image as the upstream one it stands in for (the substitution happens in the
// manifest text), and never be imported by non-test code.
package testimages
