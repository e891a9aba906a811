package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// Defaults of Options.
const (
	DefaultEtcdInterval = time.Minute
	DefaultEtcdTimeout  = 10 * time.Second
	// scrapeTimeout bounds the cache reads of one scrape; the cache answers from memory once
	// synced.
	scrapeTimeout = 5 * time.Second
)

// Options configure SetupWithManager; the zero value is the manager's configuration.
type Options struct {
	// Registerer takes kubeseed's metrics; nil means controller-runtime's Registry, which the
	// manager serves. Tests pass a registry of their own.
	Registerer prometheus.Registerer
	// EtcdInterval is the time between two polls of the tenants' etcd sizes (default 1 m).
	EtcdInterval time.Duration
	// EtcdTimeout bounds one tenant's poll (default 10 s).
	EtcdTimeout time.Duration
	// DBSize reads one etcd's database size; nil means DBSize, which needs the manager in
	// the seed's pod network. Tests without etcd pods (envtest) inject one.
	DBSize DBSizeFunc
	// Now is the clock certificate expiry is measured against; nil means time.Now.
	Now func() time.Time
}

// SetupWithManager registers kubeseed's metrics and adds to mgr what feeds them: the etcd
// poller and the first-Ready event handler, both running only while mgr leads (with leader
// election off, as soon as it starts). The cache-backed gauges export nothing until then.
func SetupWithManager(mgr manager.Manager, o Options) error {
	if o.Registerer == nil {
		o.Registerer = ctrlmetrics.Registry
	}
	if o.EtcdInterval <= 0 {
		o.EtcdInterval = DefaultEtcdInterval
	}
	if o.EtcdTimeout <= 0 {
		o.EtcdTimeout = DefaultEtcdTimeout
	}
	if o.DBSize == nil {
		o.DBSize = DBSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := ctrl.Log.WithName("metrics")
	active := &atomic.Bool{}
	sizes := &sizeStore{}
	poller := &etcdPoller{
		cache: mgr.GetCache(), secrets: mgr.GetAPIReader(), size: o.DBSize, interval: o.EtcdInterval, timeout: o.EtcdTimeout, parallel: 4,
		store: sizes, errors: newEtcdStatusErrors(), log: log, wake: make(chan struct{}, 1),
	}
	hist := newTimeToFirstReady()
	state := &stateCollector{cache: mgr.GetCache(), sizes: sizes, active: active, now: o.Now, timeout: scrapeTimeout, log: log}
	if err := register(o.Registerer, state, hist, poller.errors); err != nil {
		return err
	}
	return mgr.Add(&leaderRunnable{mgr: mgr, active: active, firstReady: newFirstReady(hist, poller.poke), poller: poller})
}

// register adds kubeseed's reconcile-error counter, with a zero series for the
// TenantCluster controller and each reason, and cs to reg. The counter being registered
// already (a second manager in the same process) is not an error.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, r := range Reasons() {
		reconcileErrors.WithLabelValues(TenantClusterController, r)
	}
	if err := reg.Register(reconcileErrors); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); !ok || are.ExistingCollector != reconcileErrors {
			return fmt.Errorf("register %s: %w", ReconcileErrorsName, err)
		}
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register kubeseed metrics: %w", err)
		}
	}
	return nil
}

// leaderRunnable feeds the metrics while the manager leads: it marks the collector active,
// registers the first-Ready handler on the TenantCluster informer and runs the etcd poller.
type leaderRunnable struct {
	mgr        manager.Manager
	active     *atomic.Bool
	firstReady *firstReady
	poller     *etcdPoller
}

var _ manager.LeaderElectionRunnable = (*leaderRunnable)(nil)

// NeedLeaderElection is true: replicas standing by export no kubeseed state.
func (r *leaderRunnable) NeedLeaderElection() bool { return true }

// Start runs until ctx ends.
func (r *leaderRunnable) Start(ctx context.Context) error {
	informer, err := r.mgr.GetCache().GetInformer(ctx, &v1alpha1.TenantCluster{})
	if err != nil {
		return fmt.Errorf("metrics: TenantCluster informer: %w", err)
	}
	reg, err := informer.AddEventHandler(r.firstReady)
	if err != nil {
		return fmt.Errorf("metrics: add the first-Ready handler: %w", err)
	}
	defer func() { _ = informer.RemoveEventHandler(reg) }()
	r.active.Store(true)
	defer r.active.Store(false)
	r.poller.run(ctx)
	return nil
}
