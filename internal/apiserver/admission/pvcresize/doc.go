// Package pvcresize is the PersistentVolumeClaimResize admission plugin: a claim's storage
// request may grow only when the claim is bound and its StorageClass (the same one before and
// after, and not "") says allowVolumeExpansion: true. The refusals are upstream's words.
//
// It only validates; it must never change a claim, and it says nothing about shrinking (the
// claim registry's update validation owns that) or about how a volume is grown (the PV
// controller's job).
package pvcresize
