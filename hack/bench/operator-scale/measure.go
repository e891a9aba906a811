package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// sample is the manager's state at one moment.
type sample struct {
	at      time.Time
	cpu     time.Duration // user + system since it started
	rss     int64         // bytes
	metrics map[string]float64
}

// The sums the report reads from the manager's metrics, by metric and label filter.
const (
	reconciles    = "reconciles"
	seedRequests  = "seed"
	seedWrites    = "seed writes"
	tenantRequest = "tenant"
)

func (m *managerProcess) sample(ctx context.Context) (sample, error) {
	s := sample{at: time.Now()}
	var err error
	if s.cpu, s.rss, err = procUsage(m.cmd.Process.Pid); err != nil {
		return s, err
	}
	if s.metrics, err = scrape(ctx, m.metrics); err != nil {
		return s, err
	}
	return s, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on Linux.
const clockTicks = 100

// procUsage reads a process's CPU time (/proc/<pid>/stat utime + stime) and resident memory
// (/proc/<pid>/status VmRSS).
func procUsage(pid int) (time.Duration, int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name is in parentheses and may hold spaces: fields count from after it.
	end := strings.LastIndexByte(string(raw), ')')
	fields := strings.Fields(string(raw)[end+1:])
	if len(fields) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14 of stat(5)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: times %q %q", pid, fields[11], fields[12])
	}
	cpu := time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/%d/status VmRSS %q", pid, rest)
			}
			return cpu, kb << 10, nil
		}
	}
	return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// scrape reads the manager's metrics (Prometheus text) and sums the few the report needs.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		switch {
		case strings.HasPrefix(series, "controller_runtime_reconcile_total{") && strings.Contains(series, `controller="tenantcluster"`):
			out[reconciles] += v
		case strings.HasPrefix(series, "kubeseed_bench_requests_total{") && strings.Contains(series, `target="seed"`):
			out[seedRequests] += v
			if !strings.Contains(series, `method="GET"`) {
				out[seedWrites] += v
			}
		case strings.HasPrefix(series, "kubeseed_bench_requests_total{") && strings.Contains(series, `target="tenant"`):
			out[tenantRequest] += v
		}
	}
	return out, sc.Err()
}

// report is the bench's one line.
func report(n int, readyIn time.Duration, idle, before, after sample, stored int, some []string) string {
	window := after.at.Sub(before.at)
	perMin := func(key string) float64 { return (after.metrics[key] - before.metrics[key]) / window.Minutes() }
	mcpu := (after.cpu - before.cpu).Seconds() / window.Seconds() * 1000
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	written := fmt.Sprint(stored)
	if stored > 0 {
		written += " " + fmt.Sprint(some)
	}
	return fmt.Sprintf("operator-scale: %d tenants Ready in %.1f s; over %s: RSS %.0f MiB (%.2f MiB per tenant over %.0f MiB idle), CPU %.0f mCPU (%.2f per tenant), %.0f reconciles/min, seed requests %.0f/min (%.0f/min writes, objects changed: %s), tenant requests %.0f/min",
		n, readyIn.Seconds(), window.Round(time.Second), mib(after.rss), mib(after.rss-idle.rss)/float64(n), mib(idle.rss),
		mcpu, mcpu/float64(n), perMin(reconciles), perMin(seedRequests), perMin(seedWrites), written, perMin(tenantRequest))
}

// storedKinds are what the manager writes in the seed (and events of its transitions):
// snapshot compares their resourceVersions, so a change of any of them between two
// snapshots is a write that was stored, whoever made it (at steady state nobody should).
var storedKinds = []schema.GroupVersionKind{
	v1alpha1.GroupVersion.WithKind("TenantClusterList"),
	corev1.SchemeGroupVersion.WithKind("SecretList"),
	corev1.SchemeGroupVersion.WithKind("ConfigMapList"),
	corev1.SchemeGroupVersion.WithKind("ServiceList"),
	corev1.SchemeGroupVersion.WithKind("NamespaceList"),
	corev1.SchemeGroupVersion.WithKind("EventList"),
	appsv1.SchemeGroupVersion.WithKind("DeploymentList"),
	appsv1.SchemeGroupVersion.WithKind("StatefulSetList"),
	cmv1.SchemeGroupVersion.WithKind("CertificateList"),
}

// snapshot maps every stored object of storedKinds (kind/namespace/name) to its
// resourceVersion.
func snapshot(ctx context.Context, c client.Client) (map[string]string, error) {
	out := map[string]string{}
	for _, gvk := range storedKinds {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk)
		if err := c.List(ctx, list); err != nil {
			return nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
		}
		for _, o := range list.Items {
			out[gvk.Kind+"/"+o.Namespace+"/"+o.Name] = o.ResourceVersion
		}
	}
	return out, nil
}

// changed lists the objects written (made or changed) between two snapshots, at most a few.
func changed(before, after map[string]string) (int, []string) {
	n, some := 0, []string(nil)
	for k, rv := range after {
		if before[k] != rv {
			n++
			if len(some) < 5 {
				some = append(some, k)
			}
		}
	}
	slices.Sort(some)
	return n, some
}

// eventReasons counts the events last seen at or after since by involved kind, reason and
// the condition they report, most frequent first: the manager records an event for each
// condition that moves, so these name what changed while nothing should have.
func eventReasons(events []corev1.Event, since time.Time) string {
	counts := map[string]int{}
	for _, e := range events {
		last := e.LastTimestamp.Time
		if e.EventTime.After(last) {
			last = e.EventTime.Time
		}
		if e.Series != nil && e.Series.LastObservedTime.After(last) {
			last = e.Series.LastObservedTime.Time
		}
		if last.Before(since.Truncate(time.Second)) {
			continue
		}
		key := e.InvolvedObject.Kind + " " + e.Reason
		// The manager's transition events begin "<condition>=<status>:"; which condition
		// moved is what the count is for.
		if cond, _, ok := strings.Cut(e.Message, ":"); ok && strings.Contains(cond, "=") && !strings.Contains(cond, " ") {
			key += " (" + cond + ")"
		}
		counts[key]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
