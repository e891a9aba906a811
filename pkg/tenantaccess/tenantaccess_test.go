package tenantaccess

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// TestConfigUsesOnlyInlineCredentials: whatever else a kubeconfig says (another server, a
// token file, an exec plugin, a proxy, file paths), the manager dials the tenant's Service
// with the inline CA, certificate and key only; without them it refuses.
func TestConfigUsesOnlyInlineCredentials(t *testing.T) {
	tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "p1", Name: "acme"}}
	kubeconfig := func(mutate func(*clientcmdapi.Cluster, *clientcmdapi.AuthInfo)) []byte {
		cluster := &clientcmdapi.Cluster{Server: "https://203.0.113.10:6443", CertificateAuthorityData: []byte("CA")}
		user := &clientcmdapi.AuthInfo{ClientCertificateData: []byte("CERT"), ClientKeyData: []byte("KEY")}
		if mutate != nil {
			mutate(cluster, user)
		}
		raw, err := clientcmd.Write(clientcmdapi.Config{
			Clusters: map[string]*clientcmdapi.Cluster{"c": cluster}, AuthInfos: map[string]*clientcmdapi.AuthInfo{"u": user},
			Contexts: map[string]*clientcmdapi.Context{"x": {Cluster: "c", AuthInfo: "u"}}, CurrentContext: "x",
		})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	const host = "https://acme-kube-apiserver.kubeseed-p1-acme-d9e224779c.svc:6443"
	for _, c := range []struct {
		name    string
		mutate  func(*clientcmdapi.Cluster, *clientcmdapi.AuthInfo)
		wantErr string
	}{
		{name: "inline credentials"},
		{name: "a customer's additions are ignored", mutate: func(cl *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			cl.Server, cl.ProxyURL, cl.CertificateAuthority = "https://attacker.example:443", "http://attacker.example:3128", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
			u.Token, u.TokenFile = "stolen", "/var/run/secrets/kubernetes.io/serviceaccount/token"
			u.Exec = &clientcmdapi.ExecConfig{Command: "/bin/sh", APIVersion: "client.authentication.k8s.io/v1"}
			u.Impersonate = "system:admin"
		}},
		{name: "certificate from a file refused", mutate: func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			u.ClientCertificateData, u.ClientCertificate = nil, "/etc/kubeseed/tls.crt"
		}, wantErr: "inline"},
		{name: "CA from a file refused", mutate: func(cl *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) {
			cl.CertificateAuthorityData, cl.CertificateAuthority = nil, "/etc/ssl/ca.crt"
		}, wantErr: "inline"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Config(tc, kubeconfig(c.mutate))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != host || string(cfg.CAData) != "CA" || string(cfg.CertData) != "CERT" || string(cfg.KeyData) != "KEY" {
				t.Errorf("config host %s, CA %q, cert %q, key %q; want %s and the inline PEM", cfg.Host, cfg.CAData, cfg.CertData, cfg.KeyData, host)
			}
			if cfg.BearerToken != "" || cfg.BearerTokenFile != "" || cfg.ExecProvider != nil || cfg.AuthProvider != nil || cfg.Proxy != nil ||
				cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" || cfg.Impersonate.UserName != "" || cfg.Timeout != Timeout {
				t.Errorf("config carries more than the inline credentials: %+v", cfg)
			}
		})
	}
}
