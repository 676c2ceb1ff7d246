package controllerref

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var rsKind = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}

func pod(name string, lbl map[string]string, owner types.UID) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: lbl}}
	if owner != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "o", UID: owner, Controller: ptr.To(true)}}
	}
	return p
}

func TestClaim(t *testing.T) {
	match := map[string]string{"app": "a"}
	other := map[string]string{"app": "b"}
	now := metav1.Now()
	tests := []struct {
		name          string
		ownerDeleting bool
		freshErr      error
		adoptable     func(metav1.Object) bool
		pods          []*corev1.Pod
		wantClaimed   []string
		wantPatched   map[string]string // name -> "adopt" | "release"
		wantErr       bool
	}{
		{name: "owned and matching", pods: []*corev1.Pod{pod("a", match, "owner")}, wantClaimed: []string{"a"}, wantPatched: map[string]string{}},
		{name: "orphan matching is adopted", pods: []*corev1.Pod{pod("a", match, "")}, wantClaimed: []string{"a"}, wantPatched: map[string]string{"a": "adopt"}},
		{name: "orphan not matching is ignored", pods: []*corev1.Pod{pod("a", other, "")}, wantPatched: map[string]string{}},
		{name: "owned not matching is released", pods: []*corev1.Pod{pod("a", other, "owner")}, wantPatched: map[string]string{"a": "release"}},
		{name: "other controller's pod is left alone", pods: []*corev1.Pod{pod("a", match, "someone")}, wantPatched: map[string]string{}},
		{name: "deleting owner adopts and releases nothing", ownerDeleting: true,
			pods: []*corev1.Pod{pod("a", match, ""), pod("b", other, "owner"), pod("c", match, "owner")}, wantClaimed: []string{"c"}, wantPatched: map[string]string{}},
		{name: "owner gone on fresh read: no adoption", freshErr: apierrors.NewNotFound(rsKind.GroupVersion().WithResource("replicasets").GroupResource(), "o"),
			pods: []*corev1.Pod{pod("a", match, "")}, wantPatched: map[string]string{}, wantErr: true},
		{name: "adoptable narrows adoption, not release", adoptable: func(o metav1.Object) bool { return o.GetName() == "a" },
			pods:        []*corev1.Pod{pod("a", match, ""), pod("b", match, ""), pod("c", match, "owner"), pod("d", other, "owner")},
			wantClaimed: []string{"a", "c"}, wantPatched: map[string]string{"a": "adopt", "d": "release"}},
		{name: "deleting pod is not adopted", pods: func() []*corev1.Pod {
			p := pod("a", match, "")
			p.DeletionTimestamp = &now
			return []*corev1.Pod{p}
		}(), wantPatched: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner := &metav1.ObjectMeta{Name: "o", Namespace: "ns", UID: "owner"}
			if tt.ownerDeleting {
				owner.DeletionTimestamp = &now
			}
			patched := map[string]string{}
			m := &Manager{Owner: owner, OwnerKind: rsKind, Selector: labels.SelectorFromSet(match), Adoptable: tt.adoptable,
				Fresh: func(context.Context) (metav1.Object, error) {
					if tt.freshErr != nil {
						return nil, tt.freshErr
					}
					return owner, nil
				},
				Patch: func(_ context.Context, name string, data []byte) (metav1.Object, error) {
					var p struct {
						Metadata struct {
							OwnerReferences []map[string]any `json:"ownerReferences"`
						} `json:"metadata"`
					}
					if err := json.Unmarshal(data, &p); err != nil {
						return nil, err
					}
					if len(p.Metadata.OwnerReferences) != 1 {
						return nil, errors.New("want one owner reference in the patch")
					}
					r := p.Metadata.OwnerReferences[0]
					if r["uid"] != "owner" {
						return nil, errors.New("patch names the wrong owner")
					}
					if r["$patch"] == "delete" {
						patched[name] = "release"
					} else if r["controller"] == true && r["kind"] == "ReplicaSet" {
						patched[name] = "adopt"
					}
					// What the server answers: Claim returns it in place of the cached object.
					return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"answer": "server"}}}, nil
				}}
			got, err := Claim(context.Background(), m, tt.pods)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			if len(names) != len(tt.wantClaimed) {
				t.Fatalf("claimed %v, want %v", names, tt.wantClaimed)
			}
			for i := range names {
				if names[i] != tt.wantClaimed[i] {
					t.Fatalf("claimed %v, want %v", names, tt.wantClaimed)
				}
			}
			for _, p := range got {
				if fromServer := p.Annotations["answer"] == "server"; fromServer != (tt.wantPatched[p.Name] == "adopt") {
					t.Errorf("claimed %s: the server's answer %v, want it only for adopted objects", p.Name, fromServer)
				}
			}
			if len(patched) != len(tt.wantPatched) {
				t.Fatalf("patched %v, want %v", patched, tt.wantPatched)
			}
			for k, v := range tt.wantPatched {
				if patched[k] != v {
					t.Fatalf("patched %v, want %v", patched, tt.wantPatched)
				}
			}
		})
	}
}
