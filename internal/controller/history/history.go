package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
)

// HashLabel is the pod (and revision) label naming the revision a pod was made from.
const HashLabel = appsv1.ControllerRevisionHashLabelKey

// maxCollisions bounds the retries of Create: each retry needs a distinct revision to hold the
// name, so more than a handful means something else keeps creating revisions under our names.
const maxCollisions = 20

// TemplatePatch encodes a pod template as the revision data upstream uses and kubectl applies on
// `rollout undo`: a strategic merge patch replacing spec.template. kubectl compares these bytes
// with its own encoding of the live object to see whether a rollback would change anything, so the
// encoding must be JSON with sorted keys (what encoding a map gives) of the template as
// encoding/json writes it.
func TemplatePatch(template *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, err
	}
	var t map[string]any
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	t["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": t}})
}

// Hash is the revision hash of data under a collision count (nil counts as 0), as a string safe
// for names and labels.
func Hash(data []byte, collisionCount *int32) string {
	h := fnv.New32a()
	h.Write(data)
	var b [4]byte
	if collisionCount != nil {
		binary.LittleEndian.PutUint32(b[:], uint32(*collisionCount))
	}
	h.Write(b[:])
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// Name is the revision's name: the parent's name, cut so that the whole stays a valid name, and
// the hash.
func Name(parent, hash string) string {
	const max = 253 - 1 - 10 // leave room for "-" and the longest hash
	if len(parent) > max {
		parent = parent[:max]
	}
	return parent + "-" + hash
}

// New builds the revision of a parent: the template labels (so kubectl finds it by the parent's
// selector), the parent's annotations (kubectl shows kubernetes.io/change-cause from them), a
// controller reference to the parent, and the hash label.
func New(parent metav1.Object, kind schema.GroupVersionKind, templateLabels map[string]string, data []byte, revision int64, collisionCount *int32) *appsv1.ControllerRevision {
	lbls := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		lbls[k] = v
	}
	var ann map[string]string
	if a := parent.GetAnnotations(); len(a) > 0 {
		ann = make(map[string]string, len(a))
		for k, v := range a {
			ann[k] = v
		}
	}
	hash := Hash(data, collisionCount)
	lbls[HashLabel] = hash
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            Name(parent.GetName(), hash),
			Namespace:       parent.GetNamespace(),
			Labels:          lbls,
			Annotations:     ann,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(parent, kind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
}

// Equal reports whether two revisions hold the same template.
func Equal(a, b *appsv1.ControllerRevision) bool {
	return bytes.Equal(dataOf(a), dataOf(b))
}

func dataOf(r *appsv1.ControllerRevision) []byte {
	if r.Data.Raw != nil {
		return r.Data.Raw
	}
	if r.Data.Object != nil {
		b, _ := json.Marshal(r.Data.Object)
		return b
	}
	return nil
}

// FindEqual returns the revisions holding the same template as needle, oldest revision first.
func FindEqual(revs []*appsv1.ControllerRevision, needle *appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	var out []*appsv1.ControllerRevision
	for _, r := range revs {
		if Equal(r, needle) {
			out = append(out, r)
		}
	}
	Sort(out)
	return out
}

// Sort orders revisions by revision number, then name, oldest first.
func Sort(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		if revs[i].Revision != revs[j].Revision {
			return revs[i].Revision < revs[j].Revision
		}
		return revs[i].Name < revs[j].Name
	})
}

// Next is the revision number after the newest of revs.
func Next(revs []*appsv1.ControllerRevision) int64 {
	var max int64
	for _, r := range revs {
		if r.Revision > max {
			max = r.Revision
		}
	}
	return max + 1
}

// Store reads revisions from an informer's cache and writes them through the API.
type Store struct {
	Client kubernetes.Interface
	Lister appslisters.ControllerRevisionLister
}

// Owned lists the revisions the parent controls among those its selector matches. Revisions are
// never adopted: one without a controller is not ours to renumber or delete.
func (s Store) Owned(parent metav1.Object, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := s.Lister.ControllerRevisions(parent.GetNamespace()).List(selector)
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ControllerRevision
	for _, r := range all {
		if ref := metav1.GetControllerOfNoCopy(r); ref != nil && ref.UID == parent.GetUID() {
			out = append(out, r)
		}
	}
	Sort(out)
	return out, nil
}

// Create stores rev, renaming it while its name is taken by a revision with other data. It
// returns the stored revision (an existing equal one counts) and the collision count to persist
// in the parent's status, which Create bumps on every collision.
func (s Store) Create(ctx context.Context, parent metav1.Object, rev *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, int32, error) {
	var count int32
	if collisionCount != nil {
		count = *collisionCount
	}
	for range maxCollisions {
		c := rev.DeepCopy()
		hash := Hash(dataOf(rev), &count)
		c.Name = Name(parent.GetName(), hash)
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[HashLabel] = hash
		created, err := s.Client.AppsV1().ControllerRevisions(parent.GetNamespace()).Create(ctx, c, metav1.CreateOptions{})
		if err == nil {
			return created, count, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, count, err
		}
		existing, err := s.Client.AppsV1().ControllerRevisions(parent.GetNamespace()).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			return nil, count, err
		}
		if ref := metav1.GetControllerOfNoCopy(existing); ref != nil && ref.UID == parent.GetUID() && Equal(existing, c) {
			return existing, count, nil
		}
		count++
	}
	return nil, count, fmt.Errorf("revision of %s/%s: %d hash collisions in a row", parent.GetNamespace(), parent.GetName(), maxCollisions)
}

// Renumber gives an existing revision a new revision number, as when a rollback makes an old
// template current again.
func (s Store) Renumber(ctx context.Context, rev *appsv1.ControllerRevision, revision int64) (*appsv1.ControllerRevision, error) {
	if rev.Revision == revision {
		return rev, nil
	}
	c := rev.DeepCopy()
	c.Revision = revision
	return s.Client.AppsV1().ControllerRevisions(c.Namespace).Update(ctx, c, metav1.UpdateOptions{})
}

// Truncate deletes the oldest revisions beyond limit, never one named in live. revs must be
// sorted oldest first (as Owned returns them).
func (s Store) Truncate(ctx context.Context, revs []*appsv1.ControllerRevision, live map[string]bool, limit int32) error {
	var removable []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			removable = append(removable, r)
		}
	}
	excess := len(removable) - int(max(limit, 0))
	for i := 0; i < excess; i++ {
		r := removable[i]
		err := s.Client.AppsV1().ControllerRevisions(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &r.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
