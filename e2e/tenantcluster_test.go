//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/e2e/seed"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// installCRDs applies kubeseed's CRDs to the seed with the seed's own kubectl, as an admin would.
func installCRDs(t *testing.T) {
	t.Helper()
	kubectl := filepath.Join(seed.CacheDir(), "k8s", versions.Seed, "kubectl")
	for _, args := range [][]string{
		{"apply", "--server-side", "-f", filepath.Join("..", "config", "crd", "bases")},
		{"wait", "--for", "condition=Established", "crd/tenantclusters.kubeseed.io", "crd/workerpools.kubeseed.io"},
	} {
		out, err := exec.Command(kubectl, append([]string{"--kubeconfig", provider.Kubeconfig()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
}

// TestTenantClusterBecomesAWorkingCluster applies a single-replica TenantCluster published on
// a NodePort and waits for it to be Ready; its admin kubeconfig (Secret <name>-kubeconfig, key
// value) must then create and list namespaces in the tenant. The manager runs in this process
// against the seed, as it would in its Deployment.
func TestTenantClusterBecomesAWorkingCluster(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	installCRDs(t)
	go func() {
		if err := app.Run(ctx, restConfig, app.Options{MetricsAddr: "0", ProbeAddr: "0"}); err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
	}()
	c, err := client.New(restConfig, client.Options{Scheme: app.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t)
	tc := &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"},
		Spec: v1alpha1.TenantClusterSpec{
			Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort},
			ControlPlane: v1alpha1.ControlPlaneSpec{
				APIServer:         v1alpha1.APIServerSpec{ComponentSpec: v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1)}},
				ControllerManager: v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1)},
				Scheduler:         v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1)},
				Etcd:              v1alpha1.EtcdSpec{Replicas: ptr.To[int32](1)},
			},
		},
	}
	if err := c.Create(ctx, tc); err != nil {
		t.Fatalf("create TenantCluster: %v", err)
	}
	start := time.Now()
	err = wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition), nil
	})
	if err != nil {
		t.Fatalf("TenantCluster not Ready within 5m: phase %s, conditions %+v", tc.Status.Phase, tc.Status.Conditions)
	}
	t.Logf("TenantCluster Ready after %.1fs at %s", time.Since(start).Seconds(), tc.Status.Endpoint)
	if tc.Status.Phase != v1alpha1.TenantClusterReady || tc.Status.Version != tc.Spec.Version || tc.Status.ObservedGeneration != tc.Generation {
		t.Errorf("status does not tell the truth: %+v", tc.Status)
	}

	secret, err := clients.CoreV1().Secrets(ns).Get(ctx, controlplane.AdminKubeconfigSecret.Name("acme"), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("admin kubeconfig Secret: %v", err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(secret.Data[controlplane.KubeconfigKey])
	if err != nil {
		t.Fatalf("admin kubeconfig does not parse: %v", err)
	}
	tenant, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := tenant.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hello"}}, metav1.CreateOptions{})
		if err != nil {
			t.Logf("create namespace in the tenant: %v", err)
		}
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("the tenant's admin kubeconfig cannot create a namespace")
	}
	list, err := tenant.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces in the tenant: %v", err)
	}
	found := false
	for _, n := range list.Items {
		found = found || n.Name == "hello"
	}
	if !found {
		t.Errorf("namespace hello not listed by the tenant")
	}
}
