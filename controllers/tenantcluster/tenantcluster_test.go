//go:build envtest

package tenantcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tc-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func small(ns, name string) *v1alpha1.TenantCluster {
	one := ptr.To[int32](1)
	return &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.TenantClusterSpec{
			Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort},
			ControlPlane: v1alpha1.ControlPlaneSpec{
				APIServer:         v1alpha1.APIServerSpec{ComponentSpec: v1alpha1.ComponentSpec{Replicas: one}},
				ControllerManager: v1alpha1.ComponentSpec{Replicas: one},
				Scheduler:         v1alpha1.ComponentSpec{Replicas: one},
				Etcd:              v1alpha1.EtcdSpec{Replicas: one},
			},
		},
	}
}

// waitFor polls the TenantCluster until cond holds.
func waitFor(t *testing.T, tc *v1alpha1.TenantCluster, what string, cond func(*v1alpha1.TenantCluster) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return cond(tc), nil
	})
	if err != nil {
		t.Fatalf("%s: not within a minute; status %+v", what, tc.Status)
	}
}

// TestTenantClusterIssuesPKIAndPublishesKubeconfig follows a TenantCluster as far as a
// cluster without pods lets it go: endpoint published, every certificate issued by
// cert-manager, the admin kubeconfig pointing at the endpoint, the control plane applied,
// and a status that says the components are not running yet.
func TestTenantClusterIssuesPKIAndPublishesKubeconfig(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tc := small(ns, "acme")
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatalf("create: %v", err)
	}
	waitFor(t, tc, "certificates issued and kubeconfig published", func(tc *v1alpha1.TenantCluster) bool {
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.CertificatesReadyCondition) && tc.Status.KubeconfigSecretRef != nil
	})
	if !strings.HasPrefix(tc.Status.Endpoint, "https://"+nodeAddress+":") {
		t.Errorf("status.endpoint = %q, want the node address %s and the node port", tc.Status.Endpoint, nodeAddress)
	}
	if tc.Status.Phase != v1alpha1.TenantClusterProvisioning {
		t.Errorf("phase %s, want Provisioning: no pod runs in envtest", tc.Status.Phase)
	}
	ready := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition)
	if ready == nil || ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, "EtcdAvailable") {
		t.Errorf("Ready condition %+v should be False and name the unavailable etcd", ready)
	}
	if tc.Status.ObservedGeneration != tc.Generation {
		t.Errorf("observedGeneration %d, generation %d", tc.Status.ObservedGeneration, tc.Generation)
	}
	// No size in the spec: the seed's default (the suite's manager sets none: small) is
	// recorded, so that a new seed default never resizes this tenant.
	if tc.Status.ControlPlaneSize != controlplane.DefaultSize {
		t.Errorf("status.controlPlaneSize %q, want the default %q", tc.Status.ControlPlaneSize, controlplane.DefaultSize)
	}

	// The control plane lives in a namespace of its own, labelled with its tenant and with
	// Pod Security restricted enforced; the customer's namespace holds only the published
	// kubeconfig.
	cpns := controlplane.NamespaceOf(tc)
	if tc.Status.ControlPlaneNamespace != cpns {
		t.Errorf("status.controlPlaneNamespace %q, want %q", tc.Status.ControlPlaneNamespace, cpns)
	}
	nsObj := &corev1.Namespace{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: cpns}, nsObj); err != nil {
		t.Fatalf("control-plane namespace: %v", err)
	}
	for k, v := range map[string]string{
		controlplane.LabelTenantNamespace: ns, controlplane.LabelTenantName: "acme", controlplane.LabelTenantUID: string(tc.UID),
		"pod-security.kubernetes.io/enforce": "restricted",
	} {
		if nsObj.Labels[k] != v {
			t.Errorf("control-plane namespace label %s=%q, want %q", k, nsObj.Labels[k], v)
		}
	}
	customerSecrets := &corev1.SecretList{}
	if err := k8sClient.List(ctx, customerSecrets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(customerSecrets.Items) != 1 || customerSecrets.Items[0].Name != tc.Status.KubeconfigSecretRef.Name {
		var names []string
		for _, s := range customerSecrets.Items {
			names = append(names, s.Name)
		}
		t.Errorf("the customer's namespace holds Secrets %v, want only the published kubeconfig %s", names, tc.Status.KubeconfigSecretRef.Name)
	}

	secret := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: tc.Status.KubeconfigSecretRef.Name}, secret); err != nil {
		t.Fatalf("admin kubeconfig Secret: %v", err)
	}
	if secret.Name != "acme-kubeconfig" {
		t.Errorf("admin kubeconfig Secret is %s, want acme-kubeconfig (Cluster API convention)", secret.Name)
	}
	if ref := metav1.GetControllerOf(secret); ref == nil || ref.UID != tc.UID {
		t.Errorf("published kubeconfig is not owned by its TenantCluster: %v", secret.OwnerReferences)
	}
	kc, err := clientcmd.Load(secret.Data[controlplane.KubeconfigKey])
	if err != nil {
		t.Fatalf("key value does not hold a kubeconfig: %v", err)
	}
	for _, cluster := range kc.Clusters {
		if cluster.Server != tc.Status.Endpoint || len(cluster.CertificateAuthorityData) == 0 {
			t.Errorf("kubeconfig server %q (CA %d bytes), want %s with the cluster CA", cluster.Server, len(cluster.CertificateAuthorityData), tc.Status.Endpoint)
		}
	}
	for _, c := range controlplane.Components() {
		name := c.ObjectName("acme")
		var err error
		if c == controlplane.Etcd {
			err = k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: name}, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}})
		} else {
			err = k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: name}, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}})
		}
		if err != nil {
			t.Errorf("%s not applied in %s: %v", name, cpns, err)
		}
	}

	// A reconcile with nothing new to do writes nothing. Publishing the kubeconfigs still rolls
	// the Deployments once (their checksums change) and the status follows: wait until the
	// namespace is quiet for 3 s, then watch 12 s, which hold at least one reconcile (the
	// controller requeues every 10 s while the control plane is not available).
	before := resourceVersions(t, ns, cpns)
	for settled := false; !settled; {
		time.Sleep(3 * time.Second)
		now := resourceVersions(t, ns, cpns)
		settled = equalMaps(before, now)
		before = now
	}
	time.Sleep(12 * time.Second)
	after := resourceVersions(t, ns, cpns)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s was written by a reconcile with nothing to do (resourceVersion %s -> %s)", k, v, after[k])
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// resourceVersions of the TenantClusters, Secrets, Services, Deployments and StatefulSets
// of some namespaces (and of the namespaces themselves).
func resourceVersions(t *testing.T, namespaces ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ns := range namespaces {
		obj := &corev1.Namespace{}
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: ns}, obj); err != nil {
			t.Fatalf("get namespace %s: %v", ns, err)
		}
		out["Namespace/"+ns] = obj.ResourceVersion
		for k, v := range resourceVersionsIn(t, ns) {
			out[k] = v
		}
	}
	return out
}

func resourceVersionsIn(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, kind := range []struct{ apiVersion, kind string }{
		{"kubeseed.io/v1alpha1", "TenantClusterList"}, {"v1", "SecretList"}, {"v1", "ServiceList"},
		{"apps/v1", "DeploymentList"}, {"apps/v1", "StatefulSetList"}, {"cert-manager.io/v1", "CertificateList"},
	} {
		list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: kind.apiVersion, Kind: kind.kind}}
		if err := k8sClient.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatalf("list %s: %v", kind.kind, err)
		}
		for _, o := range list.Items {
			out[kind.kind+"/"+ns+"/"+o.Name] = o.ResourceVersion
		}
	}
	return out
}

// TestDeletingATenantRemovesItsNamespaceOnly: deletion takes the tenant's control-plane
// namespace, with cert-manager's Secrets (which carry no owner reference); another tenant of
// the same customer namespace keeps its own, and the published kubeconfig is owned by its
// TenantCluster (garbage collection, which envtest does not run, removes it).
func TestDeletingATenantRemovesItsNamespaceOnly(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	gone, kept := small(ns, "gone"), small(ns, "kept")
	for _, tc := range []*v1alpha1.TenantCluster{gone, kept} {
		if err := k8sClient.Create(ctx, tc); err != nil {
			t.Fatalf("create %s: %v", tc.Name, err)
		}
		waitFor(t, tc, tc.Name+" certificates issued", func(tc *v1alpha1.TenantCluster) bool {
			return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.CertificatesReadyCondition) && tc.Status.KubeconfigSecretRef != nil
		})
	}
	published := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: gone.Status.KubeconfigSecretRef.Name}, published); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(published); ref == nil || ref.UID != gone.UID {
		t.Errorf("published kubeconfig of the deleted tenant is not owned by it: %v", published.OwnerReferences)
	}
	if err := k8sClient.Delete(ctx, gone); err != nil {
		t.Fatalf("delete: %v", err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(gone), gone)), nil
	})
	if err != nil {
		t.Fatalf("TenantCluster gone still exists: finalizers %v", gone.Finalizers)
	}
	// The finalizer goes only once the namespace is gone.
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: controlplane.NamespaceOf(gone)}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Errorf("control-plane namespace of the deleted tenant: %v, want NotFound", err)
	}
	secrets := &corev1.SecretList{}
	if err := k8sClient.List(ctx, secrets, client.InNamespace(controlplane.NamespaceOf(kept))); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) < len(controlplane.Secrets) {
		t.Errorf("the other tenant has %d Secrets left, want all %d", len(secrets.Items), len(controlplane.Secrets))
	}
}

// TestControlPlaneNamespaceConflict: a namespace of the control-plane namespace's name that
// is not this TenantCluster's is never adopted: the status names it, and the tenant comes up
// once an admin has removed it.
func TestControlPlaneNamespaceConflict(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tc := small(ns, "squat")
	foreign := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlplane.NamespaceOf(tc)}}
	if err := k8sClient.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "NamespaceConflict", func(tc *v1alpha1.TenantCluster) bool {
		c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition)
		return c != nil && c.Reason == v1alpha1.NamespaceConflictReason && strings.Contains(c.Message, foreign.Name)
	})
	secrets := &corev1.SecretList{}
	if err := k8sClient.List(ctx, secrets, client.InNamespace(foreign.Name)); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) > 0 {
		t.Errorf("kubeseed wrote %d Secrets into a namespace that is not its own", len(secrets.Items))
	}
	// The admin removes it (the namespace controller's part is played by the suite).
	if err := k8sClient.Delete(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "certificates issued in its own namespace", func(tc *v1alpha1.TenantCluster) bool {
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.CertificatesReadyCondition)
	})
}
