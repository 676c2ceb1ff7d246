package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// PEM block types. Keys use the SEC1 "EC PRIVATE KEY" form that kubeadm and openssl ec write;
// PKCS#8 keys are accepted on load so that hand-made files work too.
const (
	certBlockType  = "CERTIFICATE"
	ecKeyBlockType = "EC PRIVATE KEY"
	pkcs8BlockType = "PRIVATE KEY"
)

// KeyPair is a signed certificate with its private key, in both parsed and PEM form: servers want a
// tls.Certificate, kubeconfigs and CSR answers want the PEM bytes.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// TLSCertificate returns the pair in the form crypto/tls serves, with Leaf filled so callers can
// inspect it without reparsing.
func (kp *KeyPair) TLSCertificate() (tls.Certificate, error) {
	c, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	c.Leaf = kp.Cert
	return c, nil
}

// GenerateKey creates a private key of the kind every skiff certificate uses.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// EncodeKeyPEM encodes an ECDSA private key.
func EncodeKeyPEM(key crypto.Signer) ([]byte, error) {
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: pkcs8BlockType, Bytes: der}), nil
	}
	der, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: ecKeyBlockType, Bytes: der}), nil
}

// EncodeCertPEM encodes a certificate.
func EncodeCertPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: certBlockType, Bytes: cert.Raw})
}

// ParseKeyPEM decodes the first private key block found in data.
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no private key PEM block found")
		}
		switch b.Type {
		case ecKeyBlockType:
			return x509.ParseECPrivateKey(b.Bytes)
		case pkcs8BlockType:
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported private key type %T", k)
			}
			return s, nil
		}
	}
}

// ParseCertPEM decodes the first certificate block found in data.
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no certificate PEM block found")
		}
		if b.Type == certBlockType {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// ParseKeyPair rebuilds a KeyPair from PEM and checks that the key belongs to the certificate, so a
// half-replaced pair on disk is caught at load instead of at the first TLS handshake.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// LoadKeyPair reads <dir>/<name>.crt and <dir>/<name>.key. The returned error satisfies
// errors.Is(err, fs.ErrNotExist) when either file is missing.
func LoadKeyPair(dir, name string) (*KeyPair, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, err
	}
	kp, err := ParseKeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return kp, nil
}

// WriteKeyPair writes <dir>/<name>.key (0600) and <dir>/<name>.crt (0644), each replaced atomically.
// A crash between the two leaves a pair whose halves do not match; LoadKeyPair rejects that, and
// EnsureServer then issues a fresh leaf pair.
func WriteKeyPair(dir, name string, kp *KeyPair) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, name+".key"), kp.KeyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, name+".crt"), kp.CertPEM, 0o644)
}

// writeFileAtomic replaces path with data via a temporary file and rename, so readers (a restarting
// server, a kubectl reading a kubeconfig) never see a truncated file, and the mode is the one asked for
// even when the old file had a looser one.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
