package tenantcluster_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/e2e/seed"
	"github.com/kubeseed/kubeseed/pkg/apply"
	"github.com/kubeseed/kubeseed/pkg/etcd"
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
)

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
		Client: mgr.GetClient(), Scheme: scheme, Recorder: mgr.GetEventRecorder("kubeseed"),
		Applier:     &apply.Applier{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: scheme, FieldOwner: tenantcluster.FieldOwner},
		NodeAddress: nodeAddress,
		EtcdDialer:  dialFakeEtcd,
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
