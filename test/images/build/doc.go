// Package build assembles skiff's own test images from files already on this machine (the
// project's static testserver, Debian's busybox-static, Debian's nginx with exactly the shared
// libraries it links) into single-layer OCI images, deterministically so that the same inputs
// always give the same digest, and writes them as docker-save or OCI archives or pushes them to a
// registry a test runs. It owns the images' names: each lives under skiff.local/test/ with an
// explicit version tag taken from what it was built from. It must never reach a network registry on
// its own, never tag an image as ":latest", and never name an image as something it is not (no
// "nginx:1.27" for a Debian nginx 1.22): substituting upstream names in test manifests is the
// testimages package's job, done in the manifest, not by re-tagging.
package build
