//go:build envtest

package tenantcluster_test

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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/pkg/apply"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/testenv"
)

// The integration tests run the real reconciler against a real kube-apiserver and etcd
// (envtest), with the real cert-manager controllers (hack/cert-manager) issuing the PKI
// beside it. envtest runs no pods and no garbage collector: components stay unavailable,
// which is what these tests observe; the e2e tests run them on a real seed.
var (
	k8sClient client.Client
	// nodeAddress is the InternalIP of the seed's one Ready node (seedNode), published for
	// NodePort endpoints and the member of Octavia pools. envtest has no kubelet: the suite
	// creates the Node and its status.
	nodeAddress = "192.0.2.10"
	seedNode    = "seed"
	// fakeEtcds holds a *etcd.Fake per etcd client URL. envtest runs no pods, so no etcd
	// answers the reconciler: its etcd client is injected, and a test that grows etcd
	// registers a fake for its tenant (pkg/etcd tests the real client against real etcd).
	fakeEtcds sync.Map
	// fakeTenant is a SECOND kube-apiserver acting as the inside of a tenant (pkg/testenv):
	// a test that wants its TenantCluster to reach it registers the apiserver Service's
	// host:port; every other tenant is unreachable.
	fakeTenant *testenv.Tenant
	tenantCfg  *rest.Config
	// fakeClouds backs credentials Secrets with fake OpenStack clouds (pkg/testenv).
	fakeClouds = &testenv.Clouds{}
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

// suiteRelease is the release the suite's manager stamps on what it renders.
const suiteRelease = "suite"

func run(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		return 1
	}
	sd, err := testenv.StartSeed(filepath.Join("..", ".."), true)
	if err != nil {
		return fail("%v", err)
	}
	defer sd.Stop()
	cfg := sd.Config
	if fakeTenant, err = testenv.StartTenant(); err != nil {
		return fail("%v", err)
	}
	defer fakeTenant.Stop()
	fakeTenant.Only, tenantCfg = true, fakeTenant.Config

	scheme := app.Scheme()
	// The manager's own cache options: what a reconcile reads is what the binary's reads.
	mgrOptions := ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}}
	app.CacheOptions(&mgrOptions)
	// The watches the manager opens on the seed are recorded
	// (cache_envtest_test.go).
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.Wrap(seedWatches.wrap)
	mgr, err := ctrl.NewManager(mgrCfg, mgrOptions)
	if err != nil {
		return fail("manager: %v", err)
	}
	r := &tenantcluster.Reconciler{
		Client: mgr.GetClient(), Scheme: scheme, Recorder: mgr.GetEventRecorder("kubeseed"), APIReader: mgr.GetAPIReader(),
		Applier:      &apply.Applier{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: scheme, FieldOwner: tenantcluster.FieldOwner},
		EtcdDialer:   dialFakeEtcd,
		TenantDialer: fakeTenant.Dial,
		Clouds:       fakeClouds,
		// No etcd pods either: backups snapshot a fixed database (backup_envtest_test.go).
		BackupSnapshotter: snapshotFake,
		// No kubelet either: a restore's snapshot stream is recorded (restore_envtest_test.go).
		PodExec: fakeExec,
		// Nor logs: an etcd pod's last words are its termination message (etcd_lost_envtest_test.go).
		PodLogs: func(context.Context, string, string, string, bool) (string, error) { return "", nil },
		// Every tenant here is rendered by this one release, so the bound only applies
		// where a test makes a workload look rendered by another (rollouts_envtest_test.go).
		Release: suiteRelease, MaxConcurrentRollouts: 1,
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
	if err := createNode(ctx, seedNode, nodeAddress, true); err != nil {
		return fail("seed node: %v", err)
	}
	go finalizeNamespaces(ctx, k8sClient, kubernetes.NewForConfigOrDie(cfg))
	return m.Run()
}

// createNode registers a seed node with an InternalIP, as a kubelet would.
func createNode(ctx context.Context, name, ip string, ready bool) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8sClient.Create(ctx, node); err != nil {
		return err
	}
	return setNodeStatus(ctx, node, ip, ready)
}

func setNodeStatus(ctx context.Context, node *corev1.Node, ip string, ready bool) error {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "Test", LastHeartbeatTime: metav1.Now()}}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: node.Name}}
	return k8sClient.Status().Update(ctx, node)
}

// finalizeNamespaces stands in for kube-controller-manager's namespace controller, which
// envtest does not run (without it a deleted namespace stays Terminating for ever): it
// empties terminating control-plane namespaces of the kinds kubeseed and cert-manager put
// there, then finalizes them (what is left would reappear in a namespace of the same name:
// a TenantCluster made again, restore_envtest_test.go). The e2e tier deletes them with the real controller.
func finalizeNamespaces(ctx context.Context, c client.Client, cs kubernetes.Interface) {
	kinds := []schema.GroupVersionKind{
		{Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Service"},
		{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "apps", Version: "v1", Kind: "StatefulSet"},
		{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}, {Group: "cert-manager.io", Version: "v1", Kind: "Issuer"},
		{Group: "cert-manager.io", Version: "v1", Kind: "CertificateRequest"}, {Version: "v1", Kind: "Pod"}, {Version: "v1", Kind: "PersistentVolumeClaim"},
		{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}, {Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
		{Version: "v1", Kind: "ServiceAccount"},
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
