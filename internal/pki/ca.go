package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names under the PKI directory, fixed so that init, join and server agree on them.
const (
	CAName        = "ca"        // ca.crt, ca.key
	APIServerName = "apiserver" // apiserver.crt, apiserver.key
	AdminName     = "admin"     // admin.crt, admin.key
	// KubeletClientName is the API server's client pair for node agents: apiserver-kubelet-client.crt/key.
	KubeletClientName = "apiserver-kubelet-client"
)

// Validity periods, after kubeadm's: a CA long enough that nobody rotates it by surprise, leaves short
// enough that a stolen one expires; EnsureServer renews leaves that are close to expiry.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 365 * 24 * time.Hour
	// RenewBefore is how close to expiry a leaf is reissued on start-up.
	RenewBefore = 30 * 24 * time.Hour
	// backdate absorbs small clock differences between the host that signs and the one that checks.
	backdate = 5 * time.Minute
)

// CA is the cluster's certificate authority: the certificate everything trusts and the key that signs.
type CA struct {
	KeyPair
}

// Usage says what a leaf certificate is for; it sets the extended key usages, which TLS stacks check.
type Usage int

const (
	ServerAuth Usage = 1 << iota
	ClientAuth
)

// CertSpec describes the certificate to sign. For client certificates Kubernetes reads the user name
// from CommonName and the groups from Organizations; for serving certificates clients check
// DNSNames and IPs.
type CertSpec struct {
	CommonName    string
	Organizations []string
	DNSNames      []string
	IPs           []net.IP
	Usage         Usage
	// Validity defaults to LeafValidity when zero.
	Validity time.Duration
}

// NewCA creates a self-signed CA in memory.
func NewCA(commonName string) (*CA, error) {
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// A CA that signs only leaves: a leaked kubelet key cannot become an intermediate.
		// SubjectKeyId is left for crypto/x509 to derive; leaves then carry it as AuthorityKeyId.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := EncodeKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return &CA{KeyPair{Cert: cert, Key: key, CertPEM: EncodeCertPEM(cert), KeyPEM: keyPEM}}, nil
}

// LoadCA reads ca.crt and ca.key from dir. The error satisfies errors.Is(err, fs.ErrNotExist) when
// either is missing.
func LoadCA(dir string) (*CA, error) {
	kp, err := LoadKeyPair(dir, CAName)
	if err != nil {
		return nil, err
	}
	if !kp.Cert.IsCA {
		return nil, fmt.Errorf("%s: certificate is not a CA", filepath.Join(dir, CAName+".crt"))
	}
	return &CA{*kp}, nil
}

// LoadOrCreateCA returns the CA in dir, creating it when neither of its files exists. When exactly one
// exists it fails instead of creating a new CA: overwriting a CA silently would orphan every
// certificate and kubeconfig issued under it.
func LoadOrCreateCA(dir, commonName string) (ca *CA, created bool, err error) {
	ca, err = LoadCA(dir)
	if err == nil {
		return ca, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	for _, f := range []string{CAName + ".crt", CAName + ".key"} {
		if _, serr := os.Stat(filepath.Join(dir, f)); serr == nil {
			return nil, false, fmt.Errorf("%s exists but its pair is missing; refusing to create a new CA over it", filepath.Join(dir, f))
		}
	}
	ca, err = NewCA(commonName)
	if err != nil {
		return nil, false, err
	}
	if err := WriteKeyPair(dir, CAName, &ca.KeyPair); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// Pool returns a pool holding only this CA, for verifying peers.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue generates a key and signs a certificate for it.
func (ca *CA) Issue(spec CertSpec) (*KeyPair, error) {
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	cert, err := ca.Sign(key.Public(), spec)
	if err != nil {
		return nil, err
	}
	keyPEM, err := EncodeKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: EncodeCertPEM(cert), KeyPEM: keyPEM}, nil
}

// Sign signs a certificate for a public key the caller already holds, as when approving a kubelet's
// CertificateSigningRequest: the private key never leaves the node. The spec, not the CSR, decides
// names and usages, so the signer stays in control of what it vouches for.
func (ca *CA) Sign(pub crypto.PublicKey, spec CertSpec) (*x509.Certificate, error) {
	if spec.CommonName == "" && len(spec.DNSNames) == 0 && len(spec.IPs) == 0 {
		return nil, errors.New("certificate needs a common name or a subject alternative name")
	}
	if spec.Usage == 0 {
		return nil, errors.New("certificate usage (ServerAuth, ClientAuth) not set")
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	validity := spec.Validity
	if validity == 0 {
		validity = LeafValidity
	}
	now := time.Now()
	notAfter := now.Add(validity)
	// A leaf outliving its CA would fail verification after the CA expires anyway; say so honestly.
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	var ext []x509.ExtKeyUsage
	if spec.Usage&ServerAuth != 0 {
		ext = append(ext, x509.ExtKeyUsageServerAuth)
	}
	if spec.Usage&ClientAuth != 0 {
		ext = append(ext, x509.ExtKeyUsageClientAuth)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.CommonName, Organization: spec.Organizations},
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		// ECDSA keys sign; they never encipher, so KeyEncipherment would be wrong here.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           ext,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// newSerial returns a random 128-bit serial; random serials keep two CAs created in the same second
// (tests, re-inits) from issuing colliding certificates.
func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}
