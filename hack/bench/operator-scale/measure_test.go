package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestScrapeSumsWhatTheReportReads(t *testing.T) {
	const text = `# HELP controller_runtime_reconcile_total Total number of reconciliations per controller
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{controller="tenantcluster",result="success"} 40
controller_runtime_reconcile_total{controller="tenantcluster",result="requeue_after"} 2
controller_runtime_reconcile_total{controller="workerpool",result="success"} 7
kubeseed_bench_requests_total{method="GET",target="seed"} 100
kubeseed_bench_requests_total{method="PATCH",target="seed"} 30
kubeseed_bench_requests_total{method="DELETE",target="seed"} 1
kubeseed_bench_requests_total{method="PATCH",target="tenant"} 50
kubeseed_bench_requests_total{method="GET",target="tenant"} 5
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(text)) }))
	defer srv.Close()
	got, err := scrape(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{reconciles: 42, seedRequests: 131, seedWrites: 31, tenantRequest: 55} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
}

func TestChanged(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after map[string]string
		want          int
	}{
		{"nothing written", map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1", "b": "2"}, 0},
		{"one changed, one made", map[string]string{"a": "1"}, map[string]string{"a": "3", "b": "4"}, 2},
		{"a deletion is not counted", map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n, some := changed(tc.before, tc.after); n != tc.want || len(some) != n {
				t.Errorf("changed = %d %v, want %d", n, some, tc.want)
			}
		})
	}
}

func TestProcUsageReadsThisProcess(t *testing.T) {
	// Burn some CPU so that the figure cannot be zero.
	for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
		_ = strings.Repeat("x", 64)
	}
	cpu, rss, err := procUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if cpu <= 0 || rss < 1<<20 {
		t.Errorf("this process: CPU %s, RSS %d bytes; want both above zero (RSS at least 1 MiB)", cpu, rss)
	}
}

func TestReport(t *testing.T) {
	at := time.Unix(0, 0)
	idle := sample{rss: 60 << 20}
	before := sample{at: at, cpu: time.Second, metrics: map[string]float64{reconciles: 10, seedRequests: 100, seedWrites: 10, tenantRequest: 50}}
	after := sample{at: at.Add(time.Minute), cpu: 7 * time.Second, rss: 80 << 20,
		metrics: map[string]float64{reconciles: 50, seedRequests: 500, seedWrites: 90, tenantRequest: 1050}}
	got := report(10, 42*time.Second, idle, before, after, 0, nil)
	for _, want := range []string{"10 tenants Ready in 42.0 s", "RSS 80 MiB (2.00 MiB per tenant over 60 MiB idle)", "CPU 100 mCPU (10.00 per tenant)",
		"40 reconciles/min", "seed requests 400/min (80/min writes, objects changed: 0)", "tenant requests 1000/min"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestEventReasons(t *testing.T) {
	since := time.Unix(1000, 0)
	ev := func(kind, reason string, last time.Time) corev1.Event {
		return corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: kind}, Reason: reason, LastTimestamp: metav1.NewTime(last)}
	}
	for _, tc := range []struct {
		name   string
		events []corev1.Event
		want   string
	}{
		{"none", nil, "none"},
		{"only before the window", []corev1.Event{ev("TenantCluster", "Ready", since.Add(-time.Minute))}, "none"},
		{"counted and ordered", []corev1.Event{
			ev("TenantCluster", "AddonsNotReady", since.Add(time.Second)),
			ev("TenantCluster", "Ready", since.Add(2*time.Second)),
			ev("TenantCluster", "AddonsNotReady", since),
			ev("TenantCluster", "Old", since.Add(-time.Hour)),
		}, "2 TenantCluster AddonsNotReady, 1 TenantCluster Ready"},
		{"the condition a transition names", []corev1.Event{
			{InvolvedObject: corev1.ObjectReference{Kind: "TenantCluster"}, Reason: "Available", Message: "AddonsReady=True: all ready", LastTimestamp: metav1.NewTime(since)},
			{InvolvedObject: corev1.ObjectReference{Kind: "TenantCluster"}, Reason: "Available", Message: "Ready=True: every component", LastTimestamp: metav1.NewTime(since)},
			{InvolvedObject: corev1.ObjectReference{Kind: "TenantCluster"}, Reason: "Phase", Message: "Phase Running", LastTimestamp: metav1.NewTime(since)},
		}, "1 TenantCluster Available (AddonsReady=True), 1 TenantCluster Available (Ready=True), 1 TenantCluster Phase"},
		{"series count", []corev1.Event{{InvolvedObject: corev1.ObjectReference{Kind: "TenantCluster"}, Reason: "Probe",
			Series: &corev1.EventSeries{LastObservedTime: metav1.NewMicroTime(since.Add(time.Second))}}}, "1 TenantCluster Probe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := eventReasons(tc.events, since); got != tc.want {
				t.Errorf("eventReasons = %q, want %q", got, tc.want)
			}
		})
	}
}
