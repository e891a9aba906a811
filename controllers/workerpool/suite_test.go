//go:build envtest

package workerpool_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/controllers/workerpool"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// The integration tests run the real WorkerPool reconciler in a manager against a real
// kube-apiserver and etcd (envtest) acting as the seed. Around it:
//
//   - The cloud is openstack.Fake, an in-memory Nova/Neutron, one per credentials Secret
//     (fakeClouds): no OpenStack runs in this tier. Servers go BUILD, then ACTIVE; quotas
//     and failures are set on the fake.
//   - The inside of the tenant is a SECOND envtest kube-apiserver (tenantCfg), run as
//     kubeseed runs a tenant's apiserver (bootstrap tokens, Node and RBAC authorizers).
//     envtest runs no apiserver pods, so the reconciler's TenantDialer is pointed at it. It
//     has no controller-manager, scheduler, kubelet or garbage collector.
//   - No TenantCluster controller runs: each test creates its TenantCluster and writes the
//     status that controller would (Ready, TenantBootstrapped, endpoint, admin kubeconfig
//     Secret pointing at the second envtest).
//   - The tests play the kubelets (fakeKubelets): a server that is ACTIVE in the fake cloud
//     "joins" by reading its own user_data, checking that the bootstrap token in its
//     JoinConfiguration exists in the tenant, and registering a Ready Node with the labels
//     its kubeadm join would set.
var (
	k8sClient client.Client
	// tenantCfg and tenantClient are the fake tenant's apiserver, as its admin.
	tenantCfg    *rest.Config
	tenantClient client.Client
	// tenantKubeconfig is an admin kubeconfig of the fake tenant, published as each test
	// TenantCluster's <name>-kubeconfig.
	tenantKubeconfig []byte
	fakeClouds       sync.Map
)

// Intervals of the reconciler under test: short, so that polling is seen within a test.
// CustomerProblemInterval keeps its default (2 minutes): the tests check there is no hot
// loop on a customer's problem.
const (
	testBuildPoll = 300 * time.Millisecond
	testNodePoll  = 500 * time.Millisecond
	testPoll      = 2 * time.Second
	testDrain     = 6 * time.Second
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

// dialFakeTenant is the reconciler's TenantDialer: it checks the config the reconciler
// built from the admin kubeconfig (the apiserver Service in the seed, TLS, a timeout) and
// hands out a client of the fake tenant.
func dialFakeTenant(_ context.Context, cfg *rest.Config) (client.Client, error) {
	if len(cfg.CAData) == 0 || (len(cfg.CertData) == 0 && cfg.BearerToken == "") || cfg.Timeout == 0 {
		return nil, fmt.Errorf("tenant config for %s lacks TLS material, credentials or a timeout", cfg.Host)
	}
	if !strings.HasSuffix(cfg.Host, ".svc:"+fmt.Sprint(controlplane.APIServerPort)) {
		return nil, fmt.Errorf("tenant config points at %s, not at the apiserver Service", cfg.Host)
	}
	// The fake tenant's address and credentials, with the reconciler's transport wrappers.
	c := rest.CopyConfig(tenantCfg)
	c.WrapTransport, c.Timeout = cfg.WrapTransport, cfg.Timeout
	return client.New(c, client.Options{Scheme: clientgoscheme.Scheme})
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
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return fail("start envtest: %v", err)
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
	admin, err := tenantEnv.AddUser(envtest.User{Name: "kubernetes-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail("add tenant admin: %v", err)
	}
	if tenantKubeconfig, err = admin.KubeConfig(); err != nil {
		return fail("tenant kubeconfig: %v", err)
	}
	if tenantClient, err = client.New(tenantCfg, client.Options{Scheme: clientgoscheme.Scheme}); err != nil {
		return fail("tenant client: %v", err)
	}

	if os.Getenv("KUBESEED_TEST_LOG") != "" {
		// The manager's log, for debugging a test: KUBESEED_TEST_LOG=1 go test -v ...
		ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	}
	scheme := app.Scheme()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return fail("manager: %v", err)
	}
	r := &workerpool.Reconciler{
		Client: mgr.GetClient(), Scheme: scheme, Recorder: mgr.GetEventRecorder("kubeseed"),
		Clouds: fakeCloudFactory{}, TenantDialer: dialFakeTenant,
		BuildPollInterval: testBuildPoll, NodePollInterval: testNodePoll, PollInterval: testPoll, DrainTimeout: testDrain,
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
	return m.Run()
}
