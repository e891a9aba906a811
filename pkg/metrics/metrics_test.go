package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
)

func TestReason(t *testing.T) {
	gr := schema.GroupResource{Group: "kubeseed.io", Resource: "tenantclusters"}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"terminal", reconcile.TerminalError(errors.New("spec.controlPlane.apiServer.extraArgs: etcd-servers is managed")), ReasonTerminal},
		{"wrapped terminal", fmt.Errorf("compute values: %w", reconcile.TerminalError(errors.New("x"))), ReasonTerminal},
		{"canceled", fmt.Errorf("list: %w", context.Canceled), ReasonCanceled},
		{"deadline", fmt.Errorf("etcd: %w", context.DeadlineExceeded), ReasonTimeout},
		{"server timeout", apierrors.NewServerTimeout(gr, "get", 1), ReasonTimeout},
		{"apiserver timeout", apierrors.NewTimeoutError("slow", 1), ReasonTimeout},
		{"conflict", fmt.Errorf("update: %w", apierrors.NewConflict(gr, "acme", errors.New("changed"))), ReasonConflict},
		{"already exists", apierrors.NewAlreadyExists(gr, "acme"), ReasonConflict},
		{"not found", apierrors.NewNotFound(gr, "acme"), ReasonNotFound},
		{"forbidden", apierrors.NewForbidden(gr, "acme", errors.New("RBAC")), ReasonForbidden},
		{"unauthorized", apierrors.NewUnauthorized("token expired"), ReasonForbidden},
		{"invalid", apierrors.NewInvalid(v1alpha1.GroupVersion.WithKind("TenantCluster").GroupKind(), "acme", nil), ReasonInvalid},
		{"bad request", apierrors.NewBadRequest("no"), ReasonInvalid},
		{"internal", apierrors.NewInternalError(errors.New("etcdserver: leader changed")), ReasonUnavailable},
		{"unavailable", apierrors.NewServiceUnavailable("starting"), ReasonUnavailable},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), ReasonUnavailable},
		{"connection refused", &url.Error{Op: "Get", URL: "https://seed:6443", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, ReasonUnavailable},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, ReasonTimeout},
		{"joined with a status patch error", errors.Join(errors.New("render"), fmt.Errorf("patch status: %w", apierrors.NewConflict(gr, "acme", nil))), ReasonConflict},
		{"other", errors.New("render control plane of acme: template: boom"), ReasonOther},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Reason(c.err)
			if got != c.want {
				t.Errorf("Reason(%v) = %q, want %q", c.err, got, c.want)
			}
			if c.err != nil && !slices.Contains(Reasons(), got) {
				t.Errorf("%q is not one of Reasons()", got)
			}
		})
	}
}

func TestRecordReconcileError(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := register(reg); err != nil {
		t.Fatal(err)
	}
	if err := register(reg); err != nil {
		t.Fatalf("registering the counter twice: %v", err)
	}
	before := series(t, reg, ReconcileErrorsName)
	if len(before) != len(Reasons()) {
		t.Errorf("%d series before any error, want one per reason: %v", len(before), before)
	}
	RecordReconcileError("test-controller", nil)
	RecordReconcileError("test-controller", apierrors.NewConflict(schema.GroupResource{}, "acme", nil))
	RecordReconcileError("test-controller", apierrors.NewConflict(schema.GroupResource{}, "acme", nil))
	RecordReconcileError("test-controller", errors.New("boom"))
	got := series(t, reg, ReconcileErrorsName)
	want := map[string]float64{
		`kubeseed_reconcile_errors_total{controller="test-controller",reason="conflict"}`: 2,
		`kubeseed_reconcile_errors_total{controller="test-controller",reason="other"}`:    1,
	}
	for k, v := range before {
		want[k] = v
	}
	if d := diffSeries(got, want); d != "" {
		t.Error(d)
	}
}

// acmeCP is the control-plane namespace of TenantCluster p1/acme.
var acmeCP = controlplane.NamespaceName("p1", "acme")

func TestStateCollector(t *testing.T) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	created := now.Add(-time.Hour)
	in := func(d time.Duration) *time.Time { return new(now.Add(d)) }
	deleting := tenant("p1", "gone", created, v1alpha1.TenantClusterDeleting, "v1.36.3", nil)
	deleting.DeletionTimestamp = new(metav1.NewTime(now))
	deleting.Finalizers = []string{v1alpha1.Finalizer}
	for _, c := range []struct {
		name     string
		objs     []client.Object
		sizes    map[types.NamespacedName]int64 // as the poller stored them
		inactive bool
		want     []map[string]float64
	}{{
		name: "no tenants: every phase at 0",
		want: []map[string]float64{phaseSeries(nil)},
	}, {
		name:     "not the leader: nothing",
		objs:     []client.Object{tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue))},
		inactive: true,
	}, {
		name: "phases; no phase yet counts as Provisioning",
		objs: []client.Object{
			tenant("p1", "new", created, "", "", nil),
			tenant("p1", "coming", created, v1alpha1.TenantClusterProvisioning, "", allConditions(metav1.ConditionFalse)),
			tenant("p2", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)),
			tenant("p3", "globex", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)),
			tenant("p3", "initech", created, v1alpha1.TenantClusterDegraded, "v1.36.3", allConditions(metav1.ConditionFalse)),
			tenant("p4", "up", created, v1alpha1.TenantClusterUpgrading, "v1.35.4", allConditions(metav1.ConditionFalse)),
			deleting,
		},
		want: []map[string]float64{
			phaseSeries(map[v1alpha1.TenantClusterPhase]float64{
				v1alpha1.TenantClusterProvisioning: 2, v1alpha1.TenantClusterReady: 2, v1alpha1.TenantClusterDegraded: 1,
				v1alpha1.TenantClusterUpgrading: 1, v1alpha1.TenantClusterDeleting: 1,
			}),
			componentSeries("p1", "new", 0, 0, 0, 0), componentSeries("p1", "coming", 0, 0, 0, 0),
			componentSeries("p2", "acme", 1, 1, 1, 1), componentSeries("p3", "globex", 1, 1, 1, 1),
			componentSeries("p3", "initech", 0, 0, 0, 0), componentSeries("p4", "up", 0, 0, 0, 0),
			componentSeries("p1", "gone", 0, 0, 0, 0),
		},
	}, {
		name: "each component from its condition; only True is ready",
		objs: []client.Object{tenant("p1", "acme", created, v1alpha1.TenantClusterDegraded, "v1.36.3", map[string]metav1.ConditionStatus{
			v1alpha1.EtcdAvailableCondition:      metav1.ConditionTrue,
			v1alpha1.APIServerAvailableCondition: metav1.ConditionFalse,
			v1alpha1.SchedulerAvailableCondition: metav1.ConditionUnknown,
			// no ControllerManagerAvailable
		})},
		want: []map[string]float64{
			phaseSeries(map[v1alpha1.TenantClusterPhase]float64{v1alpha1.TenantClusterDegraded: 1}),
			componentSeries("p1", "acme", 1, 0, 0, 0),
		},
	}, {
		name: "the autoscaler only of a tenant that runs one (its condition exists)",
		objs: []client.Object{
			tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)),
			tenant("p1", "scaled", created, v1alpha1.TenantClusterReady, "v1.36.3", func() map[string]metav1.ConditionStatus {
				c := allConditions(metav1.ConditionTrue)
				c[v1alpha1.AutoscalerAvailableCondition] = metav1.ConditionFalse
				return c
			}()),
		},
		want: []map[string]float64{
			phaseSeries(map[v1alpha1.TenantClusterPhase]float64{v1alpha1.TenantClusterReady: 2}),
			componentSeries("p1", "acme", 1, 1, 1, 1), componentSeries("p1", "scaled", 1, 1, 1, 1),
			{`kubeseed_tenant_component_ready{component="autoscaler",name="scaled",namespace="p1"}`: 0},
		},
	}, {
		name: "certificates in a tenant's control-plane namespace, once issued",
		objs: []client.Object{
			tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)),
			certificate(acmeCP, "acme-ca", "acme", in(10*365*24*time.Hour)),
			certificate(acmeCP, "acme-apiserver", "acme", in(time.Hour)),
			certificate(acmeCP, "acme-expired", "acme", in(-90*time.Second)),
			certificate(acmeCP, "acme-pending", "acme", nil),
			certificate(acmeCP, "someone-elses", "other", in(time.Hour)),
			certificate("p1", "in-the-customers-namespace", "acme", in(time.Hour)),
			certificate(controlplane.NamespaceName("p1", "deleted"), "of-a-deleted-tenant", "deleted", in(time.Hour)),
			certificate(controlplane.NamespaceName("p2", "acme"), "acme-ca", "acme", in(time.Hour)), // no acme in p2
		},
		want: []map[string]float64{
			phaseSeries(map[v1alpha1.TenantClusterPhase]float64{v1alpha1.TenantClusterReady: 1}),
			componentSeries("p1", "acme", 1, 1, 1, 1),
			{
				`kubeseed_tenant_certificate_expires_in_seconds{certificate="acme-ca",namespace="p1",tenant="acme"}`:        10 * 365 * 24 * 3600,
				`kubeseed_tenant_certificate_expires_in_seconds{certificate="acme-apiserver",namespace="p1",tenant="acme"}`: 3600,
				`kubeseed_tenant_certificate_expires_in_seconds{certificate="acme-expired",namespace="p1",tenant="acme"}`:   -90,
			},
		},
	}, {
		name:  "etcd sizes of tenants that still exist",
		objs:  []client.Object{tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue))},
		sizes: map[types.NamespacedName]int64{{Namespace: "p1", Name: "acme"}: 25 << 20, {Namespace: "p1", Name: "deleted-since"}: 1 << 20},
		want: []map[string]float64{
			phaseSeries(map[v1alpha1.TenantClusterPhase]float64{v1alpha1.TenantClusterReady: 1}),
			componentSeries("p1", "acme", 1, 1, 1, 1),
			{`kubeseed_tenant_etcd_db_size_bytes{name="acme",namespace="p1"}`: 25 << 20},
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			store := &sizeStore{}
			store.replace(c.sizes)
			active := &atomic.Bool{}
			active.Store(!c.inactive)
			reg := prometheus.NewRegistry()
			reg.MustRegister(&stateCollector{
				cache: fake.NewClientBuilder().WithScheme(testScheme()).WithObjects(c.objs...).Build(),
				sizes: store, active: active, now: func() time.Time { return now }, timeout: time.Second, log: logr.Discard(),
			})
			want := map[string]float64{}
			for _, w := range c.want {
				for k, v := range w {
					want[k] = v
				}
			}
			if d := diffSeries(series(t, reg, "kubeseed_"), want); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestTimeToFirstReady(t *testing.T) {
	created := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	readyAt := func(tc *v1alpha1.TenantCluster, at time.Time) *v1alpha1.TenantCluster {
		for i := range tc.Status.Conditions {
			if tc.Status.Conditions[i].Type == v1alpha1.ReadyCondition {
				tc.Status.Conditions[i].LastTransitionTime = metav1.NewTime(at)
			}
		}
		return tc
	}
	provisioning := tenant("p1", "acme", created, v1alpha1.TenantClusterProvisioning, "", allConditions(metav1.ConditionFalse))
	for _, c := range []struct {
		name          string
		before, after *v1alpha1.TenantCluster
		want          time.Duration
		observed      bool
	}{{
		name:   "first Ready",
		before: provisioning,
		after:  readyAt(tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)), created.Add(41*time.Second)),
		want:   41 * time.Second, observed: true,
	}, {
		name:   "no status before",
		before: tenant("p1", "acme", created, "", "", nil),
		after:  readyAt(tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)), created.Add(2*time.Minute)),
		want:   2 * time.Minute, observed: true,
	}, {
		name:   "still provisioning",
		before: provisioning,
		after:  tenant("p1", "acme", created, v1alpha1.TenantClusterProvisioning, "", allConditions(metav1.ConditionFalse)),
	}, {
		name:   "Ready stays Ready",
		before: tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)),
		after:  tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)),
	}, {
		name:   "Degraded recovers: was Ready before",
		before: tenant("p1", "acme", created, v1alpha1.TenantClusterDegraded, "v1.36.3", allConditions(metav1.ConditionFalse)),
		after:  tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)),
	}, {
		name:   "Paused (Ready Unknown) is not Ready",
		before: provisioning,
		after: tenant("p1", "acme", created, v1alpha1.TenantClusterProvisioning, "", map[string]metav1.ConditionStatus{
			v1alpha1.ReadyCondition: metav1.ConditionUnknown,
		}),
	}, {
		name:   "a transition time before the creation (clock skew) is 0",
		before: provisioning,
		after:  readyAt(tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)), created.Add(-time.Second)),
		want:   0, observed: true,
	}} {
		t.Run(c.name, func(t *testing.T) {
			got, observed := timeToFirstReady(c.before, c.after)
			if got != c.want || observed != c.observed {
				t.Errorf("timeToFirstReady = %v, %v; want %v, %v", got, observed, c.want, c.observed)
			}
		})
	}
}

// TestFirstReadyHandler replays what an informer delivers: adds (the initial list after a
// restart, or a new tenant), updates and deletes.
func TestFirstReadyHandler(t *testing.T) {
	created := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	provisioning := tenant("p1", "acme", created, v1alpha1.TenantClusterProvisioning, "", allConditions(metav1.ConditionFalse))
	ready := tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue))
	meta.FindStatusCondition(ready.Status.Conditions, v1alpha1.ReadyCondition).LastTransitionTime = metav1.NewTime(created.Add(50 * time.Second))
	other := tenant("p2", "globex", created, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue))

	hist := newTimeToFirstReady()
	reg := prometheus.NewRegistry()
	reg.MustRegister(hist)
	var pokes int
	f := newFirstReady(hist, func() { pokes++ })
	var h toolscache.ResourceEventHandler = f
	count := func() float64 {
		return series(t, reg, TimeToFirstReadyName)[TimeToFirstReadyName+"_count{}"]
	}

	h.OnAdd(other, true) // Ready when the manager started: not observed
	h.OnAdd(provisioning, false)
	if got := count(); got != 0 {
		t.Fatalf("count %v after adds, want 0", got)
	}
	h.OnUpdate(provisioning, provisioning)
	h.OnUpdate(provisioning, ready)
	if got, sum := count(), series(t, reg, TimeToFirstReadyName)[TimeToFirstReadyName+"_sum{}"]; got != 1 || sum != 50 || pokes != 1 {
		t.Fatalf("count %v, sum %v, pokes %d after the first Ready; want 1, 50, 1", got, sum, pokes)
	}
	h.OnUpdate(provisioning, ready) // a relist delivering the same transition again
	h.OnUpdate(ready, ready)
	h.OnUpdate(other, other)
	if got := count(); got != 1 {
		t.Fatalf("count %v after more updates, want 1", got)
	}
	h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "p1/acme", Obj: ready})
	if len(f.observed) != 0 {
		t.Errorf("the deleted tenant is still remembered: %v", f.observed)
	}
	h.OnUpdate("not a tenant", ready) // never panics
}

func TestEtcdPoller(t *testing.T) {
	created := time.Now().Add(-time.Hour)
	available := map[string]metav1.ConditionStatus{v1alpha1.EtcdAvailableCondition: metav1.ConditionTrue}
	deleting := tenant("p1", "leaving", created, v1alpha1.TenantClusterDeleting, "v1.36.3", available)
	deleting.DeletionTimestamp = new(metav1.NewTime(time.Now()))
	deleting.Finalizers = []string{v1alpha1.Finalizer}
	objs := []client.Object{
		tenant("p1", "acme", created, v1alpha1.TenantClusterReady, "v1.36.3", available),
		etcdClientSecret("p1", "acme", true),
		tenant("p1", "starting", created, v1alpha1.TenantClusterProvisioning, "", map[string]metav1.ConditionStatus{v1alpha1.EtcdAvailableCondition: metav1.ConditionFalse}),
		etcdClientSecret("p1", "starting", true),
		tenant("p1", "no-secret", created, v1alpha1.TenantClusterReady, "v1.36.3", available),
		tenant("p1", "half-issued", created, v1alpha1.TenantClusterReady, "v1.36.3", available),
		etcdClientSecret("p1", "half-issued", false),
		tenant("p2", "silent", created, v1alpha1.TenantClusterDegraded, "v1.36.3", available),
		etcdClientSecret("p2", "silent", true),
		deleting, etcdClientSecret("p1", "leaving", true),
	}
	var calls atomic.Int32
	size := func(ctx context.Context, cfg etcd.Config) (int64, error) {
		calls.Add(1)
		if _, ok := ctx.Deadline(); !ok {
			return 0, errors.New("no deadline")
		}
		if len(cfg.CA) == 0 || len(cfg.Cert) == 0 || len(cfg.Key) == 0 || len(cfg.Endpoints) != 1 {
			return 0, fmt.Errorf("incomplete config %+v", cfg)
		}
		switch cfg.Endpoints[0] {
		case controlplane.EtcdClientURL("acme", acmeCP):
			return 3 << 20, nil
		case controlplane.EtcdClientURL("silent", controlplane.NamespaceName("p2", "silent")):
			return 0, context.DeadlineExceeded
		}
		return 0, fmt.Errorf("unexpected endpoint %s", cfg.Endpoints[0])
	}
	store := &sizeStore{}
	store.replace(map[types.NamespacedName]int64{{Namespace: "p9", Name: "deleted-since"}: 1})
	errs := newEtcdStatusErrors()
	reg := prometheus.NewRegistry()
	reg.MustRegister(errs)
	seed := fake.NewClientBuilder().WithScheme(testScheme()).WithObjects(objs...).Build()
	p := &etcdPoller{
		cache: seed, secrets: seed,
		size: size, interval: time.Hour, timeout: time.Second, parallel: 2, store: store, errors: errs,
		log: logr.Discard(), wake: make(chan struct{}, 1),
	}
	p.pollOnce(context.Background())
	got := map[string]int64{}
	for k, v := range store.all() {
		got[k.String()] = v
	}
	if len(got) != 1 || got["p1/acme"] != 3<<20 {
		t.Errorf("sizes %v, want only p1/acme = %d", got, 3<<20)
	}
	// acme and silent are asked; no-secret and half-issued fail before; starting and
	// leaving are skipped.
	if n := calls.Load(); n != 2 {
		t.Errorf("%d etcds asked, want 2", n)
	}
	if got := series(t, reg, EtcdStatusErrorsName)[EtcdStatusErrorsName+"{}"]; got != 3 {
		t.Errorf("%s = %v, want 3 (no-secret, half-issued, silent)", EtcdStatusErrorsName, got)
	}

	// poke never blocks, and run polls right away, then when poked.
	p.poke()
	p.poke()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	calls.Store(0)
	go func() { p.run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() < 4 && time.Now().Before(deadline) { // the first round and the poked one
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if n := calls.Load(); n < 4 {
		t.Errorf("%d etcds asked by run, want 4: a round at start and one for the poke", n)
	}
}

// TestMetricNamesLint runs Prometheus' own linter (promlint) on every kubeseed metric, each
// with a series.
func TestMetricNamesLint(t *testing.T) {
	now := time.Now()
	reg := prometheus.NewRegistry()
	active := &atomic.Bool{}
	active.Store(true)
	store := &sizeStore{}
	store.replace(map[types.NamespacedName]int64{{Namespace: "p1", Name: "acme"}: 1 << 20})
	hist := newTimeToFirstReady()
	hist.Observe(42)
	errs := newEtcdStatusErrors()
	if err := register(reg, hist, errs, &stateCollector{
		cache: fake.NewClientBuilder().WithScheme(testScheme()).WithObjects(
			tenant("p1", "acme", now, v1alpha1.TenantClusterReady, "v1.36.3", allConditions(metav1.ConditionTrue)),
			certificate(acmeCP, "acme-ca", "acme", new(now.Add(time.Hour))),
		).Build(),
		sizes: store, active: active, now: time.Now, timeout: time.Second, log: logr.Discard(),
	}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := []string{
		CertificateExpiresInName, ComponentReadyName, ReconcileErrorsName, TenantClustersName,
		TimeToFirstReadyName, EtcdDBSizeName, EtcdStatusErrorsName,
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("families %v, want %v", names, want)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
