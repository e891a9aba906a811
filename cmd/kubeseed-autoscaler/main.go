// Command kubeseed-autoscaler resizes the autoscaled WorkerPools of one kubeseed tenant:
// it adds nodes when pods cannot be scheduled and a new node of a pool would fit them,
// and removes under-used nodes whose pods fit elsewhere, with cluster-autoscaler's
// conventions (docs/workers.md). The manager runs one per tenant that has an autoscaled
// pool, in the tenant's control-plane namespace of the seed.
//
// It is its own Go module: it simulates scheduling with the upstream scheduler's filter
// plugins from k8s.io/kubernetes, which the manager's module does not import.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeseed/kubeseed/cmd/kubeseed-autoscaler/internal/loop"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kubeseed-autoscaler:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		cfg            loop.Config
		tenantKube     = flag.String("tenant-kubeconfig", "", "kubeconfig of the tenant (client certificate files are reloaded when renewed)")
		seedKube       = flag.String("seed-kubeconfig", "", "kubeconfig of the seed; empty means the pod's ServiceAccount")
		metricsAddress = flag.String("metrics-bind-address", ":8085", "address of /metrics and /healthz")
	)
	flag.StringVar(&cfg.Namespace, "namespace", "", "namespace of the seed holding the TenantCluster and its WorkerPools")
	flag.StringVar(&cfg.Cluster, "cluster-name", "", "name of the TenantCluster whose WorkerPools are resized")
	flag.DurationVar(&cfg.ScanInterval, "scan-interval", 10*time.Second, "how often to look at pending pods and unneeded nodes")
	flag.DurationVar(&cfg.Plan.ScaleDownUnneededTime, "scale-down-unneeded-time", 10*time.Minute, "how long a node must be unneeded before it is removed")
	flag.DurationVar(&cfg.Plan.ScaleDownDelayAfterAdd, "scale-down-delay-after-add", 10*time.Minute, "no scale-down for this long after a scale-up")
	flag.DurationVar(&cfg.Plan.ScaleDownDelayAfterDelete, "scale-down-delay-after-delete", 0, "no scale-down for this long after a scale-down (0: the next scan)")
	flag.Float64Var(&cfg.Plan.ScaleDownUtilizationThreshold, "scale-down-utilization-threshold", 0.5, "a node whose pods request less than this share of its cpu and memory may be removed")
	flag.Parse()
	switch {
	case *tenantKube == "":
		return errors.New("--tenant-kubeconfig is required")
	case cfg.Namespace == "" || cfg.Cluster == "":
		return errors.New("--namespace and --cluster-name are required")
	case cfg.ScanInterval <= 0:
		return errors.New("--scan-interval must be positive")
	case cfg.Plan.ScaleDownUtilizationThreshold <= 0 || cfg.Plan.ScaleDownUtilizationThreshold > 1:
		return errors.New("--scale-down-utilization-threshold must be in (0, 1]")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("cluster", cfg.Namespace+"/"+cfg.Cluster)

	tenantCfg, err := clientcmd.BuildConfigFromFlags("", *tenantKube)
	if err != nil {
		return fmt.Errorf("tenant kubeconfig: %w", err)
	}
	seedCfg, err := seedConfig(*seedKube)
	if err != nil {
		return err
	}
	for _, c := range []*rest.Config{tenantCfg, seedCfg} {
		c.UserAgent = "kubeseed-autoscaler"
		c.QPS, c.Burst = 20, 40
	}
	tenant, err := kubernetes.NewForConfig(tenantCfg)
	if err != nil {
		return fmt.Errorf("tenant client: %w", err)
	}
	seed, err := dynamic.NewForConfig(seedCfg)
	if err != nil {
		return fmt.Errorf("seed client: %w", err)
	}
	seedKubeClient, err := kubernetes.NewForConfig(seedCfg)
	if err != nil {
		return fmt.Errorf("seed client: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := loop.NewMetrics(reg)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Addr: *metricsAddress, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
			stop()
		}
	}()
	defer func() { _ = srv.Close() }()

	log.Info("starting", "scanInterval", cfg.ScanInterval, "scaleDownUnneededTime", cfg.Plan.ScaleDownUnneededTime,
		"scaleDownDelayAfterAdd", cfg.Plan.ScaleDownDelayAfterAdd, "threshold", cfg.Plan.ScaleDownUtilizationThreshold)
	return loop.New(cfg, tenant, seed, seedKubeClient.CoreV1(), metrics, log).Run(ctx)
}

func seedConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("seed kubeconfig: %w", err)
		}
		return c, nil
	}
	c, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("seed: the pod's ServiceAccount: %w", err)
	}
	return c, nil
}
