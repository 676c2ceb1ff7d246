package proxy

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// conntrackFilters lists the UDP conntrack entries a change makes stale. UDP has no connection
// to end, so an entry keeps steering a client's packets to a removed endpoint (or, when a
// Service had none, keeps them un-DNATed) for as long as the client keeps sending: DNS clients
// reusing a source port would stay broken. Entries to drop:
//   - to a VIP:port (or NodePort) whose replies came from an endpoint that is gone;
//   - to a VIP:port that had no endpoint and has one now.
func conntrackFilters(old, cur *ruleset) []*netlink.ConntrackFilter {
	if old == nil {
		return nil // a restart: nothing known to be stale
	}
	prev := map[netip.AddrPort]udpTarget{}
	for _, t := range old.UDP {
		prev[netip.AddrPortFrom(t.VIP, t.Port)] = t
	}
	now := map[netip.AddrPort]udpTarget{}
	if cur != nil {
		for _, t := range cur.UDP {
			now[netip.AddrPortFrom(t.VIP, t.Port)] = t
		}
	}
	var fs []*netlink.ConntrackFilter
	for k, t := range prev {
		kept := map[netip.Addr]bool{}
		for _, e := range now[k].Endpoints {
			kept[e] = true
		}
		for _, e := range t.Endpoints {
			if kept[e] {
				continue
			}
			if t.VIP.IsValid() {
				fs = append(fs, udpFilter(t.VIP, t.Port, e))
			}
			if t.NodePort != 0 {
				fs = append(fs, udpFilter(netip.Addr{}, t.NodePort, e))
			}
		}
	}
	for k, t := range now {
		if len(t.Endpoints) > 0 && len(prev[k].Endpoints) == 0 && t.VIP.IsValid() {
			fs = append(fs, udpFilter(t.VIP, t.Port, netip.Addr{}))
		}
	}
	return fs
}

func udpFilter(dst netip.Addr, port uint16, replyFrom netip.Addr) *netlink.ConntrackFilter {
	f := &netlink.ConntrackFilter{}
	f.AddProtocol(protoUDP)
	f.AddPort(netlink.ConntrackOrigDstPort, port)
	if dst.IsValid() {
		f.AddIP(netlink.ConntrackOrigDstIP, net.IP(dst.AsSlice()))
	}
	if replyFrom.IsValid() {
		f.AddIP(netlink.ConntrackReplySrcIP, net.IP(replyFrom.AsSlice()))
	}
	return f
}

// flushConntrack deletes the entries a change of one owner made stale, in the node's namespace.
// A failure is logged: the rules are right, only old UDP flows linger.
func (p *Proxy) flushConntrack(key string, old, cur *ruleset) {
	fs := conntrackFilters(old, cur)
	if len(fs) == 0 {
		return
	}
	h, err := p.conntrackHandle()
	if err != nil {
		p.log.Warn("conntrack cleanup", "owner", key, "err", err)
		return
	}
	defer h.Close()
	filters := make([]netlink.CustomConntrackFilter, len(fs))
	for i, f := range fs {
		filters[i] = f
	}
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	if err != nil {
		p.log.Warn("conntrack cleanup", "owner", key, "err", err)
		return
	}
	if n > 0 {
		p.log.Debug("stale UDP conntrack entries deleted", "owner", key, "entries", n)
	}
}

func (p *Proxy) conntrackHandle() (*netlink.Handle, error) {
	if p.cfg.NetNS == "" {
		return netlink.NewHandle(unix.NETLINK_NETFILTER)
	}
	fd, err := netns.GetFromPath(p.cfg.NetNS)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	return netlink.NewHandleAt(fd, unix.NETLINK_NETFILTER)
}
