//go:build envtest

package pki_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// TestIssuePKI has the real cert-manager controllers (hack/cert-manager, built by
// hack/cert-manager-bin.sh) issue a tenant's whole PKI against envtest's kube-apiserver,
// then checks the chains, the kubeconfigs, and that renewing the service-account key pair
// keeps its key.
func TestIssuePKI(t *testing.T) {
	begin := time.Now()
	certManager, crds := certManagerBinary(t)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver, etcd and kubectl offline")
	}

	env := &envtest.Environment{CRDDirectoryPaths: []string{crds}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("start envtest from %s: %v", assets, err)
	}
	admin, err := env.AddUser(envtest.User{Name: "cert-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("add user: %v", err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatalf("user kubeconfig: %v", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := startCertManager(t, certManager, kubeconfig)
	t.Logf("envtest and cert-manager started in %v", time.Since(begin).Round(time.Millisecond))

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	// Room for the renewal's retriggers below (up to three rounds of 15 s) on a loaded CI
	// machine: 30 s ran out there while a trigger was re-sent.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	tc := tenant(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.ControlPlane.APIServer.CertSANs = []string{"k8s.acme.example", "*.apps.acme.example", "198.51.100.7", "2001:db8::7"}
	})
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlplane.NamespaceOf(tc)}}); err != nil {
		t.Fatal(err)
	}
	objs := mustObjects(t, tc, endpoint)
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}

	issuing := time.Now()
	// Ready and the revision are set by different cert-manager controllers; both mean issued.
	issued := func(cert *cmv1.Certificate) bool { return cert.Status.Revision != nil }
	certs := waitReady(ctx, t, c, tc, len(certificates(t, tc.Name, objs)), issued, logs)
	t.Logf("%d certificates issued in %v", len(certs), time.Since(issuing).Round(time.Millisecond))

	secrets := labelledSecrets(ctx, t, c, tc)
	for _, s := range pki.IssuedSecrets {
		if secrets[s.Name(tc.Name)] == nil {
			t.Errorf("Secret %s was not issued with the tenant's labels", s.Name(tc.Name))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	checkChains(t, tc, certs, secrets)
	checkKubeconfigs(t, tc, secrets)

	// Renew, the way cmctl renew does: an Issuing condition. The service-account key and
	// the cluster CA's key must stay; the scheduler's, renewed alongside, proves that
	// renewal really makes a new key where it should.
	renewing := time.Now()
	keepsKey := map[controlplane.Secret]bool{controlplane.ServiceAccountSecret: true, controlplane.CASecret: true, pki.SchedulerClientSecret: false}
	before := map[controlplane.Secret]*corev1.Secret{}
	revision := map[string]int{}
	for s := range keepsKey {
		name := s.Name(tc.Name)
		before[s] = secrets[name]
		revision[name] = *certs[name].Status.Revision
		triggerRenewal(ctx, t, c, controlplane.NamespaceOf(tc), name)
	}
	renewed := func(cert *cmv1.Certificate) bool {
		r, ok := revision[cert.Name]
		return !ok || (cert.Status.Revision != nil && *cert.Status.Revision > r)
	}
	// A trigger that lands while cert-manager is still closing the first issuance is
	// dropped with that issuance's Issuing condition, and one whose request raced the key
	// manager fails (Issuing False, backed off for an hour): trigger again what has not
	// moved and is not issuing.
	for range 3 {
		retrigger := map[string]bool{}
		_ = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
			clear(retrigger)
			for name := range revision {
				cert := &cmv1.Certificate{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: name}, cert); err == nil && !renewed(cert) &&
					!slices.ContainsFunc(cert.Status.Conditions, func(c cmv1.CertificateCondition) bool {
						return c.Type == cmv1.CertificateConditionIssuing && c.Status == cmmeta.ConditionTrue
					}) {
					retrigger[name] = true
				}
			}
			return len(retrigger) == 0, nil
		})
		for name := range retrigger {
			triggerRenewal(ctx, t, c, controlplane.NamespaceOf(tc), name)
		}
	}
	waitReady(ctx, t, c, tc, len(certs), renewed, logs)
	t.Logf("renewed in %v", time.Since(renewing).Round(time.Millisecond))
	after := labelledSecrets(ctx, t, c, tc)
	for s, keep := range keepsKey {
		old, renewed := before[s], after[s.Name(tc.Name)]
		if bytes.Equal(old.Data["tls.crt"], renewed.Data["tls.crt"]) {
			t.Errorf("%s: the certificate was not reissued", s.Name(tc.Name))
		}
		if sameKey := bytes.Equal(old.Data["tls.key"], renewed.Data["tls.key"]); sameKey != keep {
			t.Errorf("%s: renewal kept the key: %v, want %v", s.Name(tc.Name), sameKey, keep)
		}
	}
	// A renewed CA with the same key still verifies what the old one signed: workers and
	// users holding either CA certificate keep working.
	renewedCA := x509.NewCertPool()
	renewedCA.AddCert(parseCert(t, after[controlplane.CASecret.Name(tc.Name)].Data["tls.crt"]))
	oldLeaf := parseCert(t, secrets[controlplane.APIServerTLSSecret.Name(tc.Name)].Data["tls.crt"])
	if _, err := oldLeaf.Verify(x509.VerifyOptions{Roots: renewedCA, DNSName: "kubernetes.default.svc"}); err != nil {
		t.Errorf("the apiserver certificate does not verify against the renewed cluster CA: %v", err)
	}
	t.Logf("total %v", time.Since(begin).Round(time.Millisecond))
}

// certManagerBinary is where hack/cert-manager-bin.sh leaves the controller and its CRDs,
// for the version hack/cert-manager/go.mod pins.
func certManagerBinary(t *testing.T) (bin, crds string) {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join("..", "..", "hack", "cert-manager", "go.mod"))
	if err != nil {
		t.Fatalf("read the cert-manager version: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/cert-manager/cert-manager (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("hack/cert-manager/go.mod pins no github.com/cert-manager/cert-manager version")
	}
	cache := os.Getenv("KUBESEED_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "kubeseed")
	}
	dir := filepath.Join(cache, "cert-manager", string(m[1]))
	bin, crds = filepath.Join(dir, "cert-manager-controller"), filepath.Join(dir, "crds")
	for _, p := range []string{bin, crds} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("cert-manager %s is not built (%v): run hack/cert-manager-bin.sh", m[1], err)
		}
	}
	return bin, crds
}

// startCertManager runs the controller until the test ends; its output is returned for
// failure messages.
func startCertManager(t *testing.T, bin, kubeconfig string) *syncBuffer {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--cluster-resource-namespace", "default", "--healthz-address", "127.0.0.1:0", "-v=2")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Stopped before envtest (cleanups run last first), so it does not retry against a
	// dead API server.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			err = <-exited
		}
		t.Logf("cert-manager stopped: %v", err)
	})
	// Fail early if it does not come up at all (a flag it refuses, no API server).
	select {
	case err := <-exited:
		exited <- err
		t.Fatalf("cert-manager exited at once: %v\n%s", err, out.String())
	case <-time.After(500 * time.Millisecond):
	}
	return out
}

// waitReady waits until the tenant's want Certificates are all Ready and done(cert) holds
// for each, and returns them by name.
func waitReady(ctx context.Context, t *testing.T, c client.Client, tc *v1alpha1.TenantCluster, want int, done func(*cmv1.Certificate) bool, logs *syncBuffer) map[string]*cmv1.Certificate {
	t.Helper()
	var waiting []string
	for {
		list := &cmv1.CertificateList{}
		if err := c.List(ctx, list, client.InNamespace(controlplane.NamespaceOf(tc)), client.MatchingLabels(pki.Labels(tc.Name))); err != nil {
			t.Fatalf("list certificates: %v", err)
		}
		byName := map[string]*cmv1.Certificate{}
		waiting = waiting[:0]
		for i := range list.Items {
			cert := &list.Items[i]
			byName[cert.Name] = cert
			if ok, msg := pki.Ready(cert); !ok || !done(cert) {
				waiting = append(waiting, msg)
			}
		}
		if len(waiting) == 0 && len(byName) == want {
			return byName
		}
		select {
		case <-ctx.Done():
			slices.Sort(waiting)
			t.Fatalf("%d of %d certificates ready; still waiting for:\n  %s\ncert-manager's log ends with:\n%s",
				len(byName)-len(waiting), want, strings.Join(waiting, "\n  "), tail(logs.String(), 40))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func labelledSecrets(ctx context.Context, t *testing.T, c client.Client, tc *v1alpha1.TenantCluster) map[string]*corev1.Secret {
	t.Helper()
	list := &corev1.SecretList{}
	if err := c.List(ctx, list, client.InNamespace(controlplane.NamespaceOf(tc)), client.MatchingLabels(pki.Labels(tc.Name))); err != nil {
		t.Fatalf("list secrets: %v", err)
	}
	out := map[string]*corev1.Secret{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// triggerRenewal is cmctl renew: the Issuing condition makes cert-manager reissue now.
func triggerRenewal(ctx context.Context, t *testing.T, c client.Client, ns, name string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cert := &cmv1.Certificate{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cert); err != nil {
			return err
		}
		now := metav1.Now()
		cert.Status.Conditions = slices.DeleteFunc(cert.Status.Conditions, func(c cmv1.CertificateCondition) bool {
			return c.Type == cmv1.CertificateConditionIssuing
		})
		cert.Status.Conditions = append(cert.Status.Conditions, cmv1.CertificateCondition{
			Type: cmv1.CertificateConditionIssuing, Status: cmmeta.ConditionTrue, LastTransitionTime: &now,
			Reason: "ManuallyTriggered", Message: "renewal triggered by TestIssuePKI", ObservedGeneration: cert.Generation,
		})
		return c.Status().Update(ctx, cert)
	})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("trigger renewal of %s: %v", name, err)
	}
}

func checkChains(t *testing.T, tc *v1alpha1.TenantCluster, certs map[string]*cmv1.Certificate, secrets map[string]*corev1.Secret) {
	t.Helper()
	name := tc.Name
	leaf := func(s controlplane.Secret) *x509.Certificate {
		return parseCert(t, secrets[s.Name(name)].Data["tls.crt"])
	}
	pool := func(s controlplane.Secret) *x509.CertPool {
		p := x509.NewCertPool()
		p.AddCert(leaf(s))
		return p
	}
	clusterCA, etcdCA, frontProxyCA := pool(controlplane.CASecret), pool(controlplane.EtcdCASecret), pool(controlplane.FrontProxyCASecret)
	verify := func(s controlplane.Secret, roots *x509.CertPool, host string, usages ...x509.ExtKeyUsage) {
		t.Helper()
		if _, err := leaf(s).Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: usages}); err != nil {
			t.Errorf("%s for %q: %v", s.Name(name), host, err)
		}
	}
	// The issued leaves carry their CA in ca.crt, which the chart mounts for etcd.
	for _, s := range []controlplane.Secret{controlplane.EtcdServerSecret, controlplane.EtcdPeerSecret, controlplane.APIServerEtcdClientSecret} {
		if !bytes.Equal(secrets[s.Name(name)].Data["ca.crt"], secrets[controlplane.EtcdCASecret.Name(name)].Data["tls.crt"]) {
			t.Errorf("%s: ca.crt is not the etcd CA", s.Name(name))
		}
	}

	// Every SAN of the serving certificate, as a client dials it.
	api := certs[controlplane.APIServerTLSSecret.Name(name)].Spec
	for _, san := range slices.Concat(api.DNSNames, api.IPAddresses) {
		verify(controlplane.APIServerTLSSecret, clusterCA, strings.Replace(san, "*", "any", 1), x509.ExtKeyUsageServerAuth)
	}
	for _, want := range []string{"kubernetes.default.svc.cluster.local", "10.96.0.1", "203.0.113.10", controlplane.APIServerServiceHost(name, controlplane.NamespaceOf(tc))} {
		verify(controlplane.APIServerTLSSecret, clusterCA, want, x509.ExtKeyUsageServerAuth)
	}
	for _, san := range certs[controlplane.EtcdServerSecret.Name(name)].Spec.DNSNames {
		verify(controlplane.EtcdServerSecret, etcdCA, san, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	}
	for i := range 5 {
		verify(controlplane.EtcdPeerSecret, etcdCA, controlplane.EtcdMemberHost(name, controlplane.NamespaceOf(tc), i), x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	}
	verify(controlplane.EtcdServerSecret, etcdCA, controlplane.EtcdClientHost(name, controlplane.NamespaceOf(tc)), x509.ExtKeyUsageServerAuth)
	verify(controlplane.APIServerEtcdClientSecret, etcdCA, "", x509.ExtKeyUsageClientAuth)
	verify(controlplane.FrontProxyClientSecret, frontProxyCA, "", x509.ExtKeyUsageClientAuth)
	verify(controlplane.APIServerKubeletClientSecret, clusterCA, "", x509.ExtKeyUsageClientAuth)

	// The CAs are separate trust domains: an etcd client is no apiserver client, and the
	// reverse.
	if _, err := leaf(controlplane.APIServerEtcdClientSecret).Verify(x509.VerifyOptions{Roots: clusterCA, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("the etcd client certificate chains to the cluster CA")
	}
	if _, err := leaf(controlplane.APIServerKubeletClientSecret).Verify(x509.VerifyOptions{Roots: etcdCA, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("the kubelet client certificate chains to the etcd CA")
	}

	if cn := leaf(controlplane.FrontProxyClientSecret).Subject.CommonName; cn != controlplane.FrontProxyClientCommonName {
		t.Errorf("front-proxy-client CN %q", cn)
	}
	if s := leaf(controlplane.APIServerKubeletClientSecret).Subject; !slices.Equal(s.Organization, []string{"system:masters"}) {
		t.Errorf("kubelet client subject %v", s)
	}
	sa := leaf(controlplane.ServiceAccountSecret)
	if k, ok := sa.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
		t.Errorf("service-account key is %T, want RSA 2048", sa.PublicKey)
	}
	if _, err := sa.Verify(x509.VerifyOptions{Roots: clusterCA, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("the service-account certificate chains to the cluster CA: it would pass as a client")
	}

	// Lifetimes as asked, within the clock skew cert-manager backdates by.
	for s, want := range map[controlplane.Secret]time.Duration{
		controlplane.CASecret: pki.CADuration, controlplane.EtcdServerSecret: pki.LeafDuration, controlplane.ServiceAccountSecret: pki.CADuration,
	} {
		cert := certs[s.Name(name)]
		notAfter, ok := pki.Expiry(cert)
		if lifetime := time.Until(notAfter); !ok || lifetime < want-time.Hour || lifetime > want+time.Hour {
			t.Errorf("%s expires in %v (%v), want %v", s.Name(name), lifetime, ok, want)
		}
		if !notAfter.Equal(leaf(s).NotAfter) {
			t.Errorf("%s: status notAfter %v, certificate %v", s.Name(name), notAfter, leaf(s).NotAfter)
		}
	}
}

func checkKubeconfigs(t *testing.T, tc *v1alpha1.TenantCluster, secrets map[string]*corev1.Secret) {
	t.Helper()
	kubeconfigs, err := pki.KubeconfigSecrets(tc, endpoint.URL(), secrets)
	if err != nil {
		t.Fatalf("assemble kubeconfigs: %v", err)
	}
	clusterCA := secrets[controlplane.CASecret.Name(tc.Name)].Data["tls.crt"]
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, clusterCA))
	want := map[string]struct {
		server, cn string
		orgs       []string
	}{
		controlplane.AdminKubeconfigSecret.Name(tc.Name):             {endpoint.URL(), "kubernetes-admin", []string{"system:masters"}},
		controlplane.ControllerManagerKubeconfigSecret.Name(tc.Name): {"https://acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a.svc:6443", "system:kube-controller-manager", nil},
		controlplane.SchedulerKubeconfigSecret.Name(tc.Name):         {"https://acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a.svc:6443", "system:kube-scheduler", nil},
	}
	for _, s := range kubeconfigs {
		w, ok := want[s.Name]
		if !ok {
			t.Errorf("unexpected kubeconfig Secret %s", s.Name)
			continue
		}
		cfg, err := clientcmd.Load(s.Data[controlplane.KubeconfigKey])
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		ctx := cfg.Contexts[cfg.CurrentContext]
		cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
		if cluster.Server != w.server || !bytes.Equal(cluster.CertificateAuthorityData, clusterCA) {
			t.Errorf("%s: server %s, or CA not the cluster CA", s.Name, cluster.Server)
		}
		cert := parseCert(t, user.ClientCertificateData)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: client certificate does not chain to the cluster CA: %v", s.Name, err)
		}
		if cert.Subject.CommonName != w.cn || !slices.Equal(cert.Subject.Organization, w.orgs) {
			t.Errorf("%s: subject %v, want CN %s O %v", s.Name, cert.Subject, w.cn, w.orgs)
		}
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	certs, err := certutil.ParseCertsPEM(data)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return certs[0]
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// syncBuffer collects the subprocess' output while the test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
