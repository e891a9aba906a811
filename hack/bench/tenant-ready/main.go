// Command tenant-ready measures how long a TenantCluster takes from apply to a working admin
// kubeconfig (its /readyz answers through the published endpoint), over several runs, and
// the memory each tenant control plane holds once Ready. For scale, each report ends with the
// floor: bare etcd and kube-apiserver started as processes on this machine, until /readyz
// answers 200. The seed runs need the local seed with the operator installed (`make demo` or
// `make seed-up` + `kubeseed seed bootstrap`); the floor needs only `make envtest-assets`.
//
//	go run ./hack/bench/tenant-ready -runs 5 -mode single   # 5 tenants, then 3 floor runs
//	go run ./hack/bench/tenant-ready -runs 5 -mode ha -floor-runs 0
//	go run ./hack/bench/tenant-ready -trace [-v]            # 1 tenant, its bring-up step by step
//	go run ./hack/bench/tenant-ready -floor -runs 10        # the floor alone, no seed needed
//
// Flags: -runs counts what the invocation is about: tenants (default 5, 1 with -trace), or
// floor runs with -floor. -floor-runs (default 3, 0 skips) is the floor measured after the
// tenants, so every report carries the floor of the same machine at the same time; it has
// no meaning with -floor. -trace prints each tenant's milestones (certificates, pods,
// containers, the published kubeconfig, the bench's own /readyz, Ready) at the time first
// observed, polling every 100 ms; -v adds every certificate and condition. -prefix names the
// tenants' namespaces <prefix>-<mode>-<run>, so two benches on one seed do not collide.
// -assets is where etcd and kube-apiserver are (default $KUBEBUILDER_ASSETS, else where
// `make envtest-assets` puts them).
//
// A benchmark, not a test: it prints figures and fails only when a tenant never works.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/hack/bench/internal/benchutil"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

type options struct {
	runs      int
	mode      string
	prefix    string
	timeout   time.Duration
	trace     bool
	verbose   bool
	floorOnly bool
	floorRuns int
	assets    string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "number of TenantClusters applied one after another (1 by default with -trace), or of floor runs with -floor")
	flag.StringVar(&o.mode, "mode", "single", "single: one replica of everything; ha: the API's defaults, 3 etcd members and 2 of everything else; both at the seed's default size")
	flag.StringVar(&o.prefix, "prefix", "bench", "tenants' namespaces are <prefix>-<mode>-<run>")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up on a tenant (or a floor run) after this long")
	flag.BoolVar(&o.trace, "trace", false, "print each tenant's bring-up milestones, first observed, relative to the apply")
	flag.BoolVar(&o.verbose, "v", false, "with -trace: every certificate and TenantCluster condition too")
	flag.BoolVar(&o.floorOnly, "floor", false, "measure only the floor (bare etcd + kube-apiserver on this machine), -runs times; no seed needed")
	flag.IntVar(&o.floorRuns, "floor-runs", 3, "floor runs after the tenants, reported on the last line; 0 skips")
	flag.StringVar(&o.assets, "assets", defaultAssets(), "directory with the etcd and kube-apiserver binaries for the floor")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.trace && !set["runs"] {
		o.runs = 1
	}
	if err := o.validate(set); err != nil {
		fmt.Fprintf(os.Stderr, "tenant-ready: %v\n", err)
		os.Exit(2)
	}
	// Interrupted, the tenant under test is still deleted (once's deferred cleanup) and the
	// floor's processes killed.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bench(ctx, o)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tenant-ready: %v\n", err)
		os.Exit(1)
	}
}

func (o options) validate(set map[string]bool) error {
	switch {
	case o.mode != "single" && o.mode != "ha":
		return fmt.Errorf("-mode must be single or ha")
	case o.runs < 1:
		return fmt.Errorf("-runs must be at least 1")
	case o.floorRuns < 0:
		return fmt.Errorf("-floor-runs must not be negative")
	case o.floorOnly && o.trace:
		return fmt.Errorf("-trace traces tenants on the seed; -floor runs none")
	case o.floorOnly && set["floor-runs"]:
		return fmt.Errorf("-floor-runs counts floor runs after the tenants; with -floor, give -runs")
	}
	return nil
}

func bench(ctx context.Context, o options) error {
	if o.floorOnly || o.floorRuns > 0 {
		// Before the tenants: a missing binary is better found before minutes of seed runs.
		if err := checkAssets(o.assets); err != nil {
			return err
		}
	}
	if o.floorOnly {
		res, err := floor(ctx, o.assets, o.runs, o.timeout, true)
		if err != nil {
			return err
		}
		api, etcd := floorTimes(res)
		fmt.Printf("floor, %d runs: kube-apiserver /readyz p50 %.2f s, p90 %.2f s, min %.2f s, max %.2f s; etcd /health p50 %.2f s\n", o.runs,
			percentile(api, 50).Seconds(), percentile(api, 90).Seconds(), api[0].Seconds(), api[len(api)-1].Seconds(), percentile(etcd, 50).Seconds())
		return nil
	}
	c, err := benchutil.SeedClient()
	if err != nil {
		return err
	}
	var took []time.Duration
	for i := 1; i <= o.runs; i++ {
		ns := fmt.Sprintf("%s-%s-%d", o.prefix, o.mode, i)
		res, err := once(ctx, c, ns, o.mode, o.timeout, o.trace)
		if err == nil {
			took = append(took, res.took)
			fmt.Printf("run %d (%s): working kubeconfig after %.1f s; control plane RSS %d MiB\n", i, o.mode, res.took.Seconds(), res.rss>>20)
		}
		if res.trace != nil {
			fmt.Printf("trace of run %d (%s/bench, times since the apply):\n", i, ns)
			for _, l := range res.trace.lines(o.verbose) {
				fmt.Println(l)
			}
		}
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
	}
	slices.Sort(took)
	fmt.Printf("%s, %d runs: p50 %.1f s, p90 %.1f s, min %.1f s, max %.1f s\n", o.mode, o.runs,
		percentile(took, 50).Seconds(), percentile(took, 90).Seconds(), took[0].Seconds(), took[len(took)-1].Seconds())
	if o.floorRuns == 0 {
		return nil
	}
	res, err := floor(ctx, o.assets, o.floorRuns, o.timeout, false)
	if err != nil {
		return err
	}
	api, etcd := floorTimes(res)
	fmt.Printf("floor (bare etcd + kube-apiserver on this machine): p50 %.2f s over %d runs (etcd /health p50 %.2f s)\n",
		percentile(api, 50).Seconds(), o.floorRuns, percentile(etcd, 50).Seconds())
	return nil
}

// floorTimes splits floor results into sorted apiserver and etcd times.
func floorTimes(res []floorResult) (api, etcd []time.Duration) {
	for _, r := range res {
		api, etcd = append(api, r.apiserver), append(etcd, r.etcd)
	}
	slices.Sort(api)
	slices.Sort(etcd)
	return api, etcd
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank-1, 0)]
}

// result is one tenant's run: the working kubeconfig's time, the control plane's memory and,
// with -trace, its milestones (also when the run failed).
type result struct {
	took  time.Duration
	rss   int64
	trace *milestones
}

// once applies one TenantCluster in a fresh namespace, waits for its kubeconfig to work,
// measures its pods' memory and deletes it again.
func once(ctx context.Context, c client.Client, ns, mode string, timeout time.Duration, trace bool) (res result, err error) {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return res, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	defer func() {
		ctx := context.WithoutCancel(ctx)
		_ = c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		_ = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			err := c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})
			return client.IgnoreNotFound(err) == nil && err != nil, nil
		})
	}()
	tc := tenant(ns, mode)
	start := time.Now()
	var tr *tracer
	if trace {
		tr = startTrace(ctx, c, client.ObjectKeyFromObject(tc), start)
		// Deferred after the namespace's deletion, so it runs first: the trace ends at Ready.
		defer func() { res.trace = tr.stop(ctx) }()
	}
	if err := c.Create(ctx, tc); err != nil {
		return res, fmt.Errorf("create TenantCluster: %w", err)
	}
	var kubeconfig []byte
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if kubeconfig == nil {
			s := &corev1.Secret{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: controlplane.AdminKubeconfigSecret.Name(tc.Name)}, s); err != nil {
				return false, nil
			}
			kubeconfig = s.Data["value"]
		}
		return benchutil.Readyz(kubeconfig) == nil, nil
	})
	res.took = time.Since(start)
	if err != nil {
		_ = c.Get(ctx, client.ObjectKeyFromObject(tc), tc)
		var why []string
		for _, cond := range tc.Status.Conditions {
			if cond.Status != metav1.ConditionTrue {
				why = append(why, cond.Type+": "+cond.Message)
			}
		}
		return res, fmt.Errorf("%s/%s has no working kubeconfig after %s: %s", ns, tc.Name, timeout, strings.Join(why, "; "))
	}
	if tr != nil {
		tr.mark("readyz", res.took, "/readyz 200 through the published kubeconfig (the bench's measure)")
	}
	// Ready, with every component available, before measuring memory.
	_ = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition), nil
	})
	res.rss, err = benchutil.PodsRSS(ctx, c, controlplane.NamespaceName(ns, tc.Name))
	if err != nil {
		return res, fmt.Errorf("control plane memory: %w", err)
	}
	return res, nil
}

// tenant is single's one replica of everything, or ha's TenantCluster with no replicas
// given: the API's defaults (3 etcd members, 2 of everything else). Both at the seed's
// default size: what a customer who says nothing gets.
func tenant(ns, mode string) *v1alpha1.TenantCluster {
	tc := benchutil.Tenant(ns, "bench", "")
	if mode == "ha" {
		tc.Spec.ControlPlane = v1alpha1.ControlPlaneSpec{}
	}
	return tc
}
