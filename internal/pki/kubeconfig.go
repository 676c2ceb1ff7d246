package pki

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes a kubeconfig with one cluster, one user and one context joining them, made
// current. Credentials are embedded rather than referenced by path so the file can be copied to
// another machine and still work. The file is 0600 because it holds a private key, and is replaced
// atomically so a kubectl running meanwhile never reads half of it.
func WriteKubeconfig(path, serverURL, clusterName, userName string, caPEM, certPEM, keyPEM []byte) error {
	data, err := clientcmd.Write(*Kubeconfig(serverURL, clusterName, userName, caPEM, certPEM, keyPEM))
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// Kubeconfig builds the kubeconfig WriteKubeconfig writes, for callers that hand it on rather than
// store it (a test's rest.Config, a kubeconfig printed by `skiff init`). The context is named
// user@cluster, as kubeadm names its own.
func Kubeconfig(serverURL, clusterName, userName string, caPEM, certPEM, keyPEM []byte) *clientcmdapi.Config {
	contextName := userName + "@" + clusterName
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = serverURL
	cluster.CertificateAuthorityData = caPEM
	cfg.Clusters[clusterName] = cluster
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = certPEM
	user.ClientKeyData = keyPEM
	cfg.AuthInfos[userName] = user
	ctx := clientcmdapi.NewContext()
	ctx.Cluster = clusterName
	ctx.AuthInfo = userName
	cfg.Contexts[contextName] = ctx
	cfg.CurrentContext = contextName
	return cfg
}
