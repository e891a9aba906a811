package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
)

// requests counts the manager's requests by where they go (seed or tenant) and HTTP method:
// the bench reads them from the manager's metrics endpoint.
var requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeseed_bench_requests_total",
	Help: "The manager's requests in the operator-scale bench, by target (seed, tenant) and HTTP method.",
}, []string{"target", "method"})

// counting counts each request of rt as target's.
func counting(target string, rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		requests.WithLabelValues(target, req.Method).Inc()
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// dryRun sends every write as a dry run. Every tenant's client reaches the one fake tenant
// apiserver, where the first tenant's writes are stored (its bootstrap objects and addons,
// whose status the bench then sets ready) and every other tenant's are dry runs: they hold
// each tenant's own content (its endpoint, its CA), which stored would overwrite the first
// tenant's; as dry runs the apiserver still validates and answers them, and nothing changes.
func dryRun(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			req = req.Clone(req.Context())
			q := req.URL.Query()
			q.Set("dryRun", "All")
			req.URL.RawQuery = q.Encode()
		}
		return rt.RoundTrip(req)
	})
}

// runManager is the child process: kubeseed's manager (cmd/manager/app, as the binary runs
// it) against the bench's envtest seed, with what envtest cannot run faked: every tenant's
// apiserver is the one fake tenant (writes as dry runs), every tenant's etcd a pkg/etcd
// Fake whose members are the ones the manager expects. Both count their requests.
func runManager(seedKubeconfig, tenantKubeconfig, metricsAddr, nodeAddress string) error {
	// As the binary logs by default (its log costs CPU too); the bench's log file keeps it.
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zap.Options{})))
	ctrlmetrics.Registry.MustRegister(requests)
	seedCfg, err := clientcmd.BuildConfigFromFlags("", seedKubeconfig)
	if err != nil {
		return fmt.Errorf("seed kubeconfig: %w", err)
	}
	// As the manager binary's (ctrl.GetConfig): no client-side rate limit, the seed's
	// apiserver's priority and fairness decide.
	seedCfg.QPS = -1
	tenantCfg, err := clientcmd.BuildConfigFromFlags("", tenantKubeconfig)
	if err != nil {
		return fmt.Errorf("tenant kubeconfig: %w", err)
	}
	etcds := &etcdFakes{}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx, seedCfg, app.Options{
		MetricsAddr: metricsAddr, ProbeAddr: "0", NodeAddress: nodeAddress, Namespace: managerNamespace,
		SeedTransport: func(rt http.RoundTripper) http.RoundTripper { return counting("seed", rt) },
		Fakes: &app.Fakes{
			TenantDialer: func(_ context.Context, cfg *rest.Config) (client.Client, error) {
				// The manager's config for the tenant (timeout, rates, its transport
				// wrappers), pointed at the fake tenant with the fake tenant's credentials.
				c := rest.CopyConfig(tenantCfg)
				c.Timeout, c.QPS, c.Burst, c.UserAgent, c.WrapTransport = cfg.Timeout, cfg.QPS, cfg.Burst, cfg.UserAgent, cfg.WrapTransport
				if strings.Contains(cfg.Host, "."+controlplane.NamespaceName(firstTenantNamespace, tenantName)+".svc") {
					c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return counting("tenant", rt) })
				} else {
					c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return counting("tenant", dryRun(rt)) })
				}
				return client.New(c, client.Options{Scheme: clientgoscheme.Scheme})
			},
			EtcdDialer: etcds.dial,
			DBSize:     func(context.Context, etcd.Config) (int64, error) { return 4 << 20, nil },
			PodExec: func(context.Context, string, string, string, []string, io.Reader) error {
				return errors.New("the operator-scale bench runs no pods")
			},
			PodLogs: func(context.Context, string, string, string, bool) (string, error) { return "", nil },
		},
	})
}

// etcdFakes is one etcd.Fake per tenant etcd, made at the first dial with every member the
// manager's config names running and healthy.
type etcdFakes struct{ fakes sync.Map }

func (e *etcdFakes) dial(_ context.Context, cfg etcd.Config) (etcd.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd config without endpoints")
	}
	if f, ok := e.fakes.Load(cfg.Endpoints[0]); ok {
		return f.(*etcd.Fake), nil
	}
	f, err := newEtcdFake(cfg)
	if err != nil {
		return nil, err
	}
	got, _ := e.fakes.LoadOrStore(cfg.Endpoints[0], f)
	return got.(*etcd.Fake), nil
}

// newEtcdFake is the etcd of a bench tenant (TenantCluster tenantName with one etcd
// member), found from the client URL the manager dials. A one-member etcd that does not
// grow is never dialled (the metrics poller's database size is the DBSize fake); this is
// here so that a reconcile that does dial finds the etcd it expects:
// https://<cluster>-etcd-client.<namespace>.svc:2379.
func newEtcdFake(cfg etcd.Config) (*etcd.Fake, error) {
	u, err := url.Parse(cfg.Endpoints[0])
	if err != nil {
		return nil, fmt.Errorf("etcd endpoint: %w", err)
	}
	_, rest, ok := strings.Cut(u.Hostname(), ".")
	namespace, _, _ := strings.Cut(rest, ".")
	if !ok || controlplane.EtcdClientURL(tenantName, namespace) != cfg.Endpoints[0] {
		return nil, fmt.Errorf("no bench etcd at %s", cfg.Endpoints[0])
	}
	return etcd.NewFake(etcd.Target{
		Name: controlplane.EtcdMemberName(tenantName, 0), PeerURL: controlplane.EtcdPeerURL(tenantName, namespace, 0),
	}), nil
}
