package plugins

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

func term(key string, sel map[string]string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: sel}}
}

func affinity(req, anti []corev1.PodAffinityTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{}
		if req != nil {
			p.Spec.Affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: req}
		}
		if anti != nil {
			p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: anti}
		}
	}
}

func zoned(name, zone string) *corev1.Node {
	return node(name, 4000, 8*gi, 110, withLabels(corev1.LabelTopologyZone, zone))
}

func TestInterPodAffinityFilter(t *testing.T) {
	db := map[string]string{"app": "db"}
	tests := []struct {
		name string
		pod  *corev1.Pod
		// pods on nodes a (zone z1), b (zone z1), c (zone z2)
		a, b, c []*corev1.Pod
		want    map[string]string
	}{
		{"affinity to a zone holding a db", pod("p", 0, 0, affinity([]corev1.PodAffinityTerm{term(corev1.LabelTopologyZone, db)}, nil)),
			nil, []*corev1.Pod{pod("db", 0, 0, podLabels("app", "db"))}, nil,
			map[string]string{"a": "", "b": "", "c": ReasonAffinity}},
		{"affinity with no match anywhere", pod("p", 0, 0, affinity([]corev1.PodAffinityTerm{term(corev1.LabelTopologyZone, db)}, nil)),
			nil, nil, []*corev1.Pod{pod("web", 0, 0, podLabels("app", "web"))},
			map[string]string{"a": ReasonAffinity, "b": ReasonAffinity, "c": ReasonAffinity}},
		{"first pod of a self-selecting group goes anywhere", pod("p", 0, 0, podLabels("app", "db"), affinity([]corev1.PodAffinityTerm{term(corev1.LabelTopologyZone, db)}, nil)),
			nil, nil, nil, map[string]string{"a": "", "b": "", "c": ""}},
		{"anti-affinity per host", pod("p", 0, 0, affinity(nil, []corev1.PodAffinityTerm{term(corev1.LabelHostname, db)})),
			[]*corev1.Pod{pod("db", 0, 0, podLabels("app", "db"))}, nil, nil,
			map[string]string{"a": ReasonAntiAffinity, "b": "", "c": ""}},
		{"anti-affinity per zone", pod("p", 0, 0, affinity(nil, []corev1.PodAffinityTerm{term(corev1.LabelTopologyZone, db)})),
			[]*corev1.Pod{pod("db", 0, 0, podLabels("app", "db"))}, nil, nil,
			map[string]string{"a": ReasonAntiAffinity, "b": ReasonAntiAffinity, "c": ""}},
		{"existing pod's anti-affinity against the incoming pod", pod("p", 0, 0, podLabels("app", "web")), nil, nil,
			[]*corev1.Pod{pod("e", 0, 0, affinity(nil, []corev1.PodAffinityTerm{term(corev1.LabelTopologyZone, map[string]string{"app": "web"})}))},
			map[string]string{"a": "", "b": "", "c": ReasonExistingAnti}},
		{"other namespace does not match", pod("p", 0, 0, affinity(nil, []corev1.PodAffinityTerm{term(corev1.LabelHostname, db)})),
			[]*corev1.Pod{pod("db", 0, 0, podLabels("app", "db"), func(p *corev1.Pod) { p.Namespace = "other" })}, nil, nil,
			map[string]string{"a": "", "b": "", "c": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := filterAll(InterPodAffinity{}, tc.pod,
				nodeInfo(zoned("a", "z1"), tc.a...), nodeInfo(zoned("b", "z1"), tc.b...), nodeInfo(zoned("c", "z2"), tc.c...))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInterPodAffinityScore(t *testing.T) {
	p := pod("p", 0, 0, func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{
			PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
				{Weight: 5, PodAffinityTerm: term(corev1.LabelTopologyZone, map[string]string{"app": "cache"})}}},
			PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
				{Weight: 5, PodAffinityTerm: term(corev1.LabelHostname, map[string]string{"app": "noisy"})}}},
		}
	})
	a := nodeInfo(zoned("a", "z1"), pod("cache", 0, 0, podLabels("app", "cache")), pod("noisy", 0, 0, podLabels("app", "noisy")))
	b := nodeInfo(zoned("b", "z1"))
	c := nodeInfo(zoned("c", "z2"))
	// raw: a = +5 (zone) -5 (host) = 0, b = +5, c = 0 → normalised a 0, b 100, c 0.
	if got := scoreAll(InterPodAffinity{}, p, a, b, c); !reflect.DeepEqual(got, []int64{0, 100, 0}) {
		t.Errorf("scores = %v, want [0 100 0]", got)
	}
}

func spread(maxSkew int32, key string, when corev1.UnsatisfiableConstraintAction, sel map[string]string, mutate ...func(*corev1.TopologySpreadConstraint)) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		c := corev1.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when, LabelSelector: &metav1.LabelSelector{MatchLabels: sel}}
		for _, m := range mutate {
			m(&c)
		}
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, c)
	}
}

func TestPodTopologySpreadFilter(t *testing.T) {
	web := map[string]string{"app": "web"}
	w := func(n string) *corev1.Pod { return pod(n, 0, 0, podLabels("app", "web")) }
	tests := []struct {
		name    string
		pod     *corev1.Pod
		a, b, c []*corev1.Pod // a, b in z1; c in z2
		nolabel bool          // a node "d" without the zone label
		want    map[string]string
	}{
		{"zone skew 1: z1 has 2, z2 has 1", pod("p", 0, 0, podLabels("app", "web"), spread(1, corev1.LabelTopologyZone, corev1.DoNotSchedule, web)),
			[]*corev1.Pod{w("1")}, []*corev1.Pod{w("2")}, []*corev1.Pod{w("3")}, false,
			map[string]string{"a": ReasonSpread, "b": ReasonSpread, "c": ""}},
		{"maxSkew 2 allows it", pod("p", 0, 0, podLabels("app", "web"), spread(2, corev1.LabelTopologyZone, corev1.DoNotSchedule, web)),
			[]*corev1.Pod{w("1")}, []*corev1.Pod{w("2")}, []*corev1.Pod{w("3")}, false,
			map[string]string{"a": "", "b": "", "c": ""}},
		{"hostname skew", pod("p", 0, 0, podLabels("app", "web"), spread(1, corev1.LabelHostname, corev1.DoNotSchedule, web)),
			[]*corev1.Pod{w("1")}, nil, nil, false,
			map[string]string{"a": ReasonSpread, "b": "", "c": ""}},
		{"missing label", pod("p", 0, 0, podLabels("app", "web"), spread(1, corev1.LabelTopologyZone, corev1.DoNotSchedule, web)),
			nil, nil, nil, true,
			map[string]string{"a": "", "b": "", "c": "", "d": ReasonSpreadMissingLabel}},
		{"minDomains above the domains present treats the minimum as 0", pod("p", 0, 0, podLabels("app", "web"),
			spread(1, corev1.LabelTopologyZone, corev1.DoNotSchedule, web, func(c *corev1.TopologySpreadConstraint) { c.MinDomains = ptr.To[int32](3) })),
			nil, nil, []*corev1.Pod{w("3")}, false,
			map[string]string{"a": "", "b": "", "c": ReasonSpread}},
		{"ScheduleAnyway does not filter", pod("p", 0, 0, podLabels("app", "web"), spread(1, corev1.LabelTopologyZone, corev1.ScheduleAnyway, web)),
			[]*corev1.Pod{w("1"), w("2")}, nil, nil, false,
			map[string]string{"a": "", "b": "", "c": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := []*corev1.Node{zoned("a", "z1"), zoned("b", "z1"), zoned("c", "z2")}
			infos := []*fw.NodeInfo{nodeInfo(nodes[0], tc.a...), nodeInfo(nodes[1], tc.b...), nodeInfo(nodes[2], tc.c...)}
			if tc.nolabel {
				infos = append(infos, nodeInfo(node("d", 4000, 8*gi, 110)))
			}
			if got := filterAll(PodTopologySpread{}, tc.pod, infos...); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPodTopologySpreadScore(t *testing.T) {
	web := map[string]string{"app": "web"}
	w := func(n string) *corev1.Pod { return pod(n, 0, 0, podLabels("app", "web")) }
	p := pod("p", 0, 0, podLabels("app", "web"), spread(1, corev1.LabelHostname, corev1.ScheduleAnyway, web))
	a := nodeInfo(node("a", 4000, 8*gi, 110), w("1"), w("2"))
	b := nodeInfo(node("b", 4000, 8*gi, 110), w("3"))
	c := nodeInfo(node("c", 4000, 8*gi, 110))
	got := scoreAll(PodTopologySpread{}, p, a, b, c)
	if !(got[2] > got[1] && got[1] > got[0]) || got[2] != 100 {
		t.Errorf("scores = %v, want strictly increasing to 100 for fewer matching pods", got)
	}
}

func TestSelectorSpread(t *testing.T) {
	owner := func(uid string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: k8stypes.UID("rs-" + uid), Controller: ptr.To(true)}}
		}
	}
	a := nodeInfo(node("a", 4000, 8*gi, 110), pod("1", 0, 0, owner("x")), pod("2", 0, 0, owner("x")))
	b := nodeInfo(node("b", 4000, 8*gi, 110), pod("3", 0, 0, owner("x")), pod("4", 0, 0, owner("y")))
	c := nodeInfo(node("c", 4000, 8*gi, 110), pod("5", 0, 0, owner("y")))
	if got := scoreAll(SelectorSpread{}, pod("p", 0, 0, owner("x")), a, b, c); !reflect.DeepEqual(got, []int64{0, 50, 100}) {
		t.Errorf("scores = %v, want [0 50 100]", got)
	}
	if got := scoreAll(SelectorSpread{}, pod("p", 0, 0), a, b, c); !reflect.DeepEqual(got, []int64{0, 0, 0}) {
		t.Errorf("pod without a controller: %v, want zeros", got)
	}
}

func TestVolumeBinding(t *testing.T) {
	pvcs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	pvs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	scs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	pvcs.Add(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bound"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"}})
	pvcs.Add(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "unbound"}})
	pvs.Add(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{
		Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}}}}}}})
	scs.Add(&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local"}})
	vb := VolumeBinding{PVCs: corelisters.NewPersistentVolumeClaimLister(pvcs), PVs: corelisters.NewPersistentVolumeLister(pvs),
		StorageClasses: storagelisters.NewStorageClassLister(scs)}
	claim := func(name string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}})
		}
	}
	a, b := nodeInfo(node("a", 1, 1, 1)), nodeInfo(node("b", 1, 1, 1))
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want map[string]string
	}{
		{"no volumes", pod("p", 0, 0), map[string]string{"a": "", "b": ""}},
		{"bound PV with node affinity", pod("p", 0, 0, claim("bound")), map[string]string{"a": ReasonVolumeNodeAffinity, "b": ""}},
		{"unbound immediate claim", pod("p", 0, 0, claim("unbound")), map[string]string{"a": "prefilter: " + ReasonUnboundImmediate, "b": "prefilter: " + ReasonUnboundImmediate}},
		{"missing claim", pod("p", 0, 0, claim("nope")), map[string]string{"a": `prefilter: persistentvolumeclaim "nope" not found`, "b": `prefilter: persistentvolumeclaim "nope" not found`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := filterAll(vb, tc.pod, a, b); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
