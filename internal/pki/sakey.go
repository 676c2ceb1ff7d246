package pki

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ServiceAccountKeyName is the key pair (sa.key, sa.pub) that signs service account tokens. It is not
// a certificate: token verifiers need only the public key, and kubeadm lays it out the same way.
const ServiceAccountKeyName = "sa"

// EnsureServiceAccountKey returns the token signing key in dir, creating it on first use. Like the CA
// it is never replaced once it exists, because every token already handed to a pod was signed by it;
// a corrupt file is an error, not a reason to regenerate.
func EnsureServiceAccountKey(dir string) (crypto.Signer, error) {
	keyPath := filepath.Join(dir, ServiceAccountKeyName+".key")
	pubPath := filepath.Join(dir, ServiceAccountKeyName+".pub")
	data, err := os.ReadFile(keyPath)
	if err == nil {
		key, err := ParseKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyPath, err)
		}
		// sa.pub is derived; restore it if someone deleted it.
		if _, err := os.Stat(pubPath); errors.Is(err, fs.ErrNotExist) {
			if err := writePublicKey(pubPath, key.Public()); err != nil {
				return nil, err
			}
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	keyPEM, err := EncodeKeyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writePublicKey(pubPath, key.Public()); err != nil {
		return nil, err
	}
	return key, nil
}

func writePublicKey(path string, pub crypto.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}
