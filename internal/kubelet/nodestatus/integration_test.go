package nodestatus_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-dev/skiff/internal/kubelet/nodestatus"
	"github.com/skiff-dev/skiff/internal/testserver"
	"github.com/skiff-dev/skiff/internal/version"
)

const nodeName = "it-node"

// runAgent starts an agent with short intervals and returns a stop function that waits for Run
// to return.
func runAgent(t *testing.T, client kubernetes.Interface, dataDir string, mut func(*nodestatus.Config)) (*nodestatus.Agent, func()) {
	t.Helper()
	cfg := nodestatus.Config{
		NodeName:              nodeName,
		NodeIP:                net.ParseIP("127.0.0.1"),
		DataDir:               dataDir,
		PodCIDR:               "10.244.7.0/24",
		Labels:                map[string]string{"node-role.kubernetes.io/control-plane": ""},
		StatusUpdateFrequency: 100 * time.Millisecond,
		LeaseDuration:         2 * time.Second, // renewed every 500 ms
	}
	if mut != nil {
		mut(&cfg)
	}
	a, err := nodestatus.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("agent did not stop")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-a.Registered():
	case <-time.After(20 * time.Second):
		t.Fatal("node not registered")
	}
	return a, stop
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// kubectlStatus is the STATUS column of `kubectl get node`, as the API server renders it.
func kubectlStatus(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", nodeName).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	for i, c := range table.ColumnDefinitions {
		if c.Name == "Status" && len(table.Rows) == 1 {
			s, _ := table.Rows[0].Cells[i].(string)
			return s
		}
	}
	t.Fatalf("no Status column in %s", raw)
	return ""
}

func TestAgentAgainstAPIServer(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	nodes := s.Client.CoreV1().Nodes()
	dataDir := t.TempDir()

	broadcaster := record.NewBroadcaster()
	defer broadcaster.Shutdown()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.Client.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: nodeName})

	var netErr atomic.Pointer[error]
	notReady := errors.New("container runtime network not ready: bridge missing")
	netErr.Store(&notReady)
	a, stop := runAgent(t, s.Client, dataDir, func(c *nodestatus.Config) {
		c.Recorder = recorder
		c.ReadinessChecks = []nodestatus.ReadinessCheck{func() error { return *netErr.Load() }}
	})

	// NotReady with the check's reason until the network is up, then Ready promptly.
	eventually(t, "NotReady status", func() bool {
		n, err := nodes.Get(ctx, nodeName, metav1.GetOptions{})
		return err == nil && readyCondition(n) != nil && readyCondition(n).Message == notReady.Error()
	})
	if got := kubectlStatus(t, s.Client); got != "NotReady" {
		t.Errorf("kubectl STATUS = %q, want NotReady", got)
	}
	var ok error
	netErr.Store(&ok)
	eventually(t, "Ready", func() bool { return kubectlStatus(t, s.Client) == "Ready" })

	n, err := nodes.Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels[corev1.LabelHostname] != nodeName || n.Labels[corev1.LabelOSStable] != runtime.GOOS ||
		n.Labels[corev1.LabelArchStable] != runtime.GOARCH {
		t.Errorf("labels = %v", n.Labels)
	}
	if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; !ok {
		t.Errorf("configured label missing: %v", n.Labels)
	}
	if n.Spec.PodCIDR != "10.244.7.0/24" || a.PodCIDR() != "10.244.7.0/24" {
		t.Errorf("podCIDR %q, agent says %q", n.Spec.PodCIDR, a.PodCIDR())
	}
	if len(n.Status.Addresses) != 2 || n.Status.Addresses[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}) ||
		n.Status.Addresses[1] != (corev1.NodeAddress{Type: corev1.NodeHostName, Address: nodeName}) {
		t.Errorf("addresses = %v", n.Status.Addresses)
	}
	info := n.Status.NodeInfo
	if info.KubeletVersion != version.GitVersion() || info.ContainerRuntimeVersion != "skiff://"+version.Version ||
		info.OperatingSystem != runtime.GOOS || info.Architecture != runtime.GOARCH || info.BootID == "" || info.KernelVersion == "" || info.OSImage == "" {
		t.Errorf("nodeInfo = %+v", info)
	}
	if cpu := n.Status.Capacity[corev1.ResourceCPU]; cpu.Value() != int64(runtime.NumCPU()) {
		t.Errorf("cpu capacity %s, want %d", cpu.String(), runtime.NumCPU())
	}
	if pods := n.Status.Capacity[corev1.ResourcePods]; pods.Value() != 110 {
		t.Errorf("pods capacity %s", pods.String())
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		c, a := n.Status.Capacity[r], n.Status.Allocatable[r]
		if c.Sign() <= 0 || a.Cmp(c) >= 0 {
			t.Errorf("%s: capacity %s allocatable %s, want allocatable below a positive capacity", r, c.String(), a.String())
		}
	}
	if n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("daemonEndpoints = %+v", n.Status.DaemonEndpoints)
	}

	// The Lease: held by the node, owned by it, renewed.
	leases := s.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	l, err := leases.Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *l.Spec.HolderIdentity != nodeName || *l.Spec.LeaseDurationSeconds != 2 ||
		len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != n.UID || l.OwnerReferences[0].Kind != "Node" {
		t.Errorf("lease = %+v %+v", l.ObjectMeta.OwnerReferences, l.Spec)
	}
	first := l.Spec.RenewTime.Time
	eventually(t, "lease renewal", func() bool {
		l, err := leases.Get(ctx, nodeName, metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime.Time.After(first)
	})

	// Nothing changes, so the status is not written: no MODIFIED events over ten periods.
	w, err := nodes.Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", nodeName).String(), ResourceVersion: n.ResourceVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	modified := func(d time.Duration) []*corev1.Node {
		var out []*corev1.Node
		timeout := time.After(d)
		for {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == watch.Modified {
					out = append(out, ev.Object.(*corev1.Node))
				}
			case <-timeout:
				return out
			}
		}
	}
	if got := modified(time.Second); len(got) != 0 {
		t.Errorf("status rewritten %d times without a change; last %+v", len(got), got[len(got)-1].Status.Conditions)
	}

	// A cordon by another client survives the agent's updates (a real change forces one).
	if _, err := nodes.Patch(ctx, nodeName, types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	a.RecordHostRefusal("oom_score_adj", "negative values are refused; containers keep 0")
	var sawRefusal bool
	for _, m := range modified(time.Second) {
		if !m.Spec.Unschedulable {
			t.Errorf("cordon lost at resourceVersion %s", m.ResourceVersion)
		}
		for _, c := range m.Status.Conditions {
			sawRefusal = sawRefusal || c.Type == nodestatus.ConditionHostSettingsRefused
		}
	}
	if !sawRefusal {
		t.Error("host refusal never reached the Node")
	}
	if got := kubectlStatus(t, s.Client); got != "Ready,SchedulingDisabled" {
		t.Errorf("kubectl STATUS = %q after cordon", got)
	}

	// The Node's events, as `kubectl describe node` lists them.
	eventually(t, "NodeReady event", func() bool {
		evs, err := s.Client.CoreV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.Reason == "NodeReady" && e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == nodeName {
				return true
			}
		}
		return false
	})

	// Stopping the agent stops the renewals. A renewal sent just before the stop may still land
	// (the client gives up on its request, the server does not), so the baseline is read once
	// that much time has passed.
	stop()
	time.Sleep(500 * time.Millisecond)
	l, err = leases.Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // three renew intervals
	l2, err := leases.Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !l2.Spec.RenewTime.Equal(l.Spec.RenewTime) || l2.ResourceVersion != l.ResourceVersion {
		t.Errorf("lease renewed after stop: %v -> %v", l.Spec.RenewTime, l2.Spec.RenewTime)
	}

	// A restarted agent adopts the Node and keeps the cordon and the pod CIDR, even with another
	// CIDR configured.
	a2, _ := runAgent(t, s.Client, dataDir, func(c *nodestatus.Config) { c.PodCIDR = "10.244.99.0/24" })
	n2, err := nodes.Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n2.UID != n.UID || !n2.Spec.Unschedulable || n2.Spec.PodCIDR != "10.244.7.0/24" || a2.PodCIDR() != "10.244.7.0/24" {
		t.Errorf("after restart: uid %s (was %s), unschedulable %v, podCIDR %q, agent %q",
			n2.UID, n.UID, n2.Spec.Unschedulable, n2.Spec.PodCIDR, a2.PodCIDR())
	}
	eventually(t, "renewal by the restarted agent", func() bool {
		l3, err := leases.Get(ctx, nodeName, metav1.GetOptions{})
		return err == nil && l3.Spec.RenewTime.After(l2.Spec.RenewTime.Time)
	})
}
