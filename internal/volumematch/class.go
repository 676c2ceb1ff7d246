package volumematch

import (
	"sort"

	storagev1 "k8s.io/api/storage/v1"
)

const (
	// IsDefaultAnnotation marks the default StorageClass.
	IsDefaultAnnotation = "storageclass.kubernetes.io/is-default-class"
	// BetaIsDefaultAnnotation is the older spelling upstream still honours.
	BetaIsDefaultAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// IsDefaultClass says whether sc is marked as a default class.
func IsDefaultClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[IsDefaultAnnotation] == "true" || sc.Annotations[BetaIsDefaultAnnotation] == "true"
}

// DefaultClass picks the default class among classes, or nil: the newest marked one, by name on a
// tie, so that adding a second default moves new claims to it (upstream's choice).
func DefaultClass(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	var defs []*storagev1.StorageClass
	for _, sc := range classes {
		if sc != nil && sc.DeletionTimestamp == nil && IsDefaultClass(sc) {
			defs = append(defs, sc)
		}
	}
	if len(defs) == 0 {
		return nil
	}
	sort.Slice(defs, func(i, j int) bool {
		ti, tj := defs[i].CreationTimestamp, defs[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return tj.Before(&ti)
		}
		return defs[i].Name < defs[j].Name
	})
	return defs[0]
}
