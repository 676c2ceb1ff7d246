// Package printers owns the server-side Table columns of the built-in kinds: the column definitions
// and the cell logic that `kubectl get` prints, column for column as upstream Kubernetes prints them
// (priority-1 columns show only with -o wide, which kubectl filters on the client), and the assembly
// of a full metav1.Table from an object or a list (includeObject, noHeaders, list metadata).
//
// It must never read storage, requests or anything outside the object it is given (plus the clock for
// ages), and it must never change the objects it renders: a table is a view, computed on the way out.
//
// Usage:
//
//	t := printers.For(gk)
//	if t == nil {
//		t = printers.Default()
//	}
//	table, err := printers.BuildTable(t, listOrObject, metav1.IncludeMetadata, false)
package printers
