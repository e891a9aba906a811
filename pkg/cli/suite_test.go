//go:build envtest

package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// The integration tests run the commands, as the binary does (Run), against a real
// kube-apiserver with kubeseed's CRDs (envtest). No controller runs: a test writes the
// TenantCluster's status, its Deployments, pods and events by hand, as the operator and the
// kubelet would.
var (
	envOnce    sync.Once
	env        *envtest.Environment
	envClient  client.Client
	kubeconfig string // the seed's admin kubeconfig, for --kubeconfig
	envErr     error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		_ = env.Stop()
		_ = os.RemoveAll(filepath.Dir(kubeconfig))
	}
	os.Exit(code)
}

// seed starts the shared envtest on first use.
func seed(t *testing.T) client.Client {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run these tests with `make test`, which builds kube-apiserver and etcd offline")
	}
	envOnce.Do(func() {
		env = &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
		}
		cfg, err := env.Start()
		if err != nil {
			envErr = err
			return
		}
		if envClient, envErr = client.New(cfg, client.Options{Scheme: scheme()}); envErr != nil {
			return
		}
		admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			envErr = err
			return
		}
		raw, err := admin.KubeConfig()
		if err != nil {
			envErr = err
			return
		}
		dir, err := os.MkdirTemp("", "kubeseed-cli-")
		if err != nil {
			envErr = err
			return
		}
		kubeconfig = filepath.Join(dir, "seed.kubeconfig")
		envErr = os.WriteFile(kubeconfig, raw, 0o600)
	})
	if envErr != nil {
		t.Fatalf("envtest: %v", envErr)
	}
	return envClient
}

// kubeseed runs the CLI against the envtest seed and returns its exit code and output.
func kubeseed(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	// The discovery cache goes with the envtest, not into ~/.kube/cache.
	global := []string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(filepath.Dir(kubeconfig), "cache")}
	code := Run(context.Background(), append(global, args...),
		genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func namespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cli-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// createTenant creates a TenantCluster and then writes its status as the operator would.
func createTenant(t *testing.T, c client.Client, ns, name string, status v1alpha1.TenantClusterStatus) *v1alpha1.TenantCluster {
	t.Helper()
	ctx := context.Background()
	tc := &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.TenantClusterSpec{Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort}},
	}
	if err := c.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	if status.Phase != "" {
		setStatus(t, c, tc, status)
	}
	return tc
}

func setStatus(t *testing.T, c client.Client, tc *v1alpha1.TenantCluster, status v1alpha1.TenantClusterStatus) {
	t.Helper()
	for i := range status.Conditions {
		status.Conditions[i].ObservedGeneration = tc.Generation
		if status.Conditions[i].LastTransitionTime.IsZero() {
			status.Conditions[i].LastTransitionTime = metav1.Now()
		}
	}
	status.ObservedGeneration = tc.Generation
	tc.Status = status
	if err := c.Status().Update(context.Background(), tc); err != nil {
		t.Fatal(err)
	}
}

// readyStatus is what the operator writes for a serving tenant.
func readyStatus(name string) v1alpha1.TenantClusterStatus {
	s := v1alpha1.TenantClusterStatus{
		Phase: v1alpha1.TenantClusterReady, Version: "v1.36.3", Endpoint: "https://192.0.2.10:31443",
		KubeconfigSecretRef: &corev1.LocalObjectReference{Name: controlplane.AdminKubeconfigSecret.Name(name)},
	}
	for _, t := range conditionOrder()[:len(readyConditions())+1] {
		s.Conditions = append(s.Conditions, metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: v1alpha1.AvailableReason, Message: "fine"})
	}
	return s
}

func createPool(t *testing.T, c client.Client, ns, name, cluster string, replicas, ready int32) {
	t.Helper()
	p := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.WorkerPoolSpec{
			ClusterName: cluster, Replicas: ptr.To(replicas), Flavor: "m1.large", Image: "ubuntu", NetworkID: "5d0e8a4c-7f3b-4c2a-9e1d-6b5a4c3d2e1f",
			CredentialsSecretRef: corev1.LocalObjectReference{Name: "creds"},
		},
	}
	if err := c.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	p.Status.ReadyReplicas, p.Status.Replicas = ready, replicas
	if err := c.Status().Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}
