// Package image is a node's OCI image store: it owns <data-dir>/images, pulls images from
// registries (with go-containerregistry, honouring pull secrets, mirrors and insecure
// registries), imports `docker save` tarballs and OCI layouts, unpacks every layer once into
// layers/<chainID-hex>/diff in overlayfs form (whiteouts as 0/0 character devices, opaque
// directories marked with trusted.overlay.opaque=y) so a runtime stacks them directly as
// lowerdirs, and garbage-collects images and layers. It must never run containers, mount
// anything, or decide by itself which images are in use: the runtime and the kubelet own that
// and pass it in.
//
// On disk: index.json (image records and the names pointing at them) and blobs/sha256/<hex>
// (configs, manifests, indexes) change only under an exclusive flock on lock; layers appear by
// an atomic rename from tmp/ once complete and verified against their diff ID, so a crash
// mid-pull leaves nothing visible but debris in tmp/ that the next Open or GC deletes. A pull in
// flight holds a lease (a flocked file under leases/ naming its chain IDs) so GC does not take
// its freshly unpacked layers before the image is recorded; a lease whose flock can be taken
// belongs to a dead process. The same flocks make the store safe to share between the node
// agent and `skiff image` commands run by hand against the same data dir. Concurrent pulls of a
// layer unpack it once: singleflight inside a process, a per-layer flock (locks/) across them.
// Layer file data is not fsynced (only the metadata that makes it visible is): a process crash
// cannot tear a layer, and a machine crash is handled by removing the image and pulling again.
//
// Usage:
//
//	s, _ := image.Open(image.Config{Root: filepath.Join(dataDir, "images")})
//	img, err := s.Pull(ctx, "nginx:1.27", image.PullOptions{PullSecrets: secrets})
//	if errors.Is(err, image.ErrUnauthorized) { ... }
//	lower, cfg, _ := s.Mounts(img.ID) // uppermost first: "lowerdir=" + strings.Join(lower, ":")
package image
