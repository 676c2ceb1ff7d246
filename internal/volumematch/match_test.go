package volumematch

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func claim(size string, mod ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "uid-1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse(size)}},
			StorageClassName: ptr("manual"),
		},
	}
	for _, m := range mod {
		m(c)
	}
	return c
}

func pv(name, size string, mod ...func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:         corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: "manual",
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	for _, m := range mod {
		m(v)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

func onNode(host string) func(*corev1.PersistentVolume) {
	return func(v *corev1.PersistentVolume) {
		v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{host}}}}}}}
	}
}

func node(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
}

func claimRef(name string, uid types.UID) func(*corev1.PersistentVolume) {
	return func(v *corev1.PersistentVolume) {
		v.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "ns", Name: name, UID: uid}
	}
}

func TestFind(t *testing.T) {
	rwx := func(v *corev1.PersistentVolume) {
		v.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteMany}
	}
	block := func(v *corev1.PersistentVolume) { v.Spec.VolumeMode = ptr(corev1.PersistentVolumeBlock) }
	labelled := func(v *corev1.PersistentVolume) { v.Labels = map[string]string{"tier": "fast"} }
	phase := func(p corev1.PersistentVolumePhase) func(*corev1.PersistentVolume) {
		return func(v *corev1.PersistentVolume) { v.Status.Phase = p }
	}
	deleting := func(v *corev1.PersistentVolume) { v.DeletionTimestamp = &metav1.Time{} }
	class := func(c string) func(*corev1.PersistentVolume) {
		return func(v *corev1.PersistentVolume) { v.Spec.StorageClassName = c }
	}

	cases := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		pvs   []*corev1.PersistentVolume
		opts  Options
		want  string // "" = no match
	}{
		{"smallest that fits", claim("1Gi"), []*corev1.PersistentVolume{pv("big", "10Gi"), pv("small", "500Mi"), pv("fit", "2Gi")}, Options{}, "fit"},
		{"exact size", claim("1Gi"), []*corev1.PersistentVolume{pv("a", "1Gi"), pv("b", "2Gi")}, Options{}, "a"},
		{"equal size: stable by name", claim("1Gi"), []*corev1.PersistentVolume{pv("b", "1Gi"), pv("a", "1Gi")}, Options{}, "a"},
		{"too small", claim("1Gi"), []*corev1.PersistentVolume{pv("a", "999Mi")}, Options{}, ""},
		{"class mismatch", claim("1Gi"), []*corev1.PersistentVolume{pv("a", "1Gi", class("other"))}, Options{}, ""},
		{"no class only matches no class", claim("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr("") }),
			[]*corev1.PersistentVolume{pv("a", "1Gi"), pv("b", "5Gi", class(""))}, Options{}, "b"},
		{"beta class annotation wins", claim("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: "other"}
		}), []*corev1.PersistentVolume{pv("a", "1Gi"), pv("b", "5Gi", class("other"))}, Options{}, "b"},
		{"access modes must be a superset", claim("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}), []*corev1.PersistentVolume{pv("a", "1Gi"), pv("b", "5Gi", rwx)}, Options{}, "b"},
		{"fewest access modes before size", claim("1Gi"), []*corev1.PersistentVolume{pv("many", "1Gi", rwx), pv("one", "5Gi")}, Options{}, "one"},
		{"volume mode", claim("1Gi"), []*corev1.PersistentVolume{pv("blk", "1Gi", block), pv("fs", "5Gi")}, Options{}, "fs"},
		{"block claim", claim("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = ptr(corev1.PersistentVolumeBlock) }),
			[]*corev1.PersistentVolume{pv("blk", "1Gi", block), pv("fs", "1Gi")}, Options{}, "blk"},
		{"selector", claim("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "fast"}}
		}), []*corev1.PersistentVolume{pv("plain", "1Gi"), pv("fast", "5Gi", labelled)}, Options{}, "fast"},
		{"invalid selector matches nothing", claim("1Gi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Bogus"}}}
		}), []*corev1.PersistentVolume{pv("a", "1Gi")}, Options{}, ""},
		{"not available phases", claim("1Gi"), []*corev1.PersistentVolume{pv("r", "1Gi", phase(corev1.VolumeReleased)),
			pv("f", "1Gi", phase(corev1.VolumeFailed)), pv("p", "1Gi", phase(corev1.VolumePending))}, Options{}, ""},
		{"deleting", claim("1Gi"), []*corev1.PersistentVolume{pv("a", "1Gi", deleting)}, Options{}, ""},
		{"bound to another claim", claim("1Gi"), []*corev1.PersistentVolume{pv("a", "1Gi", claimRef("other", "x"))}, Options{}, ""},
		{"pre-bound wins over smaller", claim("1Gi"), []*corev1.PersistentVolume{pv("small", "1Gi"), pv("mine", "9Gi", claimRef("data", ""), phase(corev1.VolumePending))}, Options{}, "mine"},
		{"pre-bound with other uid does not count", claim("1Gi"), []*corev1.PersistentVolume{pv("old", "1Gi", claimRef("data", "uid-0"))}, Options{}, ""},
		{"pre-bound that does not fit: no match", claim("1Gi"), []*corev1.PersistentVolume{pv("a", "1Gi"), pv("mine", "1Mi", claimRef("data", "uid-1"))}, Options{}, ""},
		{"delay binding without node: pre-bound only", claim("1Gi"), []*corev1.PersistentVolume{pv("a", "1Gi")}, Options{DelayBinding: true}, ""},
		{"delay binding pre-bound", claim("1Gi"), []*corev1.PersistentVolume{pv("a", "1Gi"), pv("mine", "2Gi", claimRef("data", "uid-1"))}, Options{DelayBinding: true}, "mine"},
		{"delay binding with node", claim("1Gi"), []*corev1.PersistentVolume{pv("a", "1Gi", onNode("n1"))}, Options{DelayBinding: true, Node: node("n1")}, "a"},
		{"node affinity", claim("1Gi"), []*corev1.PersistentVolume{pv("n1", "1Gi", onNode("n1")), pv("n2", "5Gi", onNode("n2"))}, Options{Node: node("n2")}, "n2"},
		{"no node: affinity ignored", claim("1Gi"), []*corev1.PersistentVolume{pv("n1", "1Gi", onNode("n1"))}, Options{}, "n1"},
		{"pre-bound on another node: no match", claim("1Gi"), []*corev1.PersistentVolume{pv("free", "1Gi", onNode("n2")), pv("mine", "1Gi", claimRef("data", ""), onNode("n1"))}, Options{Node: node("n2")}, ""},
		{"excluded", claim("1Gi"), []*corev1.PersistentVolume{pv("a", "1Gi"), pv("b", "2Gi")}, Options{Exclude: map[string]bool{"a": true}}, "b"},
		{"volumeName", claim("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "b" }),
			[]*corev1.PersistentVolume{pv("a", "1Gi"), pv("b", "5Gi", labelled, phase(corev1.VolumePending))}, Options{}, "b"},
		{"volumeName too small", claim("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "b" }),
			[]*corev1.PersistentVolume{pv("a", "1Gi"), pv("b", "5Mi")}, Options{}, ""},
		{"volumeName bound elsewhere", claim("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "b" }),
			[]*corev1.PersistentVolume{pv("b", "1Gi", claimRef("other", ""))}, Options{}, ""},
		{"volumeName missing", claim("1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "b" }),
			[]*corev1.PersistentVolume{pv("a", "1Gi")}, Options{}, ""},
		{"nil entries ignored", claim("1Gi"), []*corev1.PersistentVolume{nil, pv("a", "1Gi")}, Options{}, "a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Find(tc.claim, tc.pvs, tc.opts)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tc.want {
				t.Fatalf("got %q, want %q", name, tc.want)
			}
		})
	}
}

func TestFindBestMatchIsFindWithNode(t *testing.T) {
	pvs := []*corev1.PersistentVolume{pv("n1", "1Gi", onNode("n1")), pv("n2", "2Gi", onNode("n2"))}
	if got := FindBestMatch(claim("1Gi"), pvs, node("n2")); got == nil || got.Name != "n2" {
		t.Fatalf("got %v, want n2", got)
	}
	if got := FindBestMatch(claim("1Gi"), pvs, nil); got == nil || got.Name != "n1" {
		t.Fatalf("got %v, want n1", got)
	}
	if FindBestMatch(nil, pvs, nil) != nil {
		t.Fatal("nil claim matched")
	}
}

func TestNodeMatchesFields(t *testing.T) {
	v := pv("a", "1Gi", func(v *corev1.PersistentVolume) {
		v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{
				Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}}}}}
	})
	if !NodeMatches(v, node("n1")) || NodeMatches(v, node("n2")) {
		t.Fatal("matchFields on metadata.name not honoured")
	}
}

func TestClaimFitsReasons(t *testing.T) {
	cases := []struct {
		name string
		pv   *corev1.PersistentVolume
		ok   bool
	}{
		{"fits", pv("a", "1Gi"), true},
		{"small", pv("a", "1Mi"), false},
		{"class", pv("a", "1Gi", func(v *corev1.PersistentVolume) { v.Spec.StorageClassName = "x" }), false},
		{"modes", pv("a", "1Gi", func(v *corev1.PersistentVolume) {
			v.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}
		}), false},
		{"deleting", pv("a", "1Gi", func(v *corev1.PersistentVolume) { v.DeletionTimestamp = &metav1.Time{} }), false},
	}
	for _, tc := range cases {
		err := ClaimFits(claim("1Gi"), tc.pv)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err=%v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
