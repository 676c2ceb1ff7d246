package nodestatus

import (
	"context"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clienttesting "k8s.io/client-go/testing"
)

func TestRegisterCreates(t *testing.T) {
	taint := corev1.Taint{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoExecute}
	a := newTestAgent(t, func(c *Config) {
		c.Labels = map[string]string{"tier": "edge", corev1.LabelHostname: "custom"}
		c.RegisterWithTaints = []corev1.Taint{taint}
		c.Unschedulable = true
		c.PodCIDR = "10.244.3.0/24"
	})
	ctx := context.Background()
	if err := a.register(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Registered():
	default:
		t.Error("Registered not closed after registration")
	}
	n, err := a.client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{
		"tier": "edge", corev1.LabelHostname: "custom",
		corev1.LabelOSStable: runtime.GOOS, corev1.LabelArchStable: runtime.GOARCH,
		"beta.kubernetes.io/os": runtime.GOOS, "beta.kubernetes.io/arch": runtime.GOARCH,
	}
	if !equality.Semantic.DeepEqual(n.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", n.Labels, wantLabels)
	}
	wantTaints := []corev1.Taint{taint, {Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}}
	if !n.Spec.Unschedulable || !equality.Semantic.DeepEqual(n.Spec.Taints, wantTaints) {
		t.Errorf("spec = %+v", n.Spec)
	}
	if n.Spec.PodCIDR != "10.244.3.0/24" || len(n.Spec.PodCIDRs) != 1 || a.PodCIDR() != "10.244.3.0/24" {
		t.Errorf("podCIDR = %q %v, PodCIDR() = %q", n.Spec.PodCIDR, n.Spec.PodCIDRs, a.PodCIDR())
	}
	if condition(n, corev1.NodeReady) == nil {
		t.Error("status not sent with the create")
	}
}

// TestRegisterReconciles: an existing Node keeps what others set and gets the agent's default
// labels back.
func TestRegisterReconciles(t *testing.T) {
	cases := []struct {
		name      string
		existing  corev1.Node
		cfgCIDR   string
		wantCIDR  string
		wantPatch bool
	}{
		{
			name: "others' fields survive, wrong default label fixed",
			existing: corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "7", Labels: map[string]string{
					corev1.LabelHostname: "old-host", "team": "a", corev1.LabelOSStable: runtime.GOOS,
				}},
				Spec: corev1.NodeSpec{Unschedulable: true, PodCIDR: "10.244.9.0/24", PodCIDRs: []string{"10.244.9.0/24"},
					Taints: []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectNoSchedule}}},
			},
			cfgCIDR: "10.244.3.0/24", wantCIDR: "10.244.9.0/24", wantPatch: true,
		},
		{
			name: "empty pod CIDR filled from config",
			existing: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "7", Labels: map[string]string{
				corev1.LabelHostname: "n1", corev1.LabelOSStable: runtime.GOOS, corev1.LabelArchStable: runtime.GOARCH,
				"beta.kubernetes.io/os": runtime.GOOS, "beta.kubernetes.io/arch": runtime.GOARCH,
			}}},
			cfgCIDR: "10.244.3.0/24", wantCIDR: "10.244.3.0/24", wantPatch: true,
		},
		{
			name: "nothing to do: no write",
			existing: corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "7", Labels: map[string]string{
				corev1.LabelHostname: "n1", corev1.LabelOSStable: runtime.GOOS, corev1.LabelArchStable: runtime.GOARCH,
				"beta.kubernetes.io/os": runtime.GOOS, "beta.kubernetes.io/arch": runtime.GOARCH, "team": "b",
			}}},
			wantPatch: false,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAgent(t, func(c *Config) {
				c.PodCIDR = tc.cfgCIDR
				c.Labels = map[string]string{"ignored-on-existing": "yes"}
				c.RegisterWithTaints = []corev1.Taint{{Key: "ignored", Effect: corev1.TaintEffectNoSchedule}}
			}, tc.existing)
			ctx := context.Background()
			if err := a.register(ctx); err != nil {
				t.Fatal(err)
			}
			patches := 0
			for _, act := range a.client.Actions() {
				if act.GetVerb() == "patch" {
					patches++
					if p := act.(clienttesting.PatchAction); p.GetSubresource() != "" {
						t.Errorf("reconcile patched subresource %q", p.GetSubresource())
					}
				}
			}
			if (patches > 0) != tc.wantPatch {
				t.Errorf("%d patches, want patch=%v", patches, tc.wantPatch)
			}
			n, err := a.client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.existing.Labels {
				if k == corev1.LabelHostname {
					continue
				}
				if n.Labels[k] != v {
					t.Errorf("label %s = %q, want %q kept", k, n.Labels[k], v)
				}
			}
			if n.Labels[corev1.LabelHostname] != "n1" || n.Labels[corev1.LabelArchStable] != runtime.GOARCH {
				t.Errorf("default labels not reconciled: %v", n.Labels)
			}
			if _, ok := n.Labels["ignored-on-existing"]; ok {
				t.Error("configured labels applied to an existing node (upstream applies them only at creation)")
			}
			if n.Spec.Unschedulable != tc.existing.Spec.Unschedulable || !equality.Semantic.DeepEqual(n.Spec.Taints, tc.existing.Spec.Taints) {
				t.Errorf("cordon/taints not kept: %+v", n.Spec)
			}
			if n.Spec.PodCIDR != tc.wantCIDR || a.PodCIDR() != tc.wantCIDR && tc.wantCIDR != "" {
				t.Errorf("podCIDR = %q, PodCIDR() = %q, want %q", n.Spec.PodCIDR, a.PodCIDR(), tc.wantCIDR)
			}
		})
	}
}

func TestMetaSpecPatchCarriesResourceVersion(t *testing.T) {
	old := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "42", Labels: map[string]string{"a": "1"}}}
	n := old.DeepCopy()
	n.Labels["b"] = "2"
	n.Spec.PodCIDR = "10.0.0.0/24"
	p, err := metaSpecPatch(old, n)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"metadata":{"labels":{"b":"2"},"resourceVersion":"42"},"spec":{"podCIDR":"10.0.0.0/24"}}`
	if string(p) != want {
		t.Errorf("patch = %s, want %s", p, want)
	}
}

// TestRegisterAnnotations: the agent's annotations are set at creation and put back on an
// existing Node, and nobody else's annotation is touched.
func TestRegisterAnnotations(t *testing.T) {
	const key = "skiff.dev/local-path-root"
	defaultLabels := map[string]string{
		corev1.LabelHostname: "n1", corev1.LabelOSStable: runtime.GOOS, corev1.LabelArchStable: runtime.GOARCH,
		"beta.kubernetes.io/os": runtime.GOOS, "beta.kubernetes.io/arch": runtime.GOARCH,
	}
	cases := []struct {
		name      string
		existing  []corev1.Node
		want      map[string]string
		wantPatch bool
	}{
		{name: "created with it", want: map[string]string{key: "/data/storage/local-path"}},
		{
			name: "existing without it gets it, others' kept",
			existing: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "3", Labels: defaultLabels,
				Annotations: map[string]string{"other": "x"}}}},
			want: map[string]string{key: "/data/storage/local-path", "other": "x"}, wantPatch: true,
		},
		{
			name: "existing with a stale root is corrected",
			existing: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "3", Labels: defaultLabels,
				Annotations: map[string]string{key: "/old/storage/local-path"}}}},
			want: map[string]string{key: "/data/storage/local-path"}, wantPatch: true,
		},
		{
			name: "existing already right: no write",
			existing: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "3", Labels: defaultLabels,
				Annotations: map[string]string{key: "/data/storage/local-path"}}}},
			want: map[string]string{key: "/data/storage/local-path"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAgent(t, func(c *Config) {
				c.Annotations = map[string]string{key: "/data/storage/local-path"}
			}, tc.existing...)
			ctx := context.Background()
			if err := a.register(ctx); err != nil {
				t.Fatal(err)
			}
			patches := 0
			for _, act := range a.client.Actions() {
				if act.GetVerb() == "patch" {
					patches++
				}
			}
			if (patches > 0) != tc.wantPatch {
				t.Errorf("%d patches, want patch=%v", patches, tc.wantPatch)
			}
			n, err := a.client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(n.Annotations, tc.want) {
				t.Errorf("annotations = %v, want %v", n.Annotations, tc.want)
			}
		})
	}
}
