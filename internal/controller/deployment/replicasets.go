package deployment

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Annotations and labels shared with kubectl and upstream.
const (
	HashLabel                    = appsv1.DefaultDeploymentUniqueLabelKey // pod-template-hash
	RevisionAnnotation           = "deployment.kubernetes.io/revision"
	RevisionHistoryAnnotation    = "deployment.kubernetes.io/revision-history"
	DesiredReplicasAnnotation    = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation        = "deployment.kubernetes.io/max-replicas"
	lastAppliedAnnotation        = "kubectl.kubernetes.io/last-applied-configuration"
	deprecatedRollbackAnnotation = "deprecated.deployment.rollback.to"
	// maxRevisionHistoryChars bounds the revision-history annotation of a ReplicaSet rolled back to
	// many times.
	maxRevisionHistoryChars = 2000
)

// ComputeHash is the pod-template-hash of a template: FNV-32a over its JSON encoding and the
// collision count, spelled with the safe alphabet of apimachinery's rand so it is a valid label
// value and never a bad word. A collision (a ReplicaSet of that name with another template)
// bumps status.collisionCount, which moves the hash.
func ComputeHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	data, err := json.Marshal(t)
	if err != nil {
		// A PodTemplateSpec always encodes; fall back to its printed form rather than panic.
		data = fmt.Appendf(nil, "%#v", t)
	}
	h.Write(data)
	if collisionCount != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*collisionCount))
		h.Write(b[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// equalIgnoreHash compares templates without the pod-template-hash label.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, HashLabel)
	delete(b.Labels, HashLabel)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

func desired(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// Revision is a ReplicaSet's revision annotation (0 when absent or unreadable).
func Revision(o metav1.Object) int64 {
	v, err := strconv.ParseInt(o.GetAnnotations()[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, Revision(rs))
	}
	return m
}

// byCreation orders oldest first, then by name.
func byCreation(a, b *appsv1.ReplicaSet) int {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		if a.CreationTimestamp.Before(&b.CreationTimestamp) {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Name, b.Name)
}

// findNew is the oldest ReplicaSet whose template is the Deployment's.
func findNew(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	var found *appsv1.ReplicaSet
	for _, rs := range rss {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) && (found == nil || byCreation(rs, found) < 0) {
			found = rs
		}
	}
	return found
}

func others(rss []*appsv1.ReplicaSet, not *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if not == nil || rs.UID != not.UID {
			out = append(out, rs)
		}
	}
	return out
}

func active(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && replicasOf(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func sum(rss []*appsv1.ReplicaSet, f func(*appsv1.ReplicaSet) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(rs)
		}
	}
	return n
}

func specReplicas(rs *appsv1.ReplicaSet) int32   { return replicasOf(rs) }
func statusReplicas(rs *appsv1.ReplicaSet) int32 { return rs.Status.Replicas }
func readyReplicas(rs *appsv1.ReplicaSet) int32  { return rs.Status.ReadyReplicas }
func availableReplicas(rs *appsv1.ReplicaSet) int32 {
	return rs.Status.AvailableReplicas
}

// sureAvailable is how many of a ReplicaSet's available pods are sure to outlive the scale-down
// its controller has yet to finish: what a rolling update may count on before it takes more
// pods away. The ReplicaSet controller writes a status counted over the pods it listed before
// deleting the surplus (with observedGeneration already current), and a status written before
// a scale-down counts the pods of the old size; either way status.replicas exceeds spec.replicas
// by pods on their way out, and any of them may be one of the available ones. A status behind a
// scale-up only undercounts, which is safe.
func sureAvailable(rs *appsv1.ReplicaSet) int32 {
	surplus := max(rs.Status.Replicas-replicasOf(rs), 0)
	return min(max(rs.Status.AvailableReplicas-surplus, 0), replicasOf(rs))
}

// scaledValue resolves an int-or-percent against total: percentages of surge round up, of
// unavailability down, as upstream.
func scaledValue(v *intstr.IntOrString, total int32, roundUp bool) (int32, error) {
	if v == nil {
		return 0, nil
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, int(total), roundUp)
	return int32(n), err
}

// fenceposts resolves maxSurge and maxUnavailable; both zero would never progress, so
// unavailability becomes 1.
func fenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil {
		return 0, 1
	}
	surge, err1 := scaledValue(ru.MaxSurge, desired(d), true)
	unavailable, err2 := scaledValue(ru.MaxUnavailable, desired(d), false)
	if err1 != nil || err2 != nil {
		// Validation rejects bad values; a stored one that slipped through acts as the safest.
		return 0, 1
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

func isRolling(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType
}

// MaxSurge is how many pods above spec.replicas a rolling update may run.
func MaxSurge(d *appsv1.Deployment) int32 {
	if !isRolling(d) {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

// MaxUnavailable is how many pods below spec.replicas a rolling update may fall.
func MaxUnavailable(d *appsv1.Deployment) int32 {
	if !isRolling(d) || desired(d) == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, desired(d))
}

// newRSReplicas is how large the new ReplicaSet may be now.
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRolling(d) {
		return desired(d)
	}
	current := sum(all, specReplicas)
	maxTotal := desired(d) + MaxSurge(d)
	if current >= maxTotal {
		return replicasOf(newRS)
	}
	up := min(maxTotal-current, desired(d)-replicasOf(newRS))
	return replicasOf(newRS) + max(up, 0)
}

func annotationInt(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// setReplicasAnnotations records the Deployment size a ReplicaSet was sized for; proportional
// scaling divides by it.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, want, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(want)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[DesiredReplicasAnnotation] == d && rs.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[DesiredReplicasAnnotation], rs.Annotations[MaxReplicasAnnotation] = d, m
	return true
}

func replicasAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, want, maxReplicas int32) bool {
	return rs.Annotations[DesiredReplicasAnnotation] != strconv.Itoa(int(want)) ||
		rs.Annotations[MaxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

func skipAnnotation(k string) bool {
	switch k {
	case lastAppliedAnnotation, RevisionAnnotation, RevisionHistoryAnnotation, DesiredReplicasAnnotation,
		MaxReplicasAnnotation, deprecatedRollbackAnnotation:
		return true
	}
	return false
}

// setNewRSAnnotations copies the Deployment's annotations (change-cause and the like, which
// `rollout history` reads from the ReplicaSet), raises the revision to newRevision, keeps the
// revisions a rolled-back-to ReplicaSet had in revision-history, and sizes a ReplicaSet about to
// be created.
func setNewRSAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skipAnnotation(k) || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	old, had := rs.Annotations[RevisionAnnotation]
	oldRev, err := strconv.ParseInt(old, 10, 64)
	if err != nil && old != "" {
		return changed
	}
	if oldRev < newRevision {
		rs.Annotations[RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if had {
			hist := rs.Annotations[RevisionHistoryAnnotation]
			var revs []string
			if hist != "" {
				revs = strings.Split(hist, ",")
			}
			revs = append(revs, old)
			for len(revs) > 1 && len(strings.Join(revs, ",")) > maxRevisionHistoryChars {
				revs = revs[1:]
			}
			rs.Annotations[RevisionHistoryAnnotation] = strings.Join(revs, ",")
		}
	}
	if !exists && setReplicasAnnotations(rs, desired(d), desired(d)+MaxSurge(d)) {
		changed = true
	}
	return changed
}

// isSaturated: the new ReplicaSet alone runs everything the Deployment asks for.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	want, ok := annotationInt(rs, DesiredReplicasAnnotation)
	return ok && want == desired(d) && replicasOf(rs) == desired(d) && sureAvailable(rs) == desired(d)
}

// proportion is how many of toAdd (less what was already added) a ReplicaSet gets when a
// Deployment is resized mid-rollout: its share of the size it was last sized for.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || replicasOf(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	frac := fraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(frac, allowed)
	}
	return max(frac, allowed)
}

func fraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	if desired(d) == 0 {
		return -replicasOf(rs)
	}
	total := desired(d) + MaxSurge(d)
	annotated, ok := annotationInt(rs, MaxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	size := float64(replicasOf(rs)*total) / float64(annotated)
	return int32(math.Round(size)) - replicasOf(rs)
}
