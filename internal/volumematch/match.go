package volumematch

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// Options refine Find.
type Options struct {
	// Node, when set, keeps only volumes whose node affinity admits it.
	Node *corev1.Node
	// DelayBinding is set by the PV controller for a WaitForFirstConsumer claim that has no
	// selected node yet: only a volume already pre-bound to the claim may match, because the
	// scheduler chooses free volumes once it knows the node.
	DelayBinding bool
	// Exclude names volumes that must not be chosen (picked for another claim, not yet bound).
	Exclude map[string]bool
}

// FindBestMatch returns the volume that should be bound to claim, or nil: the volume named by
// the claim's spec.volumeName or pre-bound to the claim when there is one, otherwise the best
// Available volume that fits. node may be nil (no node-affinity check).
func FindBestMatch(claim *corev1.PersistentVolumeClaim, pvs []*corev1.PersistentVolume, node *corev1.Node) *corev1.PersistentVolume {
	return Find(claim, pvs, Options{Node: node})
}

// Find is FindBestMatch with options.
func Find(claim *corev1.PersistentVolumeClaim, pvs []*corev1.PersistentVolume, opts Options) *corev1.PersistentVolume {
	if claim == nil {
		return nil
	}
	if claim.Spec.VolumeName != "" {
		// The user chose the volume: only that one counts, whatever its labels or phase.
		for _, pv := range pvs {
			if pv == nil || pv.Name != claim.Spec.VolumeName {
				continue
			}
			if pv.Spec.ClaimRef != nil && !IsBoundTo(pv, claim) {
				return nil
			}
			if ClaimFits(claim, pv) != nil || !NodeMatches(pv, opts.Node) {
				return nil
			}
			return pv
		}
		return nil
	}
	for _, pv := range pvs {
		if pv == nil || !IsBoundTo(pv, claim) || pv.DeletionTimestamp != nil {
			continue
		}
		// Pre-bound to this claim (by a user, the scheduler or the provisioner): it wins, and
		// on a node it does not reach the claim has no match at all.
		if ClaimFits(claim, pv) != nil || !NodeMatches(pv, opts.Node) {
			return nil
		}
		return pv
	}
	if opts.DelayBinding && opts.Node == nil {
		return nil
	}
	selector, err := claimSelector(claim)
	if err != nil {
		return nil
	}
	var best *corev1.PersistentVolume
	for _, pv := range pvs {
		if pv == nil || opts.Exclude[pv.Name] || pv.Spec.ClaimRef != nil || pv.DeletionTimestamp != nil {
			continue
		}
		if pv.Status.Phase != corev1.VolumeAvailable {
			continue
		}
		if selector != nil && !selector.Matches(labels.Set(pv.Labels)) {
			continue
		}
		if ClaimFits(claim, pv) != nil || !NodeMatches(pv, opts.Node) {
			continue
		}
		if best == nil || better(pv, best) {
			best = pv
		}
	}
	return best
}

// better orders candidates: fewest access modes (do not spend a more capable volume on a claim
// that does not need it), then smallest capacity, then name so that the choice is stable.
func better(a, b *corev1.PersistentVolume) bool {
	if la, lb := len(a.Spec.AccessModes), len(b.Spec.AccessModes); la != lb {
		return la < lb
	}
	qa, qb := a.Spec.Capacity[corev1.ResourceStorage], b.Spec.Capacity[corev1.ResourceStorage]
	if c := qa.Cmp(qb); c != 0 {
		return c < 0
	}
	return a.Name < b.Name
}

func claimSelector(claim *corev1.PersistentVolumeClaim) (labels.Selector, error) {
	if claim.Spec.Selector == nil {
		return nil, nil
	}
	s, err := metav1.LabelSelectorAsSelector(claim.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("claim %s/%s: invalid selector: %w", claim.Namespace, claim.Name, err)
	}
	return s, nil
}

// SelectorMatches says whether the claim's label selector (none matches all) admits pv.
func SelectorMatches(claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) (bool, error) {
	s, err := claimSelector(claim)
	if err != nil || s == nil {
		return err == nil, err
	}
	return s.Matches(labels.Set(pv.Labels)), nil
}

// ClaimFits checks what a volume must offer any claim bound to it, whoever picked it: the class,
// at least the requested capacity, every requested access mode and the volume mode; and the
// volume is not being deleted. The error says what is missing.
func ClaimFits(claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	if pv.DeletionTimestamp != nil {
		return fmt.Errorf("volume %q is being deleted", pv.Name)
	}
	if cc, vc := ClaimClass(claim), VolumeClass(pv); cc != vc {
		return fmt.Errorf("storage class of volume %q is %q, the claim asks for %q", pv.Name, vc, cc)
	}
	want := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pv.Spec.Capacity[corev1.ResourceStorage]
	if have.Cmp(want) < 0 {
		return fmt.Errorf("capacity of volume %q is %s, the claim requests %s", pv.Name, have.String(), want.String())
	}
	if !storagehelpers.CheckAccessModes(claim, pv) {
		return fmt.Errorf("volume %q offers access modes %v, the claim requests %v", pv.Name, pv.Spec.AccessModes, claim.Spec.AccessModes)
	}
	if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &pv.Spec) {
		return fmt.Errorf("volume mode of volume %q is %s, the claim requests %s", pv.Name, volumeMode(pv.Spec.VolumeMode), volumeMode(claim.Spec.VolumeMode))
	}
	return nil
}

func volumeMode(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
	if m == nil {
		return corev1.PersistentVolumeFilesystem
	}
	return *m
}

// NodeMatches says whether pv's required node affinity admits node; a nil node or a volume
// without affinity always matches.
func NodeMatches(pv *corev1.PersistentVolume, node *corev1.Node) bool {
	if node == nil || pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return true
	}
	// The whole node, not only its labels, so that matchFields (metadata.name) terms work too.
	ok, err := corev1helpers.MatchNodeSelectorTerms(node, pv.Spec.NodeAffinity.Required)
	return err == nil && ok
}

// IsBoundTo says whether pv's claimRef names claim (and its uid, when the ref carries one).
func IsBoundTo(pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) bool {
	return storagehelpers.IsVolumeBoundToClaim(pv, claim)
}

// ClaimClass is the class a claim asks for ("" = no class), the beta annotation first as
// upstream reads it.
func ClaimClass(claim *corev1.PersistentVolumeClaim) string {
	return storagehelpers.GetPersistentVolumeClaimClass(claim)
}

// VolumeClass is the class a volume belongs to ("" = none).
func VolumeClass(pv *corev1.PersistentVolume) string {
	return storagehelpers.GetPersistentVolumeClass(pv)
}
