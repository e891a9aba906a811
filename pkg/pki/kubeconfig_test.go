package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// keyPair is a certificate and its key, PEM-encoded, as cert-manager writes them.
type keyPair struct {
	cert, key []byte
	x509      *x509.Certificate
	signer    *ecdsa.PrivateKey
}

// newKeyPair issues a certificate signed by parent, or self-signed when parent is nil.
func newKeyPair(t *testing.T, cn string, orgs []string, parent *keyPair) keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	issuer, signer := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	} else {
		issuer, signer = parent.x509, parent.signer
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{
		cert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		x509:   parsed,
		signer: key,
	}
}

func tlsSecret(name string, kp, ca keyPair) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "project-1"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": kp.cert, "tls.key": kp.key, "ca.crt": ca.cert},
	}
}

func TestKubeconfigRoundTrip(t *testing.T) {
	ca := newKeyPair(t, "kubernetes", nil, nil)
	admin := newKeyPair(t, "kubernetes-admin", []string{"system:masters"}, &ca)
	const server = "https://[2001:db8::1]:6443"

	out, err := pki.Kubeconfig("acme", server, ca.cert, admin.cert, admin.key, "kubernetes-admin")
	if err != nil {
		t.Fatal(err)
	}
	again, err := pki.Kubeconfig("acme", server, ca.cert, admin.cert, admin.key, "kubernetes-admin")
	if err != nil || !bytes.Equal(out, again) {
		t.Errorf("Kubeconfig is not deterministic (%v)", err)
	}

	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatalf("load kubeconfig: %v\n%s", err, out)
	}
	if cfg.CurrentContext != "kubernetes-admin@acme" {
		t.Errorf("current context %q", cfg.CurrentContext)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || ctx.Cluster != "acme" || ctx.AuthInfo != "kubernetes-admin" {
		t.Fatalf("context %+v", ctx)
	}
	cluster, user := cfg.Clusters["acme"], cfg.AuthInfos["kubernetes-admin"]
	if cluster == nil || user == nil {
		t.Fatalf("cluster %+v, user %+v", cluster, user)
	}
	if cluster.Server != server || !bytes.Equal(cluster.CertificateAuthorityData, ca.cert) {
		t.Errorf("cluster %s with CA %q", cluster.Server, cluster.CertificateAuthorityData)
	}
	if !bytes.Equal(user.ClientCertificateData, admin.cert) || !bytes.Equal(user.ClientKeyData, admin.key) {
		t.Error("user credentials differ from the ones given")
	}
	if cluster.CertificateAuthority != "" || user.ClientCertificate != "" || user.ClientKey != "" {
		t.Error("kubeconfig refers to files; everything must be embedded")
	}
	// What a client does with it.
	rest, err := clientcmd.RESTConfigFromKubeConfig(out)
	if err != nil || rest.Host != server {
		t.Errorf("REST config: %v, host %q", err, rest.Host)
	}
}

func TestKubeconfigInvalid(t *testing.T) {
	ca := newKeyPair(t, "kubernetes", nil, nil)
	admin := newKeyPair(t, "kubernetes-admin", nil, &ca)
	other := newKeyPair(t, "other", nil, &ca)
	cases := []struct {
		name              string
		cluster, server   string
		caPEM, cert, key  []byte
		user, wantMessage string
	}{
		{"http server", "acme", "http://203.0.113.10:6443", ca.cert, admin.cert, admin.key, "kubernetes-admin", "not an https URL"},
		{"no server", "acme", "", ca.cert, admin.cert, admin.key, "kubernetes-admin", "not an https URL"},
		{"no cluster", "", "https://a:6443", ca.cert, admin.cert, admin.key, "kubernetes-admin", "must be set"},
		{"no user", "acme", "https://a:6443", ca.cert, admin.cert, admin.key, "", "must be set"},
		{"garbage CA", "acme", "https://a:6443", []byte("nope"), admin.cert, admin.key, "kubernetes-admin", "CA certificate"},
		{"key of another certificate", "acme", "https://a:6443", ca.cert, admin.cert, other.key, "kubernetes-admin", "client certificate and key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := pki.Kubeconfig(c.cluster, c.server, c.caPEM, c.cert, c.key, c.user)
			if err == nil || !strings.Contains(err.Error(), c.wantMessage) {
				t.Errorf("Kubeconfig error %v, want one containing %q", err, c.wantMessage)
			}
		})
	}
}

// issuedSecrets fakes what cert-manager leaves for the tenant acme.
func issuedSecrets(t *testing.T) (map[string]*corev1.Secret, keyPair) {
	t.Helper()
	ca := newKeyPair(t, "kubernetes", nil, nil)
	issued := map[string]*corev1.Secret{}
	add := func(s controlplane.Secret, kp keyPair) { issued[s.Name("acme")] = tlsSecret(s.Name("acme"), kp, ca) }
	add(controlplane.CASecret, ca)
	add(pki.AdminClientSecret, newKeyPair(t, "kubernetes-admin", []string{"system:masters"}, &ca))
	add(pki.ControllerManagerClientSecret, newKeyPair(t, "system:kube-controller-manager", nil, &ca))
	add(pki.SchedulerClientSecret, newKeyPair(t, "system:kube-scheduler", nil, &ca))
	return issued, ca
}

func TestKubeconfigSecrets(t *testing.T) {
	issued, ca := issuedSecrets(t)
	tc := tenant()
	got, err := pki.KubeconfigSecrets(tc, endpoint.URL(), issued)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		secret controlplane.Secret
		client controlplane.Secret
		server string
		user   string
	}{
		{controlplane.AdminKubeconfigSecret, pki.AdminClientSecret, "https://203.0.113.10:6443", "kubernetes-admin"},
		{controlplane.ControllerManagerKubeconfigSecret, pki.ControllerManagerClientSecret, "https://acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a.svc:6443", "system:kube-controller-manager"},
		{controlplane.SchedulerKubeconfigSecret, pki.SchedulerClientSecret, "https://acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a.svc:6443", "system:kube-scheduler"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d Secrets, want %d", len(got), len(want))
	}
	for i, w := range want {
		s := got[i]
		if s.Name != w.secret.Name("acme") || s.Namespace != "kubeseed-project-1-acme-a2683d4d1a" || s.Type != corev1.SecretTypeOpaque {
			t.Errorf("Secret %d is %s/%s of type %s, want %s", i, s.Namespace, s.Name, s.Type, w.secret.Name("acme"))
		}
		if !maps.Equal(s.Labels, pki.Labels("acme")) || s.Kind != "Secret" || s.APIVersion != "v1" {
			t.Errorf("%s: labels %v, kind %s/%s", s.Name, s.Labels, s.APIVersion, s.Kind)
		}
		if keys := slices.Collect(maps.Keys(s.Data)); !slices.Equal(keys, []string{controlplane.KubeconfigKey}) {
			t.Errorf("%s has keys %q, want only %q", s.Name, keys, controlplane.KubeconfigKey)
		}
		cfg, err := clientcmd.Load(s.Data[controlplane.KubeconfigKey])
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		ctx := cfg.Contexts[cfg.CurrentContext]
		cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
		client := issued[w.client.Name("acme")]
		if cluster.Server != w.server || ctx.AuthInfo != w.user || ctx.Cluster != "acme" {
			t.Errorf("%s: server %s user %s cluster %s, want %s %s acme", s.Name, cluster.Server, ctx.AuthInfo, ctx.Cluster, w.server, w.user)
		}
		if !bytes.Equal(cluster.CertificateAuthorityData, ca.cert) ||
			!bytes.Equal(user.ClientCertificateData, client.Data["tls.crt"]) || !bytes.Equal(user.ClientKeyData, client.Data["tls.key"]) {
			t.Errorf("%s: credentials are not the issued ones", s.Name)
		}
	}
	// The component kubeconfigs point at a name the serving certificate carries.
	certs := certificates(t, "acme", mustObjects(t, tc, endpoint))
	if !slices.Contains(certs[controlplane.APIServerTLSSecret].Spec.DNSNames, controlplane.APIServerServiceHost("acme", "kubeseed-project-1-acme-a2683d4d1a")) {
		t.Error("the apiserver certificate lacks the host the component kubeconfigs dial")
	}

	// Same Secrets, same bytes: the checksum of the kubeconfig Secrets rolls pods.
	again, err := pki.KubeconfigSecrets(tc, endpoint.URL(), issued)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if !bytes.Equal(got[i].Data[controlplane.KubeconfigKey], again[i].Data[controlplane.KubeconfigKey]) {
			t.Errorf("%s is not deterministic", got[i].Name)
		}
	}
}

func TestKubeconfigSecretsNotIssued(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(map[string]*corev1.Secret)
		missing []pki.NotIssuedError
	}{
		{"no CA", func(m map[string]*corev1.Secret) { delete(m, "acme-ca") },
			[]pki.NotIssuedError{{Secret: "acme-ca"}}},
		{"no scheduler client", func(m map[string]*corev1.Secret) { delete(m, "acme-scheduler-client") },
			[]pki.NotIssuedError{{Secret: "acme-scheduler-client"}}},
		{"admin key missing", func(m map[string]*corev1.Secret) { delete(m["acme-admin-client"].Data, "tls.key") },
			[]pki.NotIssuedError{{Secret: "acme-admin-client", Key: "tls.key"}}},
		{"several", func(m map[string]*corev1.Secret) {
			delete(m, "acme-controller-manager-client")
			m["acme-admin-client"].Data["tls.crt"] = nil
		}, []pki.NotIssuedError{{Secret: "acme-admin-client", Key: "tls.crt"}, {Secret: "acme-controller-manager-client"}}},
		{"nothing issued", func(m map[string]*corev1.Secret) { clear(m) },
			[]pki.NotIssuedError{{Secret: "acme-ca"}, {Secret: "acme-admin-client"}, {Secret: "acme-controller-manager-client"}, {Secret: "acme-scheduler-client"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			issued, _ := issuedSecrets(t)
			c.mutate(issued)
			secrets, err := pki.KubeconfigSecrets(tenant(), endpoint.URL(), issued)
			if secrets != nil || !errors.Is(err, pki.ErrNotIssued) {
				t.Fatalf("KubeconfigSecrets = %d Secrets, %v; want an error matching ErrNotIssued", len(secrets), err)
			}
			var one *pki.NotIssuedError
			if !errors.As(err, &one) {
				t.Errorf("%v is not a *NotIssuedError", err)
			}
			msg := err.Error()
			for _, m := range c.missing {
				if !strings.Contains(msg, m.Error()) {
					t.Errorf("error %q does not say %q", msg, m.Error())
				}
				if strings.Count(msg, m.Error()) > 1 {
					t.Errorf("error %q repeats %q", msg, m.Error())
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans lines; it goes into a condition message", msg)
			}
		})
	}
}

func TestKubeconfigSecretsOther(t *testing.T) {
	issued, _ := issuedSecrets(t)
	if _, err := pki.KubeconfigSecrets(tenant(), "", issued); !errors.Is(err, pki.ErrEndpointPending) || errors.Is(err, pki.ErrNotIssued) {
		t.Errorf("no server: %v, want ErrEndpointPending", err)
	}
	if _, err := pki.AdminKubeconfigSecret(tenant(), "", issued); !errors.Is(err, pki.ErrEndpointPending) {
		t.Errorf("admin without server: %v, want ErrEndpointPending", err)
	}
	// The component kubeconfigs need no endpoint.
	for _, c := range []controlplane.Component{controlplane.ControllerManager, controlplane.Scheduler} {
		if _, err := pki.ComponentKubeconfigSecret(tenant(), c, issued); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	if _, err := pki.ComponentKubeconfigSecret(tenant(), controlplane.Etcd, issued); err == nil || errors.Is(err, pki.ErrNotIssued) {
		t.Errorf("etcd kubeconfig: %v, want a plain error", err)
	}

	// A broken issued Secret is a failure, not something to wait for.
	other := newKeyPair(t, "other", nil, nil)
	issued["acme-scheduler-client"].Data["tls.key"] = other.key
	if _, err := pki.KubeconfigSecrets(tenant(), endpoint.URL(), issued); err == nil || errors.Is(err, pki.ErrNotIssued) {
		t.Errorf("mismatched key: %v, want a plain error", err)
	}
}
