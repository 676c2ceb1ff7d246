package plugins

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func tolerations(ts ...corev1.Toleration) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Tolerations = ts }
}

func TestTaintTolerationFilter(t *testing.T) {
	noSched := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	noExec := corev1.Taint{Key: "gone", Value: "", Effect: corev1.TaintEffectNoExecute}
	prefer := corev1.Taint{Key: "soft", Value: "x", Effect: corev1.TaintEffectPreferNoSchedule}
	tests := []struct {
		name   string
		pod    *corev1.Pod
		taints []corev1.Taint
		want   string
	}{
		{"no taints", pod("p", 0, 0), nil, ""},
		{"untolerated NoSchedule", pod("p", 0, 0), []corev1.Taint{noSched}, "node(s) had untolerated taint {dedicated: db}"},
		{"untolerated NoExecute", pod("p", 0, 0), []corev1.Taint{noExec}, "node(s) had untolerated taint {gone: }"},
		{"PreferNoSchedule does not filter", pod("p", 0, 0), []corev1.Taint{prefer}, ""},
		{"tolerated by Equal", pod("p", 0, 0, tolerations(corev1.Toleration{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})),
			[]corev1.Taint{noSched}, ""},
		{"value mismatch", pod("p", 0, 0, tolerations(corev1.Toleration{Key: "dedicated", Value: "web"})), []corev1.Taint{noSched},
			"node(s) had untolerated taint {dedicated: db}"},
		{"tolerated by Exists without key", pod("p", 0, 0, tolerations(corev1.Toleration{Operator: corev1.TolerationOpExists})),
			[]corev1.Taint{noSched, noExec}, ""},
		{"effect mismatch", pod("p", 0, 0, tolerations(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})),
			[]corev1.Taint{noSched}, "node(s) had untolerated taint {dedicated: db}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := filterAll(TaintToleration{}, tc.pod, nodeInfo(node("n", 1000, gi, 110, withTaints(tc.taints...))))["n"]
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTaintTolerationScore(t *testing.T) {
	prefer := func(k string) corev1.Taint {
		return corev1.Taint{Key: k, Value: "v", Effect: corev1.TaintEffectPreferNoSchedule}
	}
	n0 := nodeInfo(node("n0", 1000, gi, 110))
	n1 := nodeInfo(node("n1", 1000, gi, 110, withTaints(prefer("a"))))
	n2 := nodeInfo(node("n2", 1000, gi, 110, withTaints(prefer("a"), prefer("b"))))
	if got := scoreAll(TaintToleration{}, pod("p", 0, 0), n0, n1, n2); !reflect.DeepEqual(got, []int64{100, 50, 0}) {
		t.Errorf("scores = %v, want [100 50 0]", got)
	}
	// Tolerating "a" (effect PreferNoSchedule) leaves only n2's "b".
	tol := pod("p", 0, 0, tolerations(corev1.Toleration{Key: "a", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectPreferNoSchedule}))
	if got := scoreAll(TaintToleration{}, tol, n0, n1, n2); !reflect.DeepEqual(got, []int64{100, 100, 0}) {
		t.Errorf("scores with toleration = %v, want [100 100 0]", got)
	}
	// A NoSchedule toleration does not count for PreferNoSchedule taints.
	tolNS := pod("p", 0, 0, tolerations(corev1.Toleration{Key: "a", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}))
	if got := scoreAll(TaintToleration{}, tolNS, n0, n1); !reflect.DeepEqual(got, []int64{100, 0}) {
		t.Errorf("scores with NoSchedule toleration = %v, want [100 0]", got)
	}
}

func TestNodeUnschedulableAndReady(t *testing.T) {
	cordoned := node("n", 1000, gi, 110, func(n *corev1.Node) { n.Spec.Unschedulable = true })
	if got := filterAll(NodeUnschedulable{}, pod("p", 0, 0), nodeInfo(cordoned))["n"]; got != ReasonUnschedulable {
		t.Errorf("cordoned: %q", got)
	}
	tol := pod("p", 0, 0, tolerations(corev1.Toleration{Key: TaintUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}))
	if got := filterAll(NodeUnschedulable{}, tol, nodeInfo(cordoned))["n"]; got != "" {
		t.Errorf("cordoned, tolerated: %q", got)
	}
	for _, tc := range []struct {
		name   string
		status corev1.ConditionStatus
		want   string
	}{
		{"ready", corev1.ConditionTrue, ""},
		{"not ready", corev1.ConditionFalse, "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"},
		{"unknown", corev1.ConditionUnknown, "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"},
		{"no condition", "", "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"},
	} {
		n := node("n", 1000, gi, 110, func(n *corev1.Node) {
			n.Status.Conditions = nil
			if tc.status != "" {
				n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: tc.status}}
			}
		})
		if got := filterAll(NodeReady{}, pod("p", 0, 0), nodeInfo(n))["n"]; got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	notReady := node("n", 1000, gi, 110, func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse })
	ds := pod("p", 0, 0, tolerations(corev1.Toleration{Key: TaintNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}))
	if got := filterAll(NodeReady{}, ds, nodeInfo(notReady))["n"]; got != "node(s) had untolerated taint {node.kubernetes.io/not-ready: }" {
		t.Errorf("NoExecute toleration must not cover the NoSchedule taint: %q", got)
	}
	ds.Spec.Tolerations[0].Effect = ""
	if got := filterAll(NodeReady{}, ds, nodeInfo(notReady))["n"]; got != "" {
		t.Errorf("toleration of every effect: %q", got)
	}
}

func TestNodeName(t *testing.T) {
	p := pod("p", 0, 0, func(p *corev1.Pod) { p.Spec.NodeName = "b" })
	got := filterAll(NodeName{}, p, nodeInfo(node("a", 1, 1, 1)), nodeInfo(node("b", 1, 1, 1)))
	if got["a"] != ReasonNodeName || got["b"] != "" {
		t.Errorf("got %v", got)
	}
}

func TestNodeAffinity(t *testing.T) {
	req := func(terms ...corev1.NodeSelectorTerm) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
		}
	}
	expr := func(key string, op corev1.NodeSelectorOperator, vals ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: vals}}}
	}
	a := nodeInfo(node("a", 1, 1, 1, withLabels("zone", "z1", "disk", "ssd", "gen", "3")))
	b := nodeInfo(node("b", 1, 1, 1, withLabels("zone", "z2")))
	tests := []struct {
		name string
		pod  *corev1.Pod
		want map[string]string
	}{
		{"nodeSelector", pod("p", 0, 0, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			map[string]string{"a": "", "b": ReasonNodeAffinity}},
		{"In", pod("p", 0, 0, req(expr("zone", corev1.NodeSelectorOpIn, "z2"))), map[string]string{"a": ReasonNodeAffinity, "b": ""}},
		{"terms are ORed", pod("p", 0, 0, req(expr("zone", corev1.NodeSelectorOpIn, "z2"), expr("disk", corev1.NodeSelectorOpExists))),
			map[string]string{"a": "", "b": ""}},
		{"DoesNotExist", pod("p", 0, 0, req(expr("disk", corev1.NodeSelectorOpDoesNotExist))), map[string]string{"a": ReasonNodeAffinity, "b": ""}},
		{"Gt", pod("p", 0, 0, req(expr("gen", corev1.NodeSelectorOpGt, "2"))), map[string]string{"a": "", "b": ReasonNodeAffinity}},
		{"matchFields metadata.name", pod("p", 0, 0, req(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
			{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}})), map[string]string{"a": ReasonNodeAffinity, "b": ""}},
		{"selector and affinity both apply", pod("p", 0, 0, req(expr("zone", corev1.NodeSelectorOpExists)), func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"zone": "z1"}
		}), map[string]string{"a": "", "b": ReasonNodeAffinity}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := filterAll(NodeAffinity{}, tc.pod, a, b); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	pref := pod("p", 0, 0, func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
			{Weight: 2, Preference: expr("zone", corev1.NodeSelectorOpIn, "z1")},
			{Weight: 8, Preference: expr("zone", corev1.NodeSelectorOpIn, "z2")},
		}}}
	})
	c := nodeInfo(node("c", 1, 1, 1))
	if got := scoreAll(NodeAffinity{}, pref, a, b, c); !reflect.DeepEqual(got, []int64{25, 100, 0}) {
		t.Errorf("preferred scores = %v, want [25 100 0]", got)
	}
}
