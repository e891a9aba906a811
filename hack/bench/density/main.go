// Command density measures how many tenants of the smallest size (spec.controlPlane.size
// tiny: one replica of etcd, kube-apiserver, controller-manager and scheduler, a NodePort
// endpoint) the local seed holds, and how fast the last of them still comes up. It creates
// them one at a time, namespace density-<i>, TenantCluster "t", and stops at the first of:
//
//   - a tenant not Ready within -ready-timeout (2m): Ready condition True and its /readyz
//     answering 200 through the admin kubeconfig kubeseed publishes;
//   - the seed's memory -memory-limit (90%) used before the next tenant: this machine is the
//     seed's only node, so used = 1 - MemAvailable/MemTotal of /proc/meminfo;
//   - -max tenants (0, the default: no cap).
//
// It needs the local seed with the operator installed; `make density` brings both up first:
//
//	make density DENSITY_MAX=40
//	go run ./hack/bench/density -max 40 [-keep]     # seed and operator already up
//
// Output: a line per tenant (its time from create to Ready, the seed's memory used then),
// why it stopped, and last one line:
//
//	density: first ready in 9.1 s, last (40th) in 12.3 s (1.35x); per tenant 230 MiB RSS, 14 mCPU idle; seed 6.1 GiB free of 23.4 GiB; stopped by: -max 40; 40 tenants ready
//
// Per tenant figures cover the Ready tenants' control-plane pods only (each
// TenantCluster's status.controlPlaneNamespace; the manager's own growth shows in the seed's
// free memory): memory is the sum of their cgroup v1 total_rss, what their processes hold
// without the page cache, divided by the tenants; idle CPU is, ~10 s after the last tenant
// was Ready, the growth of their cgroups' cpuacct.usage over -idle-window (30s), per second
// and per tenant. "free" is MemAvailable.
//
// At the end every density-* namespace it created is deleted, all at once, and waited for
// (also after Ctrl-C; a second Ctrl-C leaves them); -keep leaves them. It refuses to start
// while density-* namespaces exist. Other benches may share the seed in namespaces of
// their own; their load shows in the seed's memory and in the times.
//
// Exit status: 0 when it stopped at -max, at the memory limit, or at a tenant that was not
// Ready while at least one before it was; 1 when no tenant was Ready at all (the seed or
// the operator is broken: CI runs `make density DENSITY_MAX=3` to catch that), on any other
// error or when interrupted; 2 for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/hack/bench/internal/benchutil"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

const (
	nsPrefix   = "density-"
	tenantName = "t"
	// settle lets the last tenant's start-up work (caches, leader elections) end before the
	// idle CPU is measured.
	settle = 10 * time.Second
	// cleanupTimeout bounds the wait for the deleted namespaces; tenants' finalizers need the
	// operator.
	cleanupTimeout = 5 * time.Minute
)

type options struct {
	max          int
	readyTimeout time.Duration
	memoryLimit  float64
	idleWindow   time.Duration
	keep         bool
}

func main() {
	var o options
	flag.IntVar(&o.max, "max", 0, "stop after this many Ready tenants; 0: no cap")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 2*time.Minute, "stop at the first tenant not Ready this long after its create")
	flag.Float64Var(&o.memoryLimit, "memory-limit", 0.9, "stop before the next tenant when this fraction of the seed's memory is used")
	flag.DurationVar(&o.idleWindow, "idle-window", 30*time.Second, "how long the Ready tenants' CPU time is measured, idle")
	flag.BoolVar(&o.keep, "keep", false, "leave the tenants and their density-* namespaces at the end")
	flag.Parse()
	err := o.validate()
	if err == nil && flag.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "density: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, stop, o)
	stop()
	os.Exit(code)
}

func (o options) validate() error {
	switch {
	case o.max < 0:
		return errors.New("-max must not be negative")
	case o.readyTimeout <= 0:
		return errors.New("-ready-timeout must be positive")
	case o.memoryLimit <= 0 || o.memoryLimit > 1:
		return errors.New("-memory-limit must be in (0, 1]")
	case o.idleWindow <= 0:
		return errors.New("-idle-window must be positive")
	}
	return nil
}

// readyTenant is a tenant that became Ready: its ordinal, time from create to Ready and the
// seed namespace of its control plane.
type readyTenant struct {
	i         int
	took      time.Duration
	namespace string
	size      v1alpha1.ControlPlaneSize // as rendered (status): an older operator ignores the spec's
}

// stopReason is why no further tenant was created: short for the summary, detail (if any)
// on a line of its own.
type stopReason struct {
	short, detail string
}

type density struct {
	c       client.Client
	o       options
	created []string // namespaces this run made, for the cleanup
	ready   []readyTenant
}

// run is the whole command; its result is the exit status.
func run(ctx context.Context, stopSignals func(), o options) int {
	c, err := benchutil.SeedClient()
	if err != nil {
		fmt.Fprintf(os.Stderr, "density: %v\n", err)
		return 1
	}
	d := &density{c: c, o: o}
	summary, code, err := d.measure(ctx)
	if !o.keep {
		// Before the summary, so that it is the last line; on stderr, as it is no figure.
		d.cleanup(stopSignals)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "density: %v\n", err)
		return 1
	}
	fmt.Println(summary)
	return code
}

// measure grows the tenants until a stop reason, then measures their idle memory and CPU.
// It returns the summary line and the exit status it calls for.
func (d *density) measure(ctx context.Context) (string, int, error) {
	if err := d.checkClean(ctx); err != nil {
		return "", 1, err
	}
	why, err := d.grow(ctx)
	if err != nil {
		return "", 1, err
	}
	if why.detail != "" {
		fmt.Printf("density: stopped: %s\n", why.detail)
	}
	n := len(d.ready)
	if n == 0 {
		return fmt.Sprintf("density: no tenant became Ready (stopped by: %s); 0 tenants ready", why.short), 1, nil
	}
	rss, cpu, window, err := d.idle(ctx)
	if err != nil {
		return "", 1, err
	}
	total, avail, err := seedMemory()
	if err != nil {
		return "", 1, err
	}
	first, last := d.ready[0], d.ready[n-1]
	mcpu := cpu.Seconds() / window.Seconds() * 1000 / float64(n)
	return fmt.Sprintf("density: first ready in %.1f s, last (%s) in %.1f s (%.2fx); per tenant %d MiB RSS, %.0f mCPU idle; seed %.1f GiB free of %.1f GiB; stopped by: %s; %d tenants ready",
		first.took.Seconds(), ordinal(last.i), last.took.Seconds(), last.took.Seconds()/first.took.Seconds(),
		rss/int64(n)>>20, mcpu, gib(avail), gib(total), why.short, n), 0, nil
}

// checkClean refuses to start over density-* namespaces of an earlier run: they would be
// counted in nothing but load the seed, and their names are this run's.
func (d *density) checkClean(ctx context.Context) error {
	list := &corev1.NamespaceList{}
	if err := d.c.List(ctx, list); err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	var left []string
	for _, ns := range list.Items {
		if strings.HasPrefix(ns.Name, nsPrefix) {
			left = append(left, ns.Name)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("namespaces of an earlier run (-keep?) exist, delete them first: kubectl delete namespace %s", strings.Join(left, " "))
	}
	return nil
}

// grow creates tenants one at a time until a stop reason.
func (d *density) grow(ctx context.Context) (stopReason, error) {
	for i := 1; d.o.max == 0 || i <= d.o.max; i++ {
		total, avail, err := seedMemory()
		if err != nil {
			return stopReason{}, err
		}
		if used := 1 - float64(avail)/float64(total); used >= d.o.memoryLimit {
			return stopReason{short: fmt.Sprintf("memory %.1f%% used (-memory-limit %g)", 100*used, d.o.memoryLimit)}, nil
		}
		t, notReady, err := d.add(ctx, i)
		if err != nil {
			return stopReason{}, err
		}
		total, avail, err = seedMemory()
		if err != nil {
			return stopReason{}, err
		}
		used := 100 * (1 - float64(avail)/float64(total))
		if notReady != "" {
			fmt.Printf("density: tenant %d not Ready after %s; seed memory %.1f%% used\n", i, d.o.readyTimeout, used)
			return stopReason{short: fmt.Sprintf("%s%d/%s not Ready in %s", nsPrefix, i, tenantName, d.o.readyTimeout), detail: notReady}, nil
		}
		d.ready = append(d.ready, t)
		size := string(t.size)
		if size == "" {
			size = "unreported: an operator without sizes"
		}
		fmt.Printf("density: tenant %d ready in %.1f s (size %s); seed memory %.1f%% used\n", i, t.took.Seconds(), size, used)
	}
	return stopReason{short: fmt.Sprintf("-max %d", d.o.max)}, nil
}

// add creates tenant i and waits for it to be Ready. A tenant that is not Ready in time is
// no error: notReady then says why, from its conditions.
func (d *density) add(ctx context.Context, i int) (t readyTenant, notReady string, err error) {
	ns := fmt.Sprintf("%s%d", nsPrefix, i)
	if err := d.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return t, "", fmt.Errorf("create namespace %s: %w", ns, err)
	}
	d.created = append(d.created, ns)
	tc := benchutil.Tenant(ns, tenantName, v1alpha1.ControlPlaneSizeTiny)
	start := time.Now()
	if err := d.c.Create(ctx, tc); err != nil {
		return t, "", fmt.Errorf("create TenantCluster %s/%s: %w", ns, tenantName, err)
	}
	var last error
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, d.o.readyTimeout, true, func(ctx context.Context) (bool, error) {
		last = d.working(ctx, tc)
		return last == nil, nil
	})
	took := time.Since(start)
	if ctx.Err() != nil {
		return t, "", fmt.Errorf("interrupted while waiting for %s/%s: %w", ns, tenantName, context.Cause(ctx))
	}
	if err != nil {
		// Ready's message repeats the others'; it is left out unless alone.
		conds := slices.DeleteFunc(slices.Clone(tc.Status.Conditions), func(c metav1.Condition) bool { return c.Type == v1alpha1.ReadyCondition })
		why := benchutil.NotTrue(conds)
		if why == "" {
			why = benchutil.NotTrue(tc.Status.Conditions)
		}
		if last != nil && (why == "" || meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition)) {
			why = strings.TrimPrefix(why+"; "+last.Error(), "; ") // the conditions do not tell it all
		}
		return t, fmt.Sprintf("%s/%s not Ready after %s: %s", ns, tenantName, d.o.readyTimeout, why), nil
	}
	return readyTenant{i: i, took: took, namespace: tc.Status.ControlPlaneNamespace, size: tc.Status.ControlPlaneSize}, "", nil
}

// working is nil once the TenantCluster is Ready and its published admin kubeconfig reaches
// /readyz: Ready alone is the operator's view, the kubeconfig is what a user gets.
func (d *density) working(ctx context.Context, tc *v1alpha1.TenantCluster) error {
	if err := d.c.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		return fmt.Errorf("get TenantCluster: %w", err)
	}
	if len(tc.Status.Conditions) == 0 {
		return errors.New("no status yet: is the operator running?")
	}
	if !meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition) {
		return errors.New("condition Ready is not True")
	}
	s := &corev1.Secret{}
	key := client.ObjectKey{Namespace: tc.Namespace, Name: controlplane.AdminKubeconfigSecret.Name(tc.Name)}
	if err := d.c.Get(ctx, key, s); err != nil {
		return fmt.Errorf("published kubeconfig %s: %w", key, err)
	}
	if err := benchutil.Readyz(s.Data["value"]); err != nil {
		return fmt.Errorf("/readyz through the published kubeconfig: %w", err)
	}
	return nil
}

// idle waits for the tenants to settle, then sums their control-plane pods' CPU time over
// the idle window (returned with the window as measured) and their memory at its end.
func (d *density) idle(ctx context.Context) (rss int64, cpu, window time.Duration, err error) {
	if err := sleep(ctx, settle); err != nil {
		return 0, 0, 0, err
	}
	// The pods are listed once: a pod replaced within the window has no second reading and
	// counts for nothing, rather than for its whole life.
	var pods []corev1.Pod
	for _, t := range d.ready {
		list := &corev1.PodList{}
		if err := d.c.List(ctx, list, client.InNamespace(t.namespace)); err != nil {
			return 0, 0, 0, fmt.Errorf("list pods of tenant %d in %s: %w", t.i, t.namespace, err)
		}
		pods = append(pods, list.Items...)
	}
	before := make([]time.Duration, len(pods))
	seen := make([]bool, len(pods))
	start := time.Now()
	for i, p := range pods {
		before[i], seen[i] = benchutil.PodCPU(p.UID)
	}
	if err := sleep(ctx, d.o.idleWindow); err != nil {
		return 0, 0, 0, err
	}
	for i, p := range pods {
		if after, ok := benchutil.PodCPU(p.UID); ok && seen[i] {
			cpu += after - before[i]
		}
	}
	window = time.Since(start)
	for _, t := range d.ready {
		n, err := benchutil.PodsRSS(ctx, d.c, t.namespace)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("memory of tenant %d: %w", t.i, err)
		}
		rss += n
	}
	return rss, cpu, window, nil
}

// cleanup deletes every namespace this run created, all at once, and waits for them and
// their tenants' control-plane namespaces to be gone. It runs after an interrupt too, so it
// first gives Ctrl-C back its default: a second one ends the process at once.
func (d *density) cleanup(stopSignals func()) {
	stopSignals()
	if len(d.created) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	start := time.Now()
	fmt.Fprintf(os.Stderr, "density: deleting namespaces %s%d..%d (Ctrl-C leaves them)\n", nsPrefix, 1, len(d.created))
	waitFor := append([]string(nil), d.created...)
	for _, ns := range d.created {
		// The control plane's namespace goes after its TenantCluster; a tenant that never got
		// that far has none.
		tc := &v1alpha1.TenantCluster{}
		if err := d.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: tenantName}, tc); err == nil && tc.Status.ControlPlaneNamespace != "" {
			waitFor = append(waitFor, tc.Status.ControlPlaneNamespace)
		}
		err := d.c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil && !apierrors.IsNotFound(err) {
			fmt.Fprintf(os.Stderr, "density: delete namespace %s: %v\n", ns, err)
		}
	}
	var left []string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		left = left[:0]
		for _, ns := range waitFor {
			if err := d.c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
				left = append(left, ns)
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "density: after %s these namespaces are still there: %s\n", cleanupTimeout, strings.Join(left, " "))
		return
	}
	fmt.Fprintf(os.Stderr, "density: %d namespaces gone in %.0f s\n", len(waitFor), time.Since(start).Seconds())
}

// seedMemory reads MemTotal and MemAvailable (bytes) from /proc/meminfo: this machine is the
// seed. MemAvailable, not MemFree, since the page cache it counts is given back on demand.
func seedMemory() (total, available int64, err error) {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0, fmt.Errorf("seed memory: %w", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			total = kb << 10
		case "MemAvailable:":
			available = kb << 10
		}
	}
	if total == 0 || available == 0 {
		return 0, 0, errors.New("seed memory: /proc/meminfo has no MemTotal or MemAvailable")
	}
	return total, available, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("interrupted: %w", context.Cause(ctx))
	case <-time.After(d):
		return nil
	}
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }

// ordinal is 1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, …, 21st.
func ordinal(n int) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix
}
