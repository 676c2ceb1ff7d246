package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// Fixed identities. The admin user is in system:masters so RBAC's bootstrap binding makes it
// cluster-admin, as kubeadm's admin.conf is.
const (
	DefaultCACommonName = "skiff-ca"
	APIServerCommonName = "kube-apiserver"
	AdminCommonName     = "kubernetes-admin"
	// KubeletClientCommonName is the API server's identity towards node agents (logs, exec,
	// port-forward); a kubelet serves its API to this name only.
	KubeletClientCommonName = "kube-apiserver-kubelet-client"
	MastersGroup            = "system:masters"
	DefaultClusterDomain    = "cluster.local"
)

// ServerOptions lists what the API server's serving certificate must cover.
type ServerOptions struct {
	// Hostname defaults to os.Hostname().
	Hostname string
	// NodeIPs are the addresses clients reach this host on; see HostIPs.
	NodeIPs []net.IP
	// ServiceIP is the first address of the service CIDR, the ClusterIP of the "kubernetes" Service
	// that pods use; nil leaves it out.
	ServiceIP net.IP
	// ClusterDomain defaults to DefaultClusterDomain.
	ClusterDomain string
	// ExtraSANs are additional names or addresses (a load balancer, a public DNS name); entries that
	// parse as IPs become IP SANs.
	ExtraSANs []string
	// CACommonName is used only when the CA is created; defaults to DefaultCACommonName.
	CACommonName string
}

// Bundle is what an HTTPS API server and its first kubeconfig need.
type Bundle struct {
	Dir    string
	CA     *CA
	CAPool *x509.CertPool
	// Serving is the API server's certificate, ready for tls.Config.Certificates.
	Serving tls.Certificate
	Server  *KeyPair
	Admin   *KeyPair
	// KubeletClient is the API server's client certificate for node agents' APIs.
	KubeletClient *KeyPair
	// Issued names the pairs (CAName, APIServerName, AdminName) created or replaced by this call, so
	// the caller can log what changed on disk.
	Issued []string
}

// EnsureServer makes dir hold a CA, an API server serving pair and an admin client pair, reusing
// whatever is already there and valid. The serving pair alone is reissued when it no longer covers
// every requested name, no longer chains to the CA, or is close to expiry; the CA is never replaced.
func EnsureServer(dir string, opts ServerOptions) (*Bundle, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cn := opts.CACommonName
	if cn == "" {
		cn = DefaultCACommonName
	}
	ca, created, err := LoadOrCreateCA(dir, cn)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	b := &Bundle{Dir: dir, CA: ca, CAPool: ca.Pool()}
	if created {
		b.Issued = append(b.Issued, CAName)
	}

	dnsNames, ips, err := opts.sans()
	if err != nil {
		return nil, err
	}
	serverSpec := CertSpec{CommonName: APIServerCommonName, DNSNames: dnsNames, IPs: ips, Usage: ServerAuth}
	var issued bool
	b.Server, issued, err = ensureLeaf(dir, APIServerName, ca, serverSpec)
	if err != nil {
		return nil, fmt.Errorf("API server serving certificate: %w", err)
	}
	if issued {
		b.Issued = append(b.Issued, APIServerName)
	}
	adminSpec := CertSpec{CommonName: AdminCommonName, Organizations: []string{MastersGroup}, Usage: ClientAuth}
	b.Admin, issued, err = ensureLeaf(dir, AdminName, ca, adminSpec)
	if err != nil {
		return nil, fmt.Errorf("admin client certificate: %w", err)
	}
	if issued {
		b.Issued = append(b.Issued, AdminName)
	}
	kcSpec := CertSpec{CommonName: KubeletClientCommonName, Organizations: []string{MastersGroup}, Usage: ClientAuth}
	b.KubeletClient, issued, err = ensureLeaf(dir, KubeletClientName, ca, kcSpec)
	if err != nil {
		return nil, fmt.Errorf("kubelet client certificate: %w", err)
	}
	if issued {
		b.Issued = append(b.Issued, KubeletClientName)
	}
	if b.Serving, err = b.Server.TLSCertificate(); err != nil {
		return nil, err
	}
	return b, nil
}

// sans lists the serving certificate's names: every way a client on the host, on another node or in a
// pod may address the API server.
func (o ServerOptions) sans() ([]string, []net.IP, error) {
	host := o.Hostname
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, nil, fmt.Errorf("hostname for the serving certificate: %w", err)
		}
		host = h
	}
	domain := strings.Trim(o.ClusterDomain, ".")
	if domain == "" {
		domain = DefaultClusterDomain
	}
	var dns []string
	var ips []net.IP
	addDNS := func(n string) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != "" && !slices.Contains(dns, n) {
			dns = append(dns, n)
		}
	}
	addIP := func(ip net.IP) {
		if ip == nil {
			return
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4 // one canonical form, so 16-byte and 4-byte copies dedupe
		}
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	addDNS(host)
	addDNS("localhost")
	for _, n := range []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + domain} {
		addDNS(n)
	}
	addIP(net.IPv4(127, 0, 0, 1))
	addIP(net.IPv6loopback)
	addIP(o.ServiceIP)
	for _, ip := range o.NodeIPs {
		addIP(ip)
	}
	for _, s := range o.ExtraSANs {
		if ip := net.ParseIP(s); ip != nil {
			addIP(ip)
		} else {
			addDNS(s)
		}
	}
	return dns, ips, nil
}

// ensureLeaf loads <dir>/<name> and reissues it when it does not satisfy spec. A leaf is cheap and
// only this host holds its key, so any doubt (unreadable, mismatched halves, another CA) means reissue.
func ensureLeaf(dir, name string, ca *CA, spec CertSpec) (*KeyPair, bool, error) {
	// A load error (missing, unreadable, mismatched halves) is a reason to reissue, not to fail the
	// start: the CA, not this file, is what clients trust.
	if kp, err := LoadKeyPair(dir, name); err == nil && satisfies(kp.Cert, ca, spec, time.Now()) {
		return kp, false, nil
	}
	kp, err := ca.Issue(spec)
	if err != nil {
		return nil, false, err
	}
	if err := WriteKeyPair(dir, name, kp); err != nil {
		return nil, false, err
	}
	return kp, true, nil
}

// satisfies reports whether cert can keep serving for spec: it chains to ca for the wanted usages,
// is not about to expire, names the same subject and covers at least the wanted SANs (extra SANs
// from an earlier configuration are harmless).
func satisfies(cert *x509.Certificate, ca *CA, spec CertSpec, now time.Time) bool {
	var usages []x509.ExtKeyUsage
	if spec.Usage&ServerAuth != 0 {
		usages = append(usages, x509.ExtKeyUsageServerAuth)
	}
	if spec.Usage&ClientAuth != 0 {
		usages = append(usages, x509.ExtKeyUsageClientAuth)
	}
	for _, u := range usages {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			return false
		}
	}
	if now.Add(RenewBefore).After(cert.NotAfter) {
		return false
	}
	if cert.Subject.CommonName != spec.CommonName || !slices.Equal(cert.Subject.Organization, spec.Organizations) {
		return false
	}
	for _, n := range spec.DNSNames {
		if !slices.ContainsFunc(cert.DNSNames, func(have string) bool { return strings.EqualFold(have, n) }) {
			return false
		}
	}
	for _, ip := range spec.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}
