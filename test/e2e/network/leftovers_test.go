package network

import (
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/proxy"
	"github.com/skiff-dev/skiff/internal/testcluster"
)

func intOrString(p int32) intstr.IntOrString { return intstr.FromInt32(p) }

// testNothingLeft deletes the namespace's workloads, pods and Services and waits (bounded) until
// no node has a pod veth, a pod IP allocation, or an nftables chain or map element of them.
func testNothingLeft(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	svcs, err := c.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var vips []netip.Addr
	var nodePorts []uint16
	for _, s := range svcs.Items {
		if a, err := netip.ParseAddr(s.Spec.ClusterIP); err == nil {
			vips = append(vips, a)
		}
		for _, p := range s.Spec.Ports {
			if p.NodePort != 0 {
				nodePorts = append(nodePorts, uint16(p.NodePort))
			}
		}
	}
	// The check must see what it looks for while it exists, or it would prove nothing.
	for _, n := range c.Nodes {
		held := nodeLeftovers(t, n, ns, vips, nodePorts)
		var veths, rules int
		for _, h := range held {
			if strings.Contains(h, ": veth ") {
				veths++
			} else if strings.Contains(h, "chain ") || strings.Contains(h, " element for ") {
				rules++
			}
		}
		if veths == 0 || rules == 0 {
			t.Fatalf("node %s before the deletes: the check finds %d pod veths and %d Service rules, want some of each:\n%s",
				n.Name, veths, rules, strings.Join(held, "\n"))
		}
		t.Logf("node %s before the deletes: %d entries (%d veths, %d Service rules)", n.Name, len(held), veths, rules)
	}
	bg := metav1.DeletePropagationBackground
	c.Client.AppsV1().Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &bg}, metav1.ListOptions{})
	c.Client.AppsV1().StatefulSets(ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &bg}, metav1.ListOptions{})
	for _, s := range svcs.Items {
		if err := c.Client.CoreV1().Services(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting Service %s: %v", s.Name, err)
		}
	}
	start := time.Now()
	var left []string
	for {
		c.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		left = nil
		l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) > 0 {
			left = append(left, "pods still in the API")
		}
		for _, n := range c.Nodes {
			left = append(left, nodeLeftovers(t, n, ns, vips, nodePorts)...)
		}
		if len(left) == 0 {
			t.Logf("no veth, allocation or rule left %v after the deletes", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("90 s after deleting every pod and Service:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// nodeLeftovers lists what the node still holds of pods (veths, IP allocations) and of the
// namespace's Services (chains, map and set elements keyed by their ClusterIPs or NodePorts).
func nodeLeftovers(t *testing.T, n *testcluster.Node, ns string, vips []netip.Addr, nodePorts []uint16) []string {
	var left []string
	h := n.Host.Netlink(t)
	links, err := h.LinkList()
	if err != nil {
		return []string{n.Name + ": listing links: " + err.Error()}
	}
	for _, l := range links {
		if _, ok := l.(*netlink.Veth); ok && strings.HasPrefix(l.Attrs().Name, "skv") {
			left = append(left, n.Name+": veth "+l.Attrs().Name)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(n.DataDir, "network", "ipam"))
	for _, e := range ents {
		if _, err := netip.ParseAddr(e.Name()); err == nil {
			left = append(left, n.Name+": IP allocation "+e.Name())
		}
	}
	f, err := os.Open(n.Host.Path)
	if err != nil {
		return append(left, n.Name+": "+err.Error())
	}
	defer f.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		return append(left, n.Name+": nftables: "+err.Error())
	}
	defer conn.CloseLasting()
	table := &nftables.Table{Name: proxy.TableName(n.Name), Family: nftables.TableFamilyIPv4}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return append(left, n.Name+": listing chains: "+err.Error())
	}
	found := false
	for _, ch := range chains {
		if ch.Table.Name != table.Name {
			continue
		}
		found = true
		if strings.Contains(ch.Name, ns+"/") {
			left = append(left, n.Name+": chain "+ch.Name)
		}
	}
	if !found {
		return append(left, n.Name+": no proxy table "+table.Name+" (the check would prove nothing)")
	}
	sets, err := conn.GetSets(table)
	if err != nil {
		return append(left, n.Name+": listing sets: "+err.Error())
	}
	for _, s := range sets {
		els, err := conn.GetSetElements(s)
		if err != nil {
			left = append(left, n.Name+": elements of "+s.Name+": "+err.Error())
			continue
		}
		for _, e := range els {
			if len(e.Key) >= 4 {
				if a, ok := netip.AddrFromSlice(e.Key[:4]); ok && containsAddr(vips, a) {
					left = append(left, n.Name+": "+s.Name+" element for "+a.String())
				}
			}
			if strings.Contains(s.Name, "nodeport") && len(e.Key) >= 6 {
				if p := binary.BigEndian.Uint16(e.Key[4:6]); containsPort(nodePorts, p) {
					left = append(left, n.Name+": "+s.Name+" element for NodePort "+strconv.Itoa(int(p)))
				}
			}
		}
	}
	return left
}

func containsAddr(xs []netip.Addr, a netip.Addr) bool {
	for _, x := range xs {
		if x == a {
			return true
		}
	}
	return false
}

func containsPort(xs []uint16, p uint16) bool {
	for _, x := range xs {
		if x == p {
			return true
		}
	}
	return false
}
