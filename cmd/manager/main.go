// Command manager runs kubeseed's controllers in the seed cluster. It is wiring only: flags
// here, the manager in cmd/manager/app, controllers in controllers/.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/pkg/metrics"
)

func main() {
	var o app.Options
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; 0 disables it.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address the liveness and readiness probes bind to.")
	flag.BoolVar(&o.LeaderElect, "leader-elect", false, "Elect a leader so that only one of several replicas reconciles.")
	flag.StringVar(&o.ImageRegistry, "image-registry", "", "Registry prefix of the control-plane images; empty means registry.k8s.io.")
	flag.StringVar(&o.NodeAddress, "nodeport-address", "", "Seed address published for NodePort endpoints and the only member of Octavia pools; empty means the first Ready node's InternalIP (NodePort) or every Ready node's (Octavia).")
	flag.DurationVar(&o.EtcdMetricsInterval, "etcd-metrics-interval", metrics.DefaultEtcdInterval, "Time between two polls of the tenants' etcd database sizes (kubeseed_tenant_etcd_db_size_bytes).")
	flag.Func("worker-ignore-preflight-errors", "Comma-separated kubeadm preflight checks WorkerPool servers skip, for images lacking tools the join does not use (e.g. FileExisting-crictl).", func(v string) error {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				o.WorkerIgnorePreflightErrors = append(o.WorkerIgnorePreflightErrors, c)
			}
		}
		return nil
	})
	logOpts := zap.Options{}
	logOpts.BindFlags(flag.CommandLine)
	flag.Parse()
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
