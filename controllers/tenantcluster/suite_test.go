//go:build envtest

package tenantcluster_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/pkg/apply"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

// The integration tests run the real reconciler against a real kube-apiserver and etcd
// (envtest), with the real cert-manager controllers (hack/cert-manager) issuing the PKI
// beside it. envtest runs no pods and no garbage collector: components stay unavailable,
// which is what these tests observe; the e2e tests run them on a real seed.
var (
	k8sClient client.Client
	// nodeAddress is published for NodePort endpoints: envtest has no nodes.
	nodeAddress = "192.0.2.10"
	// fakeEtcds holds a *etcd.Fake per etcd client URL. envtest runs no pods, so no etcd
	// answers the reconciler: its etcd client is injected, and a test that grows etcd
	// registers a fake for its tenant (pkg/etcd tests the real client against real etcd).
	fakeEtcds sync.Map
	// tenantCfg is a SECOND envtest kube-apiserver (and etcd) acting as the inside of a
	// tenant: envtest runs no apiserver pods, so the reconciler's TenantDialer is pointed at
	// it. It runs as kubeseed runs a tenant's apiserver (bootstrap tokens, the Node and RBAC
	// authorizers) with the service CIDR TenantClusters default to, but has no
	// controller-manager, no scheduler and no node. A test that wants its TenantCluster to
	// reach it registers the apiserver Service's host:port in fakeTenants; every other tenant
	// is unreachable.
	tenantCfg   *rest.Config
	fakeTenants sync.Map
	// fakeClouds holds an *openstack.Fake per credentials Secret ("namespace/name"): no
	// OpenStack runs in this tier (the e2e tier has the test cloud). A Secret without a
	// registered fake is refused as Keystone refuses unknown credentials.
	fakeClouds sync.Map
)

type fakeCloudFactory struct{}

func (fakeCloudFactory) ForSecret(_ context.Context, s *corev1.Secret) (*openstack.Clients, error) {
	if len(s.Data[openstack.SecretKeyCloudsYAML]) == 0 {
		return nil, fmt.Errorf("%w: Secret %s/%s has no key clouds.yaml", openstack.ErrCredentialsSecret, s.Namespace, s.Name)
	}
	if f, ok := fakeClouds.Load(s.Namespace + "/" + s.Name); ok {
		return f.(*openstack.Fake).Clients(), nil
	}
	return nil, fmt.Errorf("authenticate: %w", openstack.NewError(openstack.ErrUnauthorized, "The request you have made requires authentication."))
}

// dialFakeTenant is the reconciler's TenantDialer in these tests: it checks the config the
// reconciler built from the admin kubeconfig and hands out a client of the fake tenant.
func dialFakeTenant(_ context.Context, cfg *rest.Config) (client.Client, error) {
	if len(cfg.CAData) == 0 || len(cfg.CertData) == 0 || len(cfg.KeyData) == 0 || cfg.Timeout == 0 {
		return nil, fmt.Errorf("tenant config for %s lacks TLS material or a timeout", cfg.Host)
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	if _, ok := fakeTenants.Load(u.Host); !ok {
		return nil, fmt.Errorf("no tenant apiserver at %s: envtest runs no pods", cfg.Host)
	}
	return client.New(tenantCfg, client.Options{Scheme: clientgoscheme.Scheme})
}

// dialFakeEtcd is the reconciler's EtcdDialer in these tests.
func dialFakeEtcd(_ context.Context, cfg etcd.Config) (etcd.Client, error) {
	if len(cfg.Endpoints) != 1 || len(cfg.CA) == 0 || len(cfg.Cert) == 0 || len(cfg.Key) == 0 {
		return nil, fmt.Errorf("etcd config lacks an endpoint or TLS material: %d endpoints, CA %d, cert %d, key %d bytes",
			len(cfg.Endpoints), len(cfg.CA), len(cfg.Cert), len(cfg.Key))
	}
	if f, ok := fakeEtcds.Load(cfg.Endpoints[0]); ok {
		return f.(*etcd.Fake), nil
	}
	return nil, fmt.Errorf("no etcd at %s: envtest runs no pods", cfg.Endpoints[0])
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		return 1
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return fail("KUBEBUILDER_ASSETS is not set: run these tests with `make test`")
	}
	cm := seed.CertManagerDir(seed.CacheDir())
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases"), filepath.Join(cm, "crds")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return fail("start envtest (is cert-manager built? hack/cert-manager-bin.sh): %v", err)
	}
	defer func() { _ = env.Stop() }()

	tenantEnv := &envtest.Environment{}
	tenantEnv.ControlPlane.GetAPIServer().Configure().
		Set("enable-bootstrap-token-auth", "true").
		Set("authorization-mode", "Node,RBAC").
		Set("service-cluster-ip-range", "10.96.0.0/12")
	if tenantCfg, err = tenantEnv.Start(); err != nil {
		_ = tenantEnv.Stop()
		return fail("start the fake tenant's envtest: %v", err)
	}
	defer func() { _ = tenantEnv.Stop() }()

	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail("add user: %v", err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return fail("kubeconfig: %v", err)
	}
	dir, err := os.MkdirTemp("", "kubeseed-tc-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return fail("%v", err)
	}
	logFile, err := os.Create(filepath.Join(dir, "cert-manager.log"))
	if err != nil {
		return fail("%v", err)
	}
	cmd := exec.Command(filepath.Join(cm, "cert-manager-controller"), "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--cluster-resource-namespace", "default", "--healthz-address", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fail("start cert-manager (run hack/cert-manager-bin.sh): %v", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()

	scheme := app.Scheme()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return fail("manager: %v", err)
	}
	r := &tenantcluster.Reconciler{
		Client: mgr.GetClient(), Scheme: scheme, Recorder: mgr.GetEventRecorder("kubeseed"), APIReader: mgr.GetAPIReader(),
		Applier:      &apply.Applier{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: scheme, FieldOwner: tenantcluster.FieldOwner},
		NodeAddress:  nodeAddress,
		EtcdDialer:   dialFakeEtcd,
		TenantDialer: dialFakeTenant,
		Clouds:       fakeCloudFactory{},
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fail("setup: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager stopped: %v\n", err)
		}
	}()
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fail("client: %v", err)
	}
	go finalizeNamespaces(ctx, k8sClient, kubernetes.NewForConfigOrDie(cfg))
	return m.Run()
}

// finalizeNamespaces stands in for kube-controller-manager's namespace controller, which
// envtest does not run (without it a deleted namespace stays Terminating for ever): it
// empties terminating control-plane namespaces of the kinds kubeseed puts there, then
// finalizes them. The e2e tier deletes them with the real controller.
func finalizeNamespaces(ctx context.Context, c client.Client, cs kubernetes.Interface) {
	kinds := []schema.GroupVersionKind{
		{Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Service"},
		{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "apps", Version: "v1", Kind: "StatefulSet"},
		{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}, {Group: "cert-manager.io", Version: "v1", Kind: "Issuer"},
		{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}, {Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
	}
	for ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		list := &corev1.NamespaceList{}
		if err := c.List(ctx, list); err != nil {
			continue
		}
		for i := range list.Items {
			ns := &list.Items[i]
			if ns.DeletionTimestamp.IsZero() || !strings.HasPrefix(ns.Name, controlplane.NamespacePrefix) {
				continue
			}
			for _, gvk := range kinds {
				objs := &metav1.PartialObjectMetadataList{}
				objs.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
				if err := c.List(ctx, objs, client.InNamespace(ns.Name)); err != nil {
					continue
				}
				for j := range objs.Items {
					_ = c.Delete(ctx, &objs.Items[j])
				}
			}
			ns.Spec.Finalizers = nil
			_, _ = cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
		}
	}
}
