// Package controllerrevision owns the API rules for apps/v1 ControllerRevisions, the immutable
// snapshots DaemonSets and StatefulSets keep of their templates: data is required and fixed once
// written, the revision number is non-negative. It must never interpret data; only the owning
// controller knows its shape.
package controllerrevision
