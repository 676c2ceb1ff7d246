package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	goruntime "runtime"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NodeReporter keeps the Node object of this agent: registration, status and heartbeats.
// nodestatus.Agent has this shape; minimalNode is the stand-in until it is wired in.
type NodeReporter interface {
	// Run registers the Node, then keeps it until ctx ends.
	Run(ctx context.Context) error
	// Registered is closed once the Node exists.
	Registered() <-chan struct{}
}

// minimalNode registers a Ready Node with the node's address, pod CIDR and kubelet endpoint,
// and refreshes its Ready condition's heartbeat every 40 s.
type minimalNode struct {
	client  kubernetes.Interface
	name    string
	ip      net.IP
	podCIDR string
	port    int32
	log     *slog.Logger

	registered chan struct{}
}

func newMinimalNode(client kubernetes.Interface, name string, ip net.IP, podCIDR string, port int32, log *slog.Logger) *minimalNode {
	return &minimalNode{client: client, name: name, ip: ip, podCIDR: podCIDR, port: port, log: log,
		registered: make(chan struct{})}
}

func (m *minimalNode) Registered() <-chan struct{} { return m.registered }

func (m *minimalNode) node() *v1.Node {
	hostname := m.name
	cap := v1.ResourceList{
		v1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		v1.ResourcePods:   resource.MustParse("110"),
		v1.ResourceMemory: resource.MustParse("8Gi"),
	}
	now := metav1.Now()
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: m.name, Labels: map[string]string{
			"kubernetes.io/hostname": hostname, "kubernetes.io/os": goruntime.GOOS, "kubernetes.io/arch": goruntime.GOARCH,
		}},
		Spec: v1.NodeSpec{PodCIDR: m.podCIDR, PodCIDRs: []string{m.podCIDR}},
		Status: v1.NodeStatus{
			Capacity: cap, Allocatable: cap,
			Addresses:       []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: m.ip.String()}, {Type: v1.NodeHostName, Address: hostname}},
			DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: m.port}},
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady",
				Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
			NodeInfo: v1.NodeSystemInfo{OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
				KubeletVersion: "v1.37.2", ContainerRuntimeVersion: "skiff://0.1"},
		},
	}
}

func (m *minimalNode) Run(ctx context.Context) error {
	for {
		err := m.sync(ctx)
		if err == nil {
			break
		}
		m.log.Warn("registering node", "node", m.name, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	close(m.registered)
	t := time.NewTicker(40 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.sync(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("updating node status", "node", m.name, "err", err)
			}
		}
	}
}

func (m *minimalNode) sync(ctx context.Context) error {
	want := m.node()
	nodes := m.client.CoreV1().Nodes()
	cur, err := nodes.Get(ctx, m.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cur, err = nodes.Create(ctx, want, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node: %w", err)
		}
		if err == nil {
			cur.Status = want.Status
			_, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		}
		return err
	}
	if err != nil {
		return err
	}
	cur = cur.DeepCopy()
	cur.Status.Addresses, cur.Status.DaemonEndpoints, cur.Status.NodeInfo = want.Status.Addresses, want.Status.DaemonEndpoints, want.Status.NodeInfo
	cur.Status.Capacity, cur.Status.Allocatable = want.Status.Capacity, want.Status.Allocatable
	ready := want.Status.Conditions[0]
	found := false
	for i := range cur.Status.Conditions {
		if c := &cur.Status.Conditions[i]; c.Type == v1.NodeReady {
			found = true
			if c.Status == v1.ConditionTrue {
				ready.LastTransitionTime = c.LastTransitionTime
			}
			*c = ready
		}
	}
	if !found {
		cur.Status.Conditions = append(cur.Status.Conditions, ready)
	}
	_, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	return err
}
