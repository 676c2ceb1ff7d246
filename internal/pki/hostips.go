package pki

import (
	"net"
)

// HostIPs lists the addresses of this host's up, non-loopback interfaces, IPv4 first, for the
// serving certificate's default SANs. Link-local addresses are left out: they are scoped to one
// link, change with it, and no client dials the API server on them.
func HostIPs() ([]net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var v4, v6 []net.IP
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			// An interface vanishing between the two calls is no reason to fail start-up.
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip := ipn.IP
			if !usableSAN(ip) {
				continue
			}
			if ip4 := ip.To4(); ip4 != nil {
				v4 = appendUnique(v4, ip4)
			} else {
				v6 = appendUnique(v6, ip)
			}
		}
	}
	return append(v4, v6...), nil
}

func usableSAN(ip net.IP) bool {
	return ip != nil && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() &&
		!ip.IsMulticast() && !ip.IsInterfaceLocalMulticast()
}

func appendUnique(ips []net.IP, ip net.IP) []net.IP {
	for _, have := range ips {
		if have.Equal(ip) {
			return ips
		}
	}
	return append(ips, ip)
}
