// Command dataplane runs the e2e's data-plane harness (e2e/dataplane) on its own, so a
// person can try WorkerPools and Magnum by hand against the test cloud: the customer's worker
// servers run as machines of the local seed and Octavia VIPs forward, until SIGTERM or
// SIGINT, which removes every machine and VIP it made. `make dataplane-up` / `dataplane-down`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kubeseed/kubeseed/e2e/dataplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

func main() {
	clouds := flag.String("clouds", os.Getenv("KUBESEED_OPENSTACK_CLOUDS"), "the test cloud's clouds.yaml (make -s openstack-clouds)")
	customerCloud := flag.String("customer", "customer", "the clouds.yaml entry whose project's servers and load balancers run")
	flag.Parse()
	if err := run(*clouds, *customerCloud); err != nil {
		fmt.Fprintf(os.Stderr, "dataplane: %v\n", err)
		os.Exit(1)
	}
}

func run(cloudsPath, customerCloud string) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format(time.TimeOnly)}, args...)...)
	}
	if cloudsPath == "" {
		return fmt.Errorf("no clouds.yaml: pass -clouds or set KUBESEED_OPENSTACK_CLOUDS (make -s openstack-clouds)")
	}
	raw, err := os.ReadFile(cloudsPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	customer, err := openstack.NewFromCloudsYAML(ctx, raw, customerCloud, openstack.Options{})
	if err != nil {
		return fmt.Errorf("authenticate as %s: %w", customerCloud, err)
	}
	admin, err := openstack.NewFromCloudsYAML(ctx, raw, "admin", openstack.Options{})
	if err != nil {
		return fmt.Errorf("authenticate as admin: %w", err)
	}
	host, ok := seed.New(seed.CacheDir(), logf).(seed.MachineHost)
	if !ok {
		return fmt.Errorf("this seed provider cannot start machines (docs/seed.md)")
	}
	h := &dataplane.Harness{
		Customer: customer, Admin: admin, Host: host, KubernetesVersion: versions.Default,
		ImagesFor: func(v string) []string { return dataplane.NodeImagesAt(seed.ImagesDir(seed.CacheDir()), v) },
		ServerTag: openstack.RoleTag("worker"), Logf: logf, Interval: 2 * time.Second,
	}
	logf("running the data plane of %s's project (stop with SIGTERM)", customerCloud)
	h.Run(ctx)
	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logf("stopping: removing %d machines and every VIP", len(h.Machines()))
	return h.Close(cctx)
}
