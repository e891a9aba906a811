//go:build e2e

package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// The TenantCluster tests use the operator as an admin installs it: from charts/kubeseed,
// with the manager image built by `make manager-image`, running as a pod in the seed under
// the chart's least-privilege RBAC (TestMain installs it).

// smallTenant is one replica of everything with small requests, so that three tenants, a
// rolling apiserver's surge and a growing etcd fit the 2-core seed beside its own pods
// (the longest tests run two at a time: inLane; the defaults ask about one CPU per tenant).
// The limits are the requests and then some: an idle tenant uses about 55 mCPU, one coming
// up or rolling much more.
func smallTenant(ns, name string) *v1alpha1.TenantCluster {
	res := func(cpu, mem string) *corev1.ResourceRequirements {
		limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
		requests := limits.DeepCopy()
		requests[corev1.ResourceCPU] = *resource.NewMilliQuantity(limits.Cpu().MilliValue()*6/10, resource.DecimalSI)
		return &corev1.ResourceRequirements{Requests: requests, Limits: limits}
	}
	return &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.TenantClusterSpec{
			Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort},
			ControlPlane: v1alpha1.ControlPlaneSpec{
				APIServer:         v1alpha1.APIServerSpec{ComponentSpec: v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1), Resources: res("250m", "1Gi")}},
				ControllerManager: v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1), Resources: res("100m", "256Mi")},
				Scheduler:         v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1), Resources: res("50m", "128Mi")},
				Etcd:              v1alpha1.EtcdSpec{Replicas: ptr.To[int32](1), Resources: res("100m", "512Mi")},
			},
		},
	}
}

// waitTenantReady waits for the TenantCluster's Ready condition and checks its status.
func waitTenantReady(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster) {
	t.Helper()
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition), nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("TenantCluster %s/%s not Ready within 5m: phase %s, conditions %+v", tc.Namespace, tc.Name, tc.Status.Phase, tc.Status.Conditions)
	}
	t.Logf("TenantCluster %s/%s Ready after %.1fs at %s", tc.Namespace, tc.Name, time.Since(start).Seconds(), tc.Status.Endpoint)
	if tc.Status.Phase != v1alpha1.TenantClusterReady || tc.Status.Version != tc.Spec.Version || tc.Status.ObservedGeneration != tc.Generation {
		t.Errorf("status does not tell the truth: %+v", tc.Status)
	}
}

// tenantConfig reads the admin kubeconfig the operator published for tc.
func tenantConfig(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster) *rest.Config {
	t.Helper()
	secret, err := clients.CoreV1().Secrets(tc.Namespace).Get(ctx, controlplane.AdminKubeconfigSecret.Name(tc.Name), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("admin kubeconfig Secret: %v", err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(secret.Data[controlplane.KubeconfigKey])
	if err != nil {
		t.Fatalf("admin kubeconfig does not parse: %v", err)
	}
	return cfg
}

// createNamespaceIn creates a namespace in a tenant, retrying while its controllers settle.
func createNamespaceIn(t *testing.T, ctx context.Context, tenant kubernetes.Interface, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := tenant.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Logf("create namespace %s in the tenant: %v", name, err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the tenant's admin kubeconfig cannot create namespace %s", name)
	}
}

func hasNamespace(t *testing.T, ctx context.Context, tenant kubernetes.Interface, name string) bool {
	t.Helper()
	list, err := tenant.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces in the tenant: %v", err)
	}
	for _, n := range list.Items {
		if n.Name == name {
			return true
		}
	}
	return false
}

// TestTenantClustersSideBySide applies two TenantClusters in two namespaces. Each becomes
// Ready and its admin kubeconfig creates and lists namespaces; neither sees the other's
// objects nor accepts the other's credentials; each control plane lives in a namespace of
// its own and the customer's namespace holds only the published kubeconfig. Deleting one
// deletes its control-plane namespace (cert-manager's Secrets and the etcd volume included)
// and leaves the other tenant untouched; that one's etcd then grows from 1 to 3 members
// without losing data.
func TestTenantClustersSideBySide(t *testing.T) {
	inLane(t, &laneEtcd)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	a, b := smallTenant(newNamespace(t), "acme"), smallTenant(newNamespace(t), "globex")
	for _, tc := range []*v1alpha1.TenantCluster{a, b} {
		if err := kube.Create(ctx, tc); err != nil {
			t.Fatalf("create TenantCluster: %v", err)
		}
	}
	waitTenantReady(t, ctx, a)
	waitTenantReady(t, ctx, b)
	cfgA, cfgB := tenantConfig(t, ctx, a), tenantConfig(t, ctx, b)
	tenantA, tenantB := kubernetes.NewForConfigOrDie(cfgA), kubernetes.NewForConfigOrDie(cfgB)

	t.Run("each admin kubeconfig creates and lists namespaces in its own tenant only", func(t *testing.T) {
		createNamespaceIn(t, ctx, tenantA, "only-in-acme")
		createNamespaceIn(t, ctx, tenantB, "only-in-globex")
		if !hasNamespace(t, ctx, tenantA, "only-in-acme") || !hasNamespace(t, ctx, tenantB, "only-in-globex") {
			t.Fatal("a tenant does not list the namespace just created in it")
		}
		if hasNamespace(t, ctx, tenantA, "only-in-globex") || hasNamespace(t, ctx, tenantB, "only-in-acme") {
			t.Fatal("a tenant lists a namespace created in the other tenant")
		}
	})

	t.Run("one tenant's credentials are refused by the other", func(t *testing.T) {
		cross := rest.CopyConfig(cfgA)
		cross.Host = cfgB.Host
		cross.CAData = cfgB.CAData // trust B's server, present A's client certificate
		_, err := kubernetes.NewForConfigOrDie(cross).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if !apierrors.IsUnauthorized(err) {
			t.Fatalf("acme's admin certificate against globex's apiserver: err = %v, want 401 Unauthorized", err)
		}
	})

	t.Run("each control plane lives in a namespace of its own, the customer's holds only the kubeconfig", func(t *testing.T) {
		for _, tc := range []*v1alpha1.TenantCluster{a, b} {
			cpns := controlplane.NamespaceOf(tc)
			if tc.Status.ControlPlaneNamespace != cpns {
				t.Errorf("%s: status.controlPlaneNamespace %q, want %q", tc.Name, tc.Status.ControlPlaneNamespace, cpns)
			}
			pods, err := clients.CoreV1().Pods(cpns).List(ctx, metav1.ListOptions{})
			if err != nil || len(pods.Items) < 4 {
				t.Errorf("%s: %d pods in %s (%v), want its etcd, apiserver, controller-manager and scheduler", tc.Name, len(pods.Items), cpns, err)
			}
		}
		secrets, err := clients.CoreV1().Secrets(a.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets.Items {
			if s.Name != controlplane.AdminKubeconfigSecret.Name(a.Name) && s.Name != controlplane.AdminKubeconfigSecret.Name(b.Name) {
				t.Errorf("the customer's namespace holds Secret %s: only the published kubeconfigs belong there", s.Name)
			}
		}
		if left := leftovers(t, ctx, a.Namespace); len(left) != len(secrets.Items) {
			t.Errorf("the customer's namespace holds more than the kubeconfigs: %v", left)
		}
	})

	t.Run("red team: a customer holding kubeseed-customer", func(t *testing.T) { redTeam(t, ctx, a, b, cfgA) })
	t.Run("the seed fences each control plane", func(t *testing.T) { controlPlaneIsolation(t, ctx, a, b) })
	t.Run("Secrets are encrypted in the tenant's etcd", func(t *testing.T) { testSecretsEncryptedAtRest(t, ctx, a, cfgA) })
	t.Run("the audit log records a request", func(t *testing.T) { testAuditLog(t, ctx, a, cfgA) })
	t.Run("the encryption key rotates as the docs say", func(t *testing.T) { testEncryptionKeyRotation(t, ctx, a, cfgA) })
	t.Run("renewed certificates are read again with no failed request", func(t *testing.T) { testLeafRenewal(t, ctx, b, cfgB) })

	t.Run("deleting one tenant deletes its control-plane namespace and leaves the other alone", func(t *testing.T) {
		secretsOfB := countSecrets(t, ctx, controlplane.NamespaceOf(b))
		if err := kube.Delete(ctx, a); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			err := kube.Get(ctx, client.ObjectKeyFromObject(a), &v1alpha1.TenantCluster{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Fatalf("TenantCluster %s/%s still exists 3m after delete", a.Namespace, a.Name)
		}
		// The finalizer goes once the control-plane namespace (pods, PVCs, Secrets) is gone.
		if _, err := clients.CoreV1().Namespaces().Get(ctx, controlplane.NamespaceOf(a), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("control-plane namespace %s of the deleted tenant: %v, want NotFound", controlplane.NamespaceOf(a), err)
		}
		// The published kubeconfig goes with its owner (garbage collection).
		err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := clients.CoreV1().Secrets(a.Namespace).Get(ctx, controlplane.AdminKubeconfigSecret.Name(a.Name), metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Errorf("the published kubeconfig of the deleted tenant is still in %s", a.Namespace)
		}
		if got := countSecrets(t, ctx, controlplane.NamespaceOf(b)); got != secretsOfB {
			t.Errorf("globex has %d Secrets after acme was deleted, had %d", got, secretsOfB)
		}
		if _, err := tenantB.CoreV1().Namespaces().Get(ctx, "only-in-globex", metav1.GetOptions{}); err != nil {
			t.Errorf("globex stopped working after acme was deleted: %v", err)
		}
	})
	t.Run("growing etcd from 1 to 3 members keeps the tenant's data", func(t *testing.T) {
		patch := client.MergeFrom(b.DeepCopy())
		b.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](3)
		if err := kube.Patch(ctx, b, patch); err != nil {
			t.Fatal(err)
		}
		sts, err := waitEtcd(ctx, b, func(sts *appsv1.StatefulSet) bool {
			return sts.Status.ReadyReplicas == 3 && b.Status.ObservedGeneration == b.Generation &&
				meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ReadyCondition)
		})
		if err != nil {
			dumpManagerLogs(t)
			t.Fatalf("etcd of %s/%s did not grow to 3 ready members: %d ready; conditions %+v", b.Namespace, b.Name, sts.Status.ReadyReplicas, b.Status.Conditions)
		}
		if _, err := tenantB.CoreV1().Namespaces().Get(ctx, "only-in-globex", metav1.GetOptions{}); err != nil {
			t.Fatalf("data written before etcd grew is gone: %v", err)
		}
		createNamespaceIn(t, ctx, tenantB, "after-growth")
	})
	t.Run("a member whose volume is lost, then one whose database is damaged, is added back and no acknowledged write is lost", func(t *testing.T) {
		memberRecoveryDrill(t, ctx, b, tenantB)
	})
}

// leftovers lists what kubeseed could put in a namespace. The namespace's own
// kube-root-ca.crt ConfigMap is not the tenant's and is not looked at.
func leftovers(t *testing.T, ctx context.Context, ns string) []string {
	t.Helper()
	lists := map[string]client.ObjectList{
		"Secret": &corev1.SecretList{}, "Service": &corev1.ServiceList{}, "PersistentVolumeClaim": &corev1.PersistentVolumeClaimList{},
		"Pod": &corev1.PodList{}, "Deployment": &appsv1.DeploymentList{}, "StatefulSet": &appsv1.StatefulSetList{},
		"PodDisruptionBudget": &policyv1.PodDisruptionBudgetList{}, "NetworkPolicy": &networkingv1.NetworkPolicyList{},
		"Certificate": &cmv1.CertificateList{}, "Issuer": &cmv1.IssuerList{},
	}
	var left []string
	for kind, list := range lists {
		if err := kube.List(ctx, list, client.InNamespace(ns)); err != nil {
			t.Fatalf("list %s in %s: %v", kind, ns, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range items {
			if o, ok := item.(client.Object); ok {
				left = append(left, kind+"/"+o.GetName())
			}
		}
	}
	cms := &corev1.ConfigMapList{}
	if err := kube.List(ctx, cms, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if cm.Name != "kube-root-ca.crt" {
			left = append(left, "ConfigMap/"+cm.Name)
		}
	}
	return left
}

func countSecrets(t *testing.T, ctx context.Context, ns string) int {
	t.Helper()
	list, err := clients.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// TestInvalidTenantClusterIsRejectedWithTheField checks admission on the real seed: a bad
// spec is refused with a message naming the field.
func TestInvalidTenantClusterIsRejectedWithTheField(t *testing.T) {
	tc := smallTenant(newNamespace(t), "bad")
	tc.Spec.Version = "v1.2.3"
	err := kube.Create(context.Background(), tc)
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !strings.Contains(err.Error(), "spec.version") {
		t.Fatalf("create with version v1.2.3: err = %v, want a rejection naming spec.version", err)
	}
}
