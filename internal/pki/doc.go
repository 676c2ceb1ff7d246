// Package pki owns the cluster's certificate authority and the key pairs it signs: it creates the CA
// once under <data-dir>/pki and reuses it on every restart, issues serving and client certificates
// (for the API server, the admin user and, later, kubelets that bootstrap over TLS), keeps the API
// server's serving certificate covering the names and addresses it is asked to answer on, and writes
// kubeconfigs that embed those credentials. Everything is ECDSA P-256 in PEM files; private keys are
// written 0600 and replaced atomically.
//
// It must never replace an existing CA (every issued certificate and every kubeconfig trusts it), never
// weaken a key file's mode, and never talk to the API server or etcd: it works on files and bytes so
// that init, join, server and the CSR signer can all share it.
//
// Usage:
//
//	b, err := pki.EnsureServer(filepath.Join(dataDir, "pki"), pki.ServerOptions{
//		Hostname: host, NodeIPs: ips, ServiceIP: net.ParseIP("10.96.0.1"),
//	})
//	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{b.Serving}, ClientCAs: b.CAPool,
//		ClientAuth: tls.VerifyClientCertIfGiven}
//	err = pki.WriteKubeconfig(path, "https://127.0.0.1:6443", "skiff", "admin",
//		b.CA.CertPEM, b.Admin.CertPEM, b.Admin.KeyPEM)
package pki
