package apiserver

import (
	"context"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/storage"
	"github.com/skiff-dev/skiff/internal/localpath"
)

// BootstrapConfig describes the objects every cluster has from its first start.
type BootstrapConfig struct {
	// ServiceIP is the first address of the service range: the kubernetes Service's ClusterIP.
	ServiceIP net.IP
	// AdvertiseAddress and Port are where the kubernetes Service's endpoints point.
	AdvertiseAddress net.IP
	Port             int
}

var systemUser = admission.UserInfo{Name: "system:apiserver", Groups: []string{"system:masters", "system:authenticated"}}

// Bootstrap creates what must exist (the system namespaces, the built-in priority classes, the
// default local-path StorageClass, the kubernetes Service) and keeps the kubernetes endpoints
// pointing at this server. It goes through the same pipeline as client requests. It returns once
// the objects exist; the endpoint reconciliation continues until ctx is done.
func (s *Server) Bootstrap(ctx context.Context, cfg BootstrapConfig) error {
	opts := writeOptions{manager: "kube-apiserver", user: systemUser}
	ensure := func(gvr schema.GroupVersionResource, namespace string, obj runtime.Object) error {
		ep := s.endpoints[gvr]
		if ep == nil {
			return fmt.Errorf("bootstrap: %s is not served", gvr)
		}
		// An existing object is left alone without a create attempt: a create runs the resource
		// hooks before storage notices the name is taken, and the kubernetes Service's request
		// for its (already allocated) address would fail there instead of as AlreadyExists.
		if _, err := ep.store.Get(ctx, ep.key(namespace, accessor(obj).GetName()), storage.ReadOptions{}); err == nil {
			return nil
		}
		_, err := s.create(ctx, ep, namespace, obj, opts)
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("bootstrap %s %s: %w", gvr.Resource, accessor(obj).GetName(), err)
		}
		return nil
	}
	nsGVR := corev1.SchemeGroupVersion.WithResource("namespaces")
	for _, name := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease} {
		if err := ensure(nsGVR, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			return err
		}
	}
	pcGVR := schedulingv1.SchemeGroupVersion.WithResource("priorityclasses")
	preempt := corev1.PreemptLowerPriority
	for _, pc := range []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000, PreemptionPolicy: &preempt,
			Description: "Used for system critical pods that must not be moved from their current node."},
		{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 2000000000, PreemptionPolicy: &preempt,
			Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
	} {
		if err := ensure(pcGVR, "", pc); err != nil {
			return err
		}
	}
	// The default class is created once; an administrator's edits to it, or a class of the same
	// name made before, are never overwritten.
	if err := ensure(storagev1.SchemeGroupVersion.WithResource("storageclasses"), "", localpath.DefaultClass()); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       cfg.ServiceIP.String(),
			ClusterIPs:      []string{cfg.ServiceIP.String()},
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(int32(cfg.Port))}},
		},
	}
	if err := ensure(corev1.SchemeGroupVersion.WithResource("services"), metav1.NamespaceDefault, svc); err != nil {
		return err
	}
	if cfg.AdvertiseAddress.IsLoopback() {
		// Endpoints may not point at loopback (no pod could use them): a server advertised there
		// serves only its own host, and the kubernetes Service gets no endpoints.
		s.log.Warn("advertise address is loopback; the kubernetes Service will have no endpoints", "address", cfg.AdvertiseAddress)
		return nil
	}
	if err := s.reconcileEndpoints(ctx, cfg, opts); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.reconcileEndpoints(ctx, cfg, opts); err != nil && ctx.Err() == nil {
					s.log.Warn("reconciling the kubernetes endpoints", "err", err)
				}
			}
		}
	}()
	return nil
}

// reconcileEndpoints points the kubernetes Endpoints and EndpointSlice at this server.
func (s *Server) reconcileEndpoints(ctx context.Context, cfg BootstrapConfig, opts writeOptions) error {
	addr := cfg.AdvertiseAddress.String()
	port := int32(cfg.Port)
	eps := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := s.put(ctx, corev1.SchemeGroupVersion.WithResource("endpoints"), eps, opts); err != nil {
		return err
	}
	ready := true
	name, proto := "https", corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "kube-apiserver"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}
	return s.put(ctx, discoveryv1.SchemeGroupVersion.WithResource("endpointslices"), slice, opts)
}

// put creates obj or replaces the stored one's content with it (a no-op when equal).
func (s *Server) put(ctx context.Context, gvr schema.GroupVersionResource, obj runtime.Object, opts writeOptions) error {
	ep := s.endpoints[gvr]
	if ep == nil {
		return fmt.Errorf("%s is not served", gvr)
	}
	m := accessor(obj)
	_, _, err := s.update(ctx, ep, m.GetNamespace(), m.GetName(), func(cur runtime.Object) (runtime.Object, error) {
		next := obj.DeepCopyObject()
		if cur != nil {
			nm := accessor(next)
			cm := accessor(cur)
			nm.SetResourceVersion(cm.GetResourceVersion())
			nm.SetManagedFields(cm.GetManagedFields())
			nm.SetUID(cm.GetUID())
			nm.SetCreationTimestamp(cm.GetCreationTimestamp())
		}
		return next, nil
	}, true, opts)
	return err
}
