//go:build envtest

package tenantcluster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/addons"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

func tenantClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// servingCSR is a kubelet serving CSR of node worker-1 for the given IP SAN, as the kubelet
// writes it (an ECDSA key: no key encipherment).
func servingCSR(t *testing.T, name, ip string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "system:node:worker-1", Organization: []string{"system:nodes"}},
		DNSNames:    []string{"worker-1"},
		IPAddresses: []net.IP{net.ParseIP(ip)},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeletServingSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
		},
	}
}

func approved(csr *certificatesv1.CertificateSigningRequest) bool {
	return slices.ContainsFunc(csr.Status.Conditions, func(c certificatesv1.CertificateSigningRequestCondition) bool {
		return c.Type == certificatesv1.CertificateApproved
	})
}

// poke makes the controller reconcile now: the TenantCluster's watch event wakes it.
func poke(t *testing.T, tc *v1alpha1.TenantCluster) {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"test.kubeseed.io/poke":"`+time.Now().Format(time.RFC3339Nano)+`"}}}`))
	if err := k8sClient.Patch(context.Background(), tc.DeepCopy(), patch); err != nil {
		t.Fatal(err)
	}
}

// TestTenantBootstrapAndAddons: once the kube-apiserver is available the controller
// bootstraps the tenant (here the second envtest apiserver, standing in for the tenant's
// own), applies the addons at pinned versions, approves a valid kubelet serving CSR of an
// existing node and leaves an invalid one pending with a warning. With no Ready node the
// addons wait for nodes, and Ready is not held back by either condition.
func TestTenantBootstrapAndAddons(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tc := small(ns, "boot")
	fakeTenant.Register(controlplane.APIServerServiceHost(tc.Name, controlplane.NamespaceOf(tc)) + ":6443")
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "kubeconfig published", func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.KubeconfigSecretRef != nil
	})
	if c := condition(tc, v1alpha1.TenantBootstrappedCondition); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.WaitingForAPIServerReason {
		t.Errorf("TenantBootstrapped before the apiserver is available: %+v", c)
	}

	// envtest runs no pods: play the Deployment controller for the kube-apiserver.
	startAPIServer(t, ctx, tc)
	waitFor(t, tc, "tenant bootstrapped", func(tc *v1alpha1.TenantCluster) bool {
		return condition(tc, v1alpha1.TenantBootstrappedCondition).Status == metav1.ConditionTrue &&
			condition(tc, v1alpha1.AddonsReadyCondition).Reason != v1alpha1.WaitingForAPIServerReason
	})
	if c := condition(tc, v1alpha1.TenantBootstrappedCondition); c.Reason != v1alpha1.BootstrappedReason {
		t.Errorf("TenantBootstrapped %+v", c)
	}
	if c := condition(tc, v1alpha1.AddonsReadyCondition); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.WaitingForNodesReason {
		t.Errorf("AddonsReady with no node: %+v, want False/WaitingForNodes", c)
	}
	if want, _ := addons.For(tc.Spec.Version); tc.Status.Addons == nil || *tc.Status.Addons != want {
		t.Errorf("status.addons %+v, want %+v", tc.Status.Addons, want)
	}
	if c := condition(tc, v1alpha1.ReadyCondition); strings.Contains(c.Message, v1alpha1.AddonsReadyCondition) || strings.Contains(c.Message, v1alpha1.TenantBootstrappedCondition) {
		t.Errorf("Ready summarises the tenant's inside: %s", c.Message)
	}

	tenant := tenantClient(t, tenantCfg)
	for _, obj := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-public", Name: "cluster-info"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kubeadm-config"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kubelet-config"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-proxy"}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-proxy"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "coredns"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-dns"}},
	} {
		if err := tenant.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Errorf("tenant %T %s: %v", obj, obj.GetName(), err)
			continue
		}
		if len(obj.GetOwnerReferences()) > 0 {
			t.Errorf("tenant %s has owner references", obj.GetName())
		}
	}
	info := &corev1.ConfigMap{}
	if err := tenant.Get(ctx, client.ObjectKey{Namespace: "kube-public", Name: "cluster-info"}, info); err == nil &&
		!strings.Contains(info.Data["kubeconfig"], tc.Status.Endpoint) {
		t.Errorf("cluster-info does not name the published endpoint %s:\n%s", tc.Status.Endpoint, info.Data["kubeconfig"])
	}
	dns := &corev1.Service{}
	if err := tenant.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: "kube-dns"}, dns); err == nil && dns.Spec.ClusterIP != "10.96.0.10" {
		t.Errorf("kube-dns ClusterIP %s, want 10.96.0.10", dns.Spec.ClusterIP)
	}

	// A node registers and asks for serving certificates: one for its own address, one
	// for an address that is not its.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}}
	if err := tenant.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.21"}, {Type: corev1.NodeHostName, Address: "worker-1"}}
	if err := tenant.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	asNode := rest.CopyConfig(tenantCfg)
	asNode.Impersonate = rest.ImpersonationConfig{UserName: "system:node:worker-1", Groups: []string{"system:nodes", "system:authenticated"}}
	kubelet := tenantClient(t, asNode)
	good, bad := servingCSR(t, "csr-good", "192.0.2.21"), servingCSR(t, "csr-bad", "192.0.2.99")
	for _, csr := range []*certificatesv1.CertificateSigningRequest{good, bad} {
		if err := kubelet.Create(ctx, csr); err != nil {
			t.Fatalf("the kubelet's CSR %s: %v", csr.Name, err)
		}
	}
	poke(t, tc)
	eventually(t, "the valid serving CSR approved", time.Minute, func(ctx context.Context) bool {
		return tenant.Get(ctx, client.ObjectKeyFromObject(good), good) == nil && approved(good)
	})
	eventually(t, "a warning about the invalid serving CSR", time.Minute, func(ctx context.Context) bool {
		events := &eventsv1.EventList{}
		if err := k8sClient.List(ctx, events, client.InNamespace(ns)); err != nil {
			return false
		}
		return slices.ContainsFunc(events.Items, func(e eventsv1.Event) bool {
			return e.Type == corev1.EventTypeWarning && e.Reason == "ServingCSRNotApproved" && strings.Contains(e.Note, "csr-bad")
		})
	})
	if err := tenant.Get(ctx, client.ObjectKeyFromObject(bad), bad); err != nil || len(bad.Status.Conditions) > 0 {
		t.Errorf("the invalid CSR was decided (%v): %+v", err, bad.Status.Conditions)
	}

	// What the chart no longer renders is pruned; what kubeseed did not label is not its.
	stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "coredns-old", Labels: map[string]string{addons.LabelAddon: addons.CoreDNS}}}
	theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "customer-config"}}
	for _, cm := range []*corev1.ConfigMap{stale, theirs} {
		if err := tenant.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	poke(t, tc)
	eventually(t, "the stale addon object pruned", time.Minute, func(ctx context.Context) bool {
		return apierrors.IsNotFound(tenant.Get(ctx, client.ObjectKeyFromObject(stale), &corev1.ConfigMap{}))
	})
	if err := tenant.Get(ctx, client.ObjectKeyFromObject(theirs), &corev1.ConfigMap{}); err != nil {
		t.Errorf("a ConfigMap kubeseed did not make: %v", err)
	}

	// Settled: a reconcile writes nothing, in the seed or in the tenant. The pokes write the
	// TenantCluster's metadata; its status must not follow.
	time.Sleep(2 * time.Second)
	seedBefore, tenantBefore := resourceVersions(t, ns), tenantResourceVersions(t, tenant)
	poke(t, tc)
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	poked := tc.ResourceVersion
	time.Sleep(3 * time.Second)
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	if tc.ResourceVersion != poked {
		t.Errorf("a reconcile with nothing to do patched the status")
	}
	seedAfter, tenantAfter := resourceVersions(t, ns), tenantResourceVersions(t, tenant)
	for k, v := range seedBefore {
		if seedAfter[k] != v && !strings.HasPrefix(k, "TenantClusterList/") {
			t.Errorf("seed %s written by a reconcile with nothing to do", k)
		}
	}
	for k, v := range tenantBefore {
		if tenantAfter[k] != v {
			t.Errorf("tenant %s written by a reconcile with nothing to do", k)
		}
	}
	if len(tenantBefore) < 10 {
		t.Errorf("only %d tenant objects counted: %v", len(tenantBefore), tenantBefore)
	}
}

// tenantResourceVersions of what kubeseed applies in the tenant.
func tenantResourceVersions(t *testing.T, c client.Client) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, kind := range []struct{ apiVersion, kind string }{
		{"v1", "ConfigMapList"}, {"v1", "ServiceList"}, {"v1", "ServiceAccountList"}, {"apps/v1", "DaemonSetList"},
		{"apps/v1", "DeploymentList"}, {"rbac.authorization.k8s.io/v1", "RoleList"}, {"rbac.authorization.k8s.io/v1", "RoleBindingList"},
		{"rbac.authorization.k8s.io/v1", "ClusterRoleBindingList"},
	} {
		list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: kind.apiVersion, Kind: kind.kind}}
		if err := c.List(context.Background(), list, client.MatchingLabels{"app.kubernetes.io/managed-by": "kubeseed"}); err != nil {
			t.Fatalf("list tenant %s: %v", kind.kind, err)
		}
		for _, o := range list.Items {
			out[kind.kind+"/"+o.Namespace+"/"+o.Name] = o.ResourceVersion
		}
	}
	return out
}
