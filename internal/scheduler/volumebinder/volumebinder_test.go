package volumebinder

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/skiff-dev/skiff/internal/localpath"
	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
	"github.com/skiff-dev/skiff/internal/scheduler/plugins"
)

func class(name, provisioner string, mod ...func(*storagev1.StorageClass)) *storagev1.StorageClass {
	m := storagev1.VolumeBindingWaitForFirstConsumer
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &m}
	for _, f := range mod {
		f(sc)
	}
	return sc
}

func claim(name, className string, mod ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &className,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	for _, f := range mod {
		f(c)
	}
	return c
}

func selected(node string) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) { c.Annotations = map[string]string{AnnSelectedNode: node} }
}

func localPV(name, className, node string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{StorageClassName: className,
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/data/" + name}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}}},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable}}
}

func node(name string, root bool, zone string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	if root {
		n.Annotations = map[string]string{localpath.RootAnnotation: "/var/lib/skiff/storage/local-path"}
	}
	if zone != "" {
		n.Labels["topology.kubernetes.io/zone"] = zone
	}
	return n
}

func podWith(name string, claims ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("pod-" + name)}}
	for i, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "v" + string(rune('a'+i)),
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	return p
}

type env struct {
	b      *Binder
	client *fake.Clientset
	f      informers.SharedInformerFactory
	clock  *clocktesting.FakeClock
}

// newEnv builds a binder on a fake API whose informers run, so writes come back as events.
func newEnv(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	client := fake.NewSimpleClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(time.Now())
	b, err := New(Config{Client: client, Informers: f, Clock: clk, BindTimeout: time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return &env{b: b, client: client, f: f, clock: clk}
}

func (e *env) claims(t *testing.T, names ...string) []*corev1.PersistentVolumeClaim {
	t.Helper()
	var out []*corev1.PersistentVolumeClaim
	for _, n := range names {
		c, err := e.b.claims.PersistentVolumeClaims("ns").Get(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func reason(st *fw.Status) string {
	if st.IsSuccess() {
		return ""
	}
	return st.Message()
}

func TestFilter(t *testing.T) {
	static := class("static", noProvisioner)
	lp := class("local-path", localpath.Provisioner)
	zoned := class("zoned", localpath.Provisioner, func(sc *storagev1.StorageClass) {
		sc.AllowedTopologies = []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
			{Key: "topology.kubernetes.io/zone", Values: []string{"z1"}}}}}
	})
	external := class("ext", "example.com/nfs")
	cases := []struct {
		name   string
		objs   []runtime.Object
		claims []string
		node   *corev1.Node
		want   string
	}{
		{"static volume on the node", []runtime.Object{static, claim("c", "static"), localPV("pv-a", "static", "a")}, []string{"c"}, node("a", false, ""), ""},
		{"static volume on another node", []runtime.Object{static, claim("c", "static"), localPV("pv-b", "static", "b")}, []string{"c"}, node("a", false, ""), plugins.ReasonBindConflict},
		{"static volume too small", []runtime.Object{static, claim("c", "static", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}), localPV("pv-a", "static", "a")}, []string{"c"}, node("a", false, ""), plugins.ReasonBindConflict},
		{"volume taken by another claim", []runtime.Object{static, claim("c", "static"), func() runtime.Object {
			pv := localPV("pv-a", "static", "a")
			pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "other", UID: "uid-other"}
			return pv
		}()}, []string{"c"}, node("a", false, ""), plugins.ReasonBindConflict},
		{"two claims, one volume", []runtime.Object{static, claim("c1", "static"), claim("c2", "static"), localPV("pv-a", "static", "a")}, []string{"c1", "c2"}, node("a", false, ""), plugins.ReasonBindConflict},
		{"two claims, two volumes", []runtime.Object{static, claim("c1", "static"), claim("c2", "static"), localPV("pv-a", "static", "a"), localPV("pv-a2", "static", "a")}, []string{"c1", "c2"}, node("a", false, ""), ""},
		{"local-path on a node with a root", []runtime.Object{lp, claim("c", "local-path")}, []string{"c"}, node("a", true, ""), ""},
		{"local-path on a node without a root", []runtime.Object{lp, claim("c", "local-path")}, []string{"c"}, node("a", false, ""), plugins.ReasonBindConflict},
		{"static volume preferred over provisioning", []runtime.Object{lp, claim("c", "local-path"), localPV("pv-a", "local-path", "a")}, []string{"c"}, node("a", false, ""), ""},
		{"allowed topology matches", []runtime.Object{zoned, claim("c", "zoned")}, []string{"c"}, node("a", true, "z1"), ""},
		{"allowed topology excludes", []runtime.Object{zoned, claim("c", "zoned")}, []string{"c"}, node("a", true, "z2"), plugins.ReasonBindConflict},
		{"external provisioner trusted", []runtime.Object{external, claim("c", "ext")}, []string{"c"}, node("a", false, ""), ""},
		{"selected node is this one", []runtime.Object{lp, claim("c", "local-path", selected("a"))}, []string{"c"}, node("a", true, ""), ""},
		{"selected node is another", []runtime.Object{lp, claim("c", "local-path", selected("b")), localPV("pv-a", "local-path", "a")}, []string{"c"}, node("a", true, ""), plugins.ReasonBindConflict},
		{"class missing", []runtime.Object{claim("c", "gone")}, []string{"c"}, node("a", true, ""), `storageclass.storage.k8s.io "gone" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.objs...)
			got := reason(e.b.Filter(podWith("p", tc.claims...), e.claims(t, tc.claims...), tc.node))
			if got != tc.want {
				t.Errorf("Filter = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReserveHoldsVolume: a volume reserved for one pod's claim is not offered to another claim
// until Unreserve, and is still offered to the same claim (another pod sharing it).
func TestReserveHoldsVolume(t *testing.T) {
	e := newEnv(t, class("static", noProvisioner), claim("c1", "static"), claim("c2", "static"), localPV("pv-a", "static", "a"))
	n := node("a", false, "")
	p1, p2, p3 := podWith("p1", "c1"), podWith("p2", "c2"), podWith("p3", "c1")
	if err := e.b.Reserve(p1, n); err != nil {
		t.Fatal(err)
	}
	if got := reason(e.b.Filter(p2, e.claims(t, "c2"), n)); got != plugins.ReasonBindConflict {
		t.Errorf("other claim after reserve: %q, want %q", got, plugins.ReasonBindConflict)
	}
	if got := reason(e.b.Filter(p3, e.claims(t, "c1"), n)); got != "" {
		t.Errorf("same claim after reserve: %q, want success", got)
	}
	if err := e.b.Reserve(p2, n); err == nil {
		t.Error("second reserve of the only volume succeeded")
	}
	e.b.Unreserve(context.Background(), p1)
	if got := reason(e.b.Filter(p2, e.claims(t, "c2"), n)); got != "" {
		t.Errorf("other claim after unreserve: %q, want success", got)
	}
}

// waitFor polls the fake API (test side only) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPreBindStatic(t *testing.T) {
	e := newEnv(t, class("static", noProvisioner), claim("c", "static"), localPV("pv-a", "static", "a"))
	ctx := context.Background()
	p := podWith("p", "c")
	if err := e.b.Reserve(p, node("a", false, "")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.b.PreBind(ctx, p) }()
	var pv *corev1.PersistentVolume
	waitFor(t, "claimRef on the volume", func() bool {
		pv, _ = e.client.CoreV1().PersistentVolumes().Get(ctx, "pv-a", metav1.GetOptions{})
		return pv.Spec.ClaimRef != nil
	})
	if pv.Spec.ClaimRef.Name != "c" || pv.Spec.ClaimRef.UID != "uid-c" || pv.Annotations[AnnBoundByController] != "yes" {
		t.Fatalf("pre-binding = %+v, annotations %v", pv.Spec.ClaimRef, pv.Annotations)
	}
	select {
	case err := <-done:
		t.Fatalf("PreBind returned before the claim was bound: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// What the PV controller does.
	c, _ := e.client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "c", metav1.GetOptions{})
	c.Spec.VolumeName = "pv-a"
	c.Annotations = map[string]string{AnnBindCompleted: "yes"}
	if _, err := e.client.CoreV1().PersistentVolumeClaims("ns").Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PreBind did not return after the claim was bound")
	}
}

func TestPreBindProvisionTimeoutUndoes(t *testing.T) {
	e := newEnv(t, class("local-path", localpath.Provisioner), claim("c", "local-path"))
	ctx := context.Background()
	p := podWith("p", "c")
	if err := e.b.Reserve(p, node("a", true, "")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.b.PreBind(ctx, p) }()
	waitFor(t, "selected node on the claim", func() bool {
		c, _ := e.client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "c", metav1.GetOptions{})
		return c.Annotations[AnnSelectedNode] == "a"
	})
	waitFor(t, "the bind timer", func() bool { return e.clock.HasWaiters() })
	e.clock.Step(time.Minute)
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("PreBind did not time out")
	}
	if err == nil || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), `"c"`) {
		t.Fatalf("PreBind error = %v, want a timeout naming the claim", err)
	}
	e.b.Unreserve(ctx, p)
	c, _ := e.client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "c", metav1.GetOptions{})
	if _, ok := c.Annotations[AnnSelectedNode]; ok {
		t.Errorf("selected node left on the claim: %v", c.Annotations)
	}
}

func TestPreBindProvisioningGivenUp(t *testing.T) {
	e := newEnv(t, class("local-path", localpath.Provisioner), claim("c", "local-path"))
	ctx := context.Background()
	p := podWith("p", "c")
	if err := e.b.Reserve(p, node("a", true, "")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.b.PreBind(ctx, p) }()
	// Let the binder see its own annotation, then take it away as a failing provisioner does.
	waitFor(t, "binder sees the annotation", func() bool {
		c, err := e.b.claims.PersistentVolumeClaims("ns").Get("c")
		return err == nil && c.Annotations[AnnSelectedNode] == "a"
	})
	time.Sleep(20 * time.Millisecond)
	c, _ := e.client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "c", metav1.GetOptions{})
	delete(c.Annotations, AnnSelectedNode)
	if _, err := e.client.CoreV1().PersistentVolumeClaims("ns").Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "provisioning failed") {
			t.Fatalf("PreBind error = %v, want provisioning failed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PreBind did not notice the provisioner gave up")
	}
}

func TestUnreserveClearsPreBinding(t *testing.T) {
	e := newEnv(t, class("static", noProvisioner), claim("c", "static"), localPV("pv-a", "static", "a"))
	ctx, cancel := context.WithCancel(context.Background())
	p := podWith("p", "c")
	if err := e.b.Reserve(p, node("a", false, "")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.b.PreBind(ctx, p) }()
	waitFor(t, "claimRef on the volume", func() bool {
		pv, _ := e.client.CoreV1().PersistentVolumes().Get(context.Background(), "pv-a", metav1.GetOptions{})
		return pv.Spec.ClaimRef != nil
	})
	cancel()
	if err := <-done; err == nil {
		t.Fatal("PreBind succeeded after cancel")
	}
	e.b.Unreserve(context.Background(), p)
	pv, _ := e.client.CoreV1().PersistentVolumes().Get(context.Background(), "pv-a", metav1.GetOptions{})
	if pv.Spec.ClaimRef != nil || pv.Annotations[AnnBoundByController] != "" {
		t.Errorf("pre-binding left: %+v %v", pv.Spec.ClaimRef, pv.Annotations)
	}
}

func TestNoDelayedClaims(t *testing.T) {
	imm := storagev1.VolumeBindingImmediate
	e := newEnv(t, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "imm"}, Provisioner: "x", VolumeBindingMode: &imm},
		claim("bound", "imm", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv" }))
	p := podWith("p", "bound")
	if err := e.b.Reserve(p, node("a", false, "")); err != nil {
		t.Fatal(err)
	}
	if r := e.b.reservation(p.UID); r != nil {
		t.Fatalf("reservation for a pod without delayed claims: %+v", r)
	}
	if err := e.b.PreBind(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.client.Actions() {
		if v := a.GetVerb(); v != "list" && v != "watch" {
			t.Errorf("unexpected %s %s for a pod without delayed claims", v, a.GetResource().Resource)
		}
	}
	if err := e.b.Reserve(podWith("q", "missing"), node("a", false, "")); err == nil {
		t.Error("reserve with a missing claim succeeded")
	}
}
