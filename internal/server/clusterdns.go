package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-dev/skiff/internal/dns"
)

// ClusterDNSUser is the cluster DNS's identity.
const ClusterDNSUser = "system:kube-dns"

// clusterDNSService is the Service pods' resolv.conf points at (upstream's name, in kube-system).
const clusterDNSService = "kube-dns"

// clusterDNSManagedBy marks the kube-dns EndpointSlice as the server's, not the controller's.
const clusterDNSManagedBy = "skiff-server"

// ClusterDNSIP is the kube-dns Service address: the tenth of the service range (10.96.0.10 for
// 10.96.0.0/12), as kubeadm lays it out.
func ClusterDNSIP(serviceCIDR string) (net.IP, error) {
	p, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return nil, err
	}
	a := p.Masked().Addr()
	for i := 0; i < 10; i++ {
		a = a.Next()
	}
	if !p.Contains(a) {
		return nil, fmt.Errorf("service range %s has no tenth address for the cluster DNS", serviceCIDR)
	}
	return net.IP(a.AsSlice()), nil
}

// newClusterDNS builds the in-process cluster DNS as an API client of its own, calling api
// in-process.
func newClusterDNS(cfg *Config, api http.Handler, onListening func(string)) (*dns.Server, error) {
	client, err := kubernetes.NewForConfig(inProcessConfig(api, cfg.Logger, ClusterDNSUser, nil, "skiff-dns", 50, 100))
	if err != nil {
		return nil, err
	}
	return dns.New(dns.Config{Client: client, Domain: cfg.ClusterDomain, Upstreams: cfg.DNSUpstreams,
		Listen: cfg.ClusterDNSListen, Bind: cfg.ClusterDNSBind, Logger: cfg.Logger, OnListening: onListening})
}

// publishClusterDNS keeps the kube-dns Service (at serviceIP, ports 53/UDP and 53/TCP) and its
// selector-less Endpoints and EndpointSlice pointing at where this server's DNS listens, until
// ctx ends. A loopback listener gets no endpoints (the API refuses them, and no pod could use
// them); an unspecified one is published at the advertise address.
func publishClusterDNS(ctx context.Context, client kubernetes.Interface, serviceIP net.IP, listen string, advertise net.IP, log func(string, ...any)) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		log("cluster DNS not published", "err", err)
		return
	}
	port, _ := strconv.Atoi(portStr)
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		ip = advertise
	}
	for {
		err := reconcileClusterDNS(ctx, client, serviceIP, ip, int32(port))
		if err != nil && ctx.Err() == nil {
			log("publishing the cluster DNS Service", "err", err)
		}
		wait := 10 * time.Second
		if err != nil {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func reconcileClusterDNS(ctx context.Context, client kubernetes.Interface, serviceIP, ip net.IP, port int32) error {
	labels := map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "KubeDNS"}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: clusterDNSService, Namespace: metav1.NamespaceSystem, Labels: labels},
		Spec: corev1.ServiceSpec{ClusterIP: serviceIP.String(), ClusterIPs: []string{serviceIP.String()}, Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(port)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(port)},
			}}}
	services := client.CoreV1().Services(metav1.NamespaceSystem)
	if _, err := services.Get(ctx, clusterDNSService, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := services.Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating the %s Service: %w", clusterDNSService, err)
		}
	} else if err != nil {
		return err
	}
	if ip == nil || ip.IsLoopback() {
		return nil
	}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	eps := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: clusterDNSService, Namespace: metav1.NamespaceSystem, Labels: labels},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: ip.String()}},
			Ports: []corev1.EndpointPort{{Name: "dns", Port: port, Protocol: udp}, {Name: "dns-tcp", Port: port, Protocol: tcp}}}}}
	epc := client.CoreV1().Endpoints(metav1.NamespaceSystem)
	cur, err := epc.Get(ctx, clusterDNSService, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := epc.Create(ctx, eps, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	case err != nil:
		return err
	case !apiequality.Semantic.DeepEqual(cur.Subsets, eps.Subsets):
		cur.Subsets = eps.Subsets
		if _, err := epc.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	ready := true
	addrType := discoveryv1.AddressTypeIPv4
	if ip.To4() == nil {
		addrType = discoveryv1.AddressTypeIPv6
	}
	dnsName, tcpName := "dns", "dns-tcp"
	sliceLabels := map[string]string{discoveryv1.LabelServiceName: clusterDNSService, discoveryv1.LabelManagedBy: clusterDNSManagedBy}
	for k, v := range labels {
		sliceLabels[k] = v
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: clusterDNSService, Namespace: metav1.NamespaceSystem, Labels: sliceLabels},
		AddressType: addrType,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &dnsName, Port: &port, Protocol: &udp}, {Name: &tcpName, Port: &port, Protocol: &tcp}}}
	esc := client.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem)
	curSlice, err := esc.Get(ctx, clusterDNSService, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := esc.Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	case err != nil:
		return err
	case curSlice.AddressType != slice.AddressType:
		if err := esc.Delete(ctx, clusterDNSService, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return fmt.Errorf("the %s EndpointSlice changed address type: recreating", clusterDNSService)
	case !apiequality.Semantic.DeepEqual(curSlice.Endpoints, slice.Endpoints) || !apiequality.Semantic.DeepEqual(curSlice.Ports, slice.Ports):
		curSlice.Endpoints, curSlice.Ports = slice.Endpoints, slice.Ports
		if _, err := esc.Update(ctx, curSlice, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}
