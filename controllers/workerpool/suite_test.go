//go:build envtest

package workerpool_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/controllers/workerpool"
	"github.com/kubeseed/kubeseed/pkg/testenv"
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
	// fakeTenant is the inside of the tenant (pkg/testenv); tenantCfg and tenantClient are
	// its apiserver, as its admin.
	fakeTenant   *testenv.Tenant
	tenantCfg    *rest.Config
	tenantClient client.Client
	// tenantKubeconfig is an admin kubeconfig of the fake tenant, published as each test
	// TenantCluster's <name>-kubeconfig.
	tenantKubeconfig []byte
	// fakeClouds backs credentials Secrets with fake OpenStack clouds (pkg/testenv).
	fakeClouds = &testenv.Clouds{}
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

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		return 1
	}
	sd, err := testenv.StartSeed(filepath.Join("..", ".."), false)
	if err != nil {
		return fail("%v", err)
	}
	defer sd.Stop()
	cfg := sd.Config
	if fakeTenant, err = testenv.StartTenant(); err != nil {
		return fail("%v", err)
	}
	defer fakeTenant.Stop()
	tenantCfg, tenantKubeconfig = fakeTenant.Config, fakeTenant.Kubeconfig
	if tenantClient, err = client.New(tenantCfg, client.Options{Scheme: clientgoscheme.Scheme}); err != nil {
		return fail("tenant client: %v", err)
	}

	if os.Getenv("KUBESEED_TEST_LOG") != "" {
		// The manager's log, for debugging a test: KUBESEED_TEST_LOG=1 go test -v ...
		ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	}
	scheme := app.Scheme()
	// The manager's own cache options: what a reconcile reads is what the binary's reads.
	mgrOptions := ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}}
	app.CacheOptions(&mgrOptions)
	mgr, err := ctrl.NewManager(cfg, mgrOptions)
	if err != nil {
		return fail("manager: %v", err)
	}
	r := &workerpool.Reconciler{
		Client: mgr.GetClient(), Scheme: scheme, Recorder: mgr.GetEventRecorder("kubeseed"),
		Clouds: fakeClouds, TenantDialer: fakeTenant.Dial,
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
