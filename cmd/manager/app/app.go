// Package app wires kubeseed's manager: scheme, controllers, health probes and metrics. The
// manager binary and the e2e tests both run it.
package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/controllers/workerpool"
	"github.com/kubeseed/kubeseed/pkg/apply"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/metrics"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/podexec"
	"github.com/kubeseed/kubeseed/pkg/tenantaccess"
)

// Options are the manager's settings, from flags.
type Options struct {
	MetricsAddr   string
	ProbeAddr     string
	LeaderElect   bool
	ImageRegistry string
	NodeAddress   string
	// Namespace is the manager's own: tenants' etcd admits the manager's pods from it only.
	Namespace string
	// ControlPlanePriorityClass is the PriorityClass of tenant control-plane pods; empty
	// leaves it unset.
	ControlPlanePriorityClass string
	// ControlPlaneSpread is controlplane.SpreadRequired or SpreadPreferred; empty means
	// required.
	ControlPlaneSpread string
	// MaxConcurrentTenantRollouts bounds the tenants rolling at once for a new render of
	// this release (tenantcluster.Reconciler.MaxConcurrentRollouts).
	MaxConcurrentTenantRollouts int
	// DefaultControlPlaneSize is the size of a TenantCluster that names none, fixed when it
	// is first reconciled; empty means controlplane.DefaultSize.
	DefaultControlPlaneSize v1alpha1.ControlPlaneSize
	// EtcdMetricsInterval is the time between two polls of the tenants' etcd database
	// sizes for kubeseed_tenant_etcd_db_size_bytes; 0 means metrics.DefaultEtcdInterval.
	EtcdMetricsInterval time.Duration
	// WorkerIgnorePreflightErrors are kubeadm preflight checks workers skip, for images
	// that lack tools kubeadm looks for (e.g. crictl) but the join does not use.
	WorkerIgnorePreflightErrors []string
	// AllowedAuthURLs are the Keystones customers' clouds.yaml may point at
	// (openstack.AuthURLAllowList); empty allows any.
	AllowedAuthURLs []string
	// TenantClusterWorkers and WorkerPoolWorkers are how many objects of each kind are
	// reconciled at once; 0 means the controller's default (4). Negative is refused.
	TenantClusterWorkers, WorkerPoolWorkers int
	// Autoscaler are every tenant autoscaler's timings and seed egress; nil means
	// controlplane.DefaultAutoscalerSettings.
	Autoscaler *controlplane.AutoscalerSettings
	// Fakes stand in for what the manager reaches beyond the seed's API; nil in the
	// manager binary. A benchmark on envtest, which runs no pods, sets them
	// (hack/bench/operator-scale).
	Fakes *Fakes
	// SeedTransport wraps the manager's transport to the seed's apiserver (a benchmark
	// counts the requests); nil leaves it as it is.
	SeedTransport func(http.RoundTripper) http.RoundTripper
}

// Fakes replace the dialers of tenants' apiservers and etcd and the pod exec and logs,
// which need the manager in the seed's pod network and pods that run.
type Fakes struct {
	TenantDialer tenantaccess.Dialer
	EtcdDialer   tenantcluster.EtcdDialer
	Snapshotter  tenantcluster.BackupSnapshotter
	PodExec      tenantcluster.PodExec
	PodLogs      tenantcluster.PodLogs
	DBSize       metrics.DBSizeFunc
}

// orDefault is n, or def when n is 0.
func orDefault(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// Scheme knows every kind the manager reads or writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, cmv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("register types: %v", err)) // programming error: fixed types
		}
	}
	return s
}

// Run starts the manager and blocks until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	allowed, err := openstack.ParseAuthURLAllowList(o.AllowedAuthURLs)
	if err != nil {
		return fmt.Errorf("allowed auth URLs: %w", err)
	}
	tcWorkers := orDefault(o.TenantClusterWorkers, tenantcluster.MaxConcurrentReconciles)
	wpWorkers := orDefault(o.WorkerPoolWorkers, workerpool.MaxConcurrentReconciles)
	if tcWorkers < 1 || wpWorkers < 1 {
		return fmt.Errorf("workers must be at least 1 (TenantCluster %d, WorkerPool %d)", tcWorkers, wpWorkers)
	}
	if o.Autoscaler != nil {
		if err := o.Autoscaler.Validate(); err != nil {
			return err
		}
	}
	if allowed.IsZero() {
		ctrl.Log.WithName("setup").Info("Customers' clouds.yaml may point at any auth_url: set --allowed-auth-urls on a seed customers share")
	}
	scheme := Scheme()
	if o.SeedTransport != nil {
		cfg = rest.CopyConfig(cfg)
		cfg.Wrap(o.SeedTransport)
	}
	mgrOptions := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.ProbeAddr,
		LeaderElection:         o.LeaderElect,
		LeaderElectionID:       "kubeseed-manager.kubeseed.io",
	}
	CacheOptions(&mgrOptions)
	mgr, err := ctrl.NewManager(cfg, mgrOptions)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}
	// One cache of tenant clients for both controllers; deleting a TenantCluster evicts its.
	tenants := &tenantaccess.Cache{}
	execer, err := podexec.New(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("pod executor: %w", err)
	}
	fakes := o.Fakes
	if fakes == nil {
		fakes = &Fakes{PodExec: execer.Exec, PodLogs: execer.LastWords}
	}
	tenants.Dialer = fakes.TenantDialer
	r := &tenantcluster.Reconciler{
		Tenants:   tenants,
		Client:    mgr.GetClient(),
		Scheme:    scheme,
		Recorder:  mgr.GetEventRecorder("kubeseed"),
		APIReader: mgr.GetAPIReader(),
		Applier: &apply.Applier{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: scheme, FieldOwner: tenantcluster.FieldOwner,
		},
		ImageRegistry:         o.ImageRegistry,
		DefaultSize:           o.DefaultControlPlaneSize,
		NodeAddress:           o.NodeAddress,
		ManagerNamespace:      o.Namespace,
		PriorityClassName:     o.ControlPlanePriorityClass,
		Spread:                o.ControlPlaneSpread,
		MaxConcurrentRollouts: o.MaxConcurrentTenantRollouts,
		AutoscalerSettings:    o.Autoscaler,
		PodExec:               fakes.PodExec,
		PodLogs:               fakes.PodLogs,
		EtcdDialer:            fakes.EtcdDialer,
		BackupSnapshotter:     fakes.Snapshotter,
		// Customers' clouds, authenticated once per version of their credentials Secret.
		Clouds: &openstack.ClientCache{Options: openstack.Options{
			Logger: ctrl.Log.WithName("openstack"), UserAgent: "kubeseed-manager", AllowedAuthURLs: allowed,
		}},
		// The admin's operator-wide backup store: its Secret is in the manager's namespace,
		// which customers cannot write, so any auth URL it names is the admin's choice.
		OperatorClouds: &openstack.ClientCache{Options: openstack.Options{
			Logger: ctrl.Log.WithName("openstack"), UserAgent: "kubeseed-manager",
			Services: []openstack.Service{openstack.ServiceObjectStore},
		}},
	}
	if err := r.SetupWithManagerWorkers(mgr, tcWorkers); err != nil {
		return fmt.Errorf("set up TenantCluster controller: %w", err)
	}
	wp := &workerpool.Reconciler{
		Tenants:  tenants,
		Client:   mgr.GetClient(),
		Scheme:   scheme,
		Recorder: mgr.GetEventRecorder("kubeseed"),
		// Customers' clouds for their workers: Nova and Neutron only, so a project
		// without Octavia can still have WorkerPools.
		Clouds: &openstack.ClientCache{Options: openstack.Options{
			Logger: ctrl.Log.WithName("openstack"), UserAgent: "kubeseed-manager", AllowedAuthURLs: allowed,
			Services: []openstack.Service{openstack.ServiceCompute, openstack.ServiceNetwork},
		}},
		IgnorePreflightErrors: o.WorkerIgnorePreflightErrors,
	}
	if err := wp.SetupWithManagerWorkers(mgr, wpWorkers); err != nil {
		return fmt.Errorf("set up WorkerPool controller: %w", err)
	}
	// kubeseed's metrics (pkg/metrics, docs/metrics.md) on controller-runtime's registry,
	// which the metrics server serves; with the server off nobody reads them, and the etcd
	// poller would dial every tenant's etcd for nothing.
	if o.MetricsAddr != "0" {
		if err := metrics.SetupWithManager(mgr, metrics.Options{EtcdInterval: o.EtcdMetricsInterval, DBSize: fakes.DBSize}); err != nil {
			return fmt.Errorf("set up metrics: %w", err)
		}
	}
	ctrl.Log.WithName("setup").Info("Starting manager")
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}
