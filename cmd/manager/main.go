// Command manager runs kubeseed's controllers in the seed cluster. It is wiring only: flags
// here, the manager in cmd/manager/app, controllers in controllers/.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/controllers/workerpool"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/metrics"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, c := range strings.Split(v, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

func main() {
	var o app.Options
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; 0 disables it.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address the liveness and readiness probes bind to.")
	flag.BoolVar(&o.LeaderElect, "leader-elect", false, "Elect a leader so that only one of several replicas reconciles.")
	flag.StringVar(&o.ImageRegistry, "image-registry", "", "Registry every tenant image comes from (control plane, addons, kubeseed's own tunnel and CNI helper), each under its upstream path; empty means each image's upstream registry.")
	flag.StringVar(&o.Namespace, "namespace", controlplane.DefaultManagerNamespace, "Namespace the manager runs in: the only one tenants' etcd admits its pods from.")
	flag.Func("control-plane-spread", "How each tenant component's replicas spread over the seed's nodes: required (never two on a node; the default) or preferred (a seed of one node).", func(v string) error {
		if v != controlplane.SpreadRequired && v != controlplane.SpreadPreferred {
			return fmt.Errorf("want %s or %s", controlplane.SpreadRequired, controlplane.SpreadPreferred)
		}
		o.ControlPlaneSpread = v
		return nil
	})
	flag.IntVar(&o.MaxConcurrentTenantRollouts, "max-concurrent-tenant-rollouts", 5, "How many tenants roll their control planes at once because this release (or a changed setting) renders them anew; 0 means no bound. A change of a tenant's own spec never waits.")
	flag.StringVar(&o.ControlPlanePriorityClass, "control-plane-priority-class", "", "PriorityClass of every tenant control-plane pod (the chart creates kubeseed-control-plane); empty leaves it unset.")
	flag.StringVar(&o.NodeAddress, "nodeport-address", "", "Seed address published for NodePort endpoints and the only member of Octavia pools; empty means the first Ready node's InternalIP (NodePort) or every Ready node's (Octavia).")
	flag.Func("default-control-plane-size", "Size of a TenantCluster that names none (tiny, small, medium or large; docs/tenantcluster.md#sizes), fixed when it is first reconciled; default small.", func(v string) error {
		if !slices.Contains(controlplane.Sizes(), v1alpha1.ControlPlaneSize(v)) {
			return fmt.Errorf("%q is not one of %v", v, controlplane.Sizes())
		}
		o.DefaultControlPlaneSize = v1alpha1.ControlPlaneSize(v)
		return nil
	})
	flag.DurationVar(&o.EtcdMetricsInterval, "etcd-metrics-interval", metrics.DefaultEtcdInterval, "Time between two polls of the tenants' etcd database sizes (kubeseed_tenant_etcd_db_size_bytes).")
	flag.Func("worker-ignore-preflight-errors", "Comma-separated kubeadm preflight checks WorkerPool servers skip, for images lacking tools the join does not use (e.g. FileExisting-crictl).", func(v string) error {
		o.WorkerIgnorePreflightErrors = append(o.WorkerIgnorePreflightErrors, splitList(v)...)
		return nil
	})
	flag.Func("allowed-auth-urls", "Comma-separated Keystone URLs customers' clouds.yaml may use as auth_url (scheme, host and port equal, path equal or below); empty allows any. Set it on a seed customers share.", func(v string) error {
		o.AllowedAuthURLs = splitList(v)
		_, err := openstack.ParseAuthURLAllowList(o.AllowedAuthURLs)
		return err
	})
	flag.IntVar(&o.TenantClusterWorkers, "tenantcluster-workers", tenantcluster.MaxConcurrentReconciles, "How many TenantClusters are reconciled at once (at least 1).")
	flag.IntVar(&o.WorkerPoolWorkers, "workerpool-workers", workerpool.MaxConcurrentReconciles, "How many WorkerPools are reconciled at once (at least 1).")
	// Every tenant's autoscaler (docs/autoscaling.md#settings): cluster-autoscaler's timings.
	as := controlplane.DefaultAutoscalerSettings()
	o.Autoscaler = &as
	flag.DurationVar(&as.ScanInterval, "autoscaler-scan-interval", as.ScanInterval, "Time between two passes of each tenant's autoscaler.")
	flag.DurationVar(&as.ScaleDownUnneededTime, "autoscaler-scale-down-unneeded-time", as.ScaleDownUnneededTime, "How long a node must be unneeded before the autoscaler removes it.")
	flag.DurationVar(&as.ScaleDownDelayAfterAdd, "autoscaler-scale-down-delay-after-add", as.ScaleDownDelayAfterAdd, "How long after a scale-up the autoscaler removes no node.")
	flag.DurationVar(&as.ScaleDownDelayAfterDelete, "autoscaler-scale-down-delay-after-delete", as.ScaleDownDelayAfterDelete, "How long after a scale-down the autoscaler removes no other node.")
	flag.Float64Var(&as.ScaleDownUtilizationThreshold, "autoscaler-scale-down-utilization-threshold", as.ScaleDownUtilizationThreshold, "A node whose pods request less than this fraction of its allocatable CPU and memory is a scale-down candidate; in (0, 1].")
	flag.Func("autoscaler-seed-apiserver-cidrs", "Comma-separated CIDRs of the seed kube-apiserver's endpoints, the only addresses the autoscalers' NetworkPolicy lets them dial the seed at; empty allows any address (on the ports below).", func(v string) error {
		as.SeedAPIServerCIDRs = splitList(v)
		return nil
	})
	flag.Func("autoscaler-seed-apiserver-ports", "Comma-separated ports of the seed kube-apiserver's endpoints, after the kubernetes Service's translation (default 443,6443).", func(v string) error {
		as.SeedAPIServerPorts = nil
		for _, p := range splitList(v) {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				return err
			}
			as.SeedAPIServerPorts = append(as.SeedAPIServerPorts, int32(n))
		}
		return nil
	})
	logOpts := zap.Options{}
	logOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if o.TenantClusterWorkers < 1 || o.WorkerPoolWorkers < 1 {
		fmt.Fprintf(os.Stderr, "kubeseed-manager: --tenantcluster-workers and --workerpool-workers must be at least 1\n")
		os.Exit(2)
	}
	if err := as.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "kubeseed-manager: --autoscaler-*: %v\n", err)
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&logOpts)))

	cfg, err := ctrl.GetConfig()
	if err == nil {
		err = app.Run(ctrl.SetupSignalHandler(), cfg, o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeseed-manager: %v\n", err)
		os.Exit(1)
	}
}
