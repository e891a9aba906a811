//go:build envtest

package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
)

// startManager runs a manager with kubeseed's metrics until the test ends. withController
// adds a TenantCluster controller that does nothing, so that controller-runtime's
// controller and workqueue metrics of "tenantcluster" exist as in the real manager.
func startManager(t *testing.T, ctx context.Context, o Options, withController bool) manager.Manager {
	t.Helper()
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: testScheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if withController {
		if err := ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.TenantCluster{}).Complete(
			reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) { return reconcile.Result{}, nil }),
		); err != nil {
			t.Fatal(err)
		}
	}
	if err := SetupWithManager(mgr, o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return mgr
}

// eventually polls check until it returns "" and fails the test with its last answer
// after 30 s.
func eventually(t *testing.T, check func() string) {
	const timeout = 30 * time.Second
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// subset describes how got differs from want on want's series only.
func subset(got, want map[string]float64) string {
	filtered := map[string]float64{}
	for k := range want {
		if v, ok := got[k]; ok {
			filtered[k] = v
		}
	}
	return diffSeries(filtered, want)
}

// setTenantStatus writes the status the TenantCluster controller would: phase, version, and
// every component condition and Ready at status, changed at changed.
func setTenantStatus(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, phase v1alpha1.TenantClusterPhase, version string, status metav1.ConditionStatus, changed time.Time) {
	t.Helper()
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	tc.Status.Phase, tc.Status.Version, tc.Status.Conditions = phase, version, nil
	for _, c := range []string{
		v1alpha1.EtcdAvailableCondition, v1alpha1.APIServerAvailableCondition, v1alpha1.ControllerManagerAvailableCondition,
		v1alpha1.SchedulerAvailableCondition, v1alpha1.ReadyCondition,
	} {
		tc.Status.Conditions = append(tc.Status.Conditions, metav1.Condition{
			Type: c, Status: status, Reason: "Test", Message: "set by the test", LastTransitionTime: metav1.NewTime(changed),
			ObservedGeneration: tc.Generation,
		})
	}
	if err := k8sClient.Status().Update(ctx, tc); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsInAManager feeds the metrics one tenant through a real cache, from creation to
// Ready, as the TenantCluster controller and cert-manager would write it, then checks that a
// restarted manager does not observe the Ready tenant's first Ready again and that the
// dashboard queries only metrics the registry exports.
func TestMetricsInAManager(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const etcdSize = 7 << 20
	dbSize := func(ctx context.Context, cfg etcd.Config) (int64, error) {
		if _, ok := ctx.Deadline(); !ok || len(cfg.CA) == 0 || len(cfg.Cert) == 0 || len(cfg.Key) == 0 {
			return 0, errors.New("no deadline or no TLS material")
		}
		if len(cfg.Endpoints) == 1 && strings.HasPrefix(cfg.Endpoints[0], "https://acme-etcd-client.") {
			return etcdSize, nil
		}
		return 0, fmt.Errorf("no etcd at %v: envtest runs no pods", cfg.Endpoints)
	}
	// The manager's wiring: controller-runtime's registry. The poller's interval is long:
	// only the first Ready asks for a round.
	startManager(t, ctx, Options{DBSize: dbSize, EtcdInterval: time.Hour}, true)
	reg := ctrlmetrics.Registry

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-"}}
	if err := k8sClient.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "acme"}}
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	created := tc.CreationTimestamp.Time
	hist := func(suffix string) string { return TimeToFirstReadyName + suffix + "{}" }
	expiresIn := fmt.Sprintf(`%s{certificate="acme-apiserver",namespace=%q,tenant="acme"}`, CertificateExpiresInName, ns.Name)
	size := fmt.Sprintf(`%s{name="acme",namespace=%q}`, EtcdDBSizeName, ns.Name)

	t.Run("a new tenant is Provisioning with nothing ready", func(t *testing.T) {
		setTenantStatus(t, ctx, tc, v1alpha1.TenantClusterProvisioning, "", metav1.ConditionFalse, created)
		want := phaseSeries(map[v1alpha1.TenantClusterPhase]float64{v1alpha1.TenantClusterProvisioning: 1})
		for k, v := range componentSeries(ns.Name, "acme", 0, 0, 0, 0) {
			want[k] = v
		}
		want[hist("_count")] = 0
		eventually(t, func() string { return subset(series(t, reg, "kubeseed_"), want) })
	})

	// What cert-manager and the controller leave: an issued Certificate the tenant controls
	// and the etcd client certificate's Secret.
	notAfter := time.Now().Add(365 * 24 * time.Hour).Truncate(time.Second)
	// Both in the tenant's control-plane namespace.
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlplane.NamespaceOf(tc)}}); err != nil {
		t.Fatal(err)
	}
	cert := &cmv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: controlplane.NamespaceOf(tc), Name: "acme-apiserver", Labels: map[string]string{controlplane.LabelTenantCluster: tc.Name}},
		Spec:       cmv1.CertificateSpec{SecretName: "acme-apiserver", CommonName: "kube-apiserver", IssuerRef: cmmeta.IssuerReference{Name: "acme-ca", Kind: cmv1.IssuerKind}},
	}
	if err := k8sClient.Create(ctx, cert); err != nil {
		t.Fatal(err)
	}
	cert.Status.NotAfter = ptr.To(metav1.NewTime(notAfter))
	if err := k8sClient.Status().Update(ctx, cert); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, etcdClientSecret(ns.Name, "acme", true)); err != nil {
		t.Fatal(err)
	}

	t.Run("the first Ready is observed once, with the time since creation", func(t *testing.T) {
		setTenantStatus(t, ctx, tc, v1alpha1.TenantClusterReady, "v1.36.3", metav1.ConditionTrue, created.Add(42*time.Second))
		want := phaseSeries(map[v1alpha1.TenantClusterPhase]float64{v1alpha1.TenantClusterReady: 1})
		for k, v := range componentSeries(ns.Name, "acme", 1, 1, 1, 1) {
			want[k] = v
		}
		want[hist("_count")], want[hist("_sum")] = 1, 42
		want[size] = etcdSize // the first Ready asks the poller for a round
		eventually(t, func() string {
			got := series(t, reg, "kubeseed_")
			left := time.Until(notAfter).Seconds()
			if v, ok := got[expiresIn]; !ok || v > left+1 || v < left-60 {
				return fmt.Sprintf("%s = %v (present %v), want about %v", expiresIn, v, ok, left)
			}
			return subset(got, want)
		})

		setTenantStatus(t, ctx, tc, v1alpha1.TenantClusterDegraded, "v1.36.3", metav1.ConditionFalse, time.Now())
		eventually(t, func() string {
			return subset(series(t, reg, "kubeseed_"), phaseSeries(map[v1alpha1.TenantClusterPhase]float64{v1alpha1.TenantClusterDegraded: 1}))
		})
		setTenantStatus(t, ctx, tc, v1alpha1.TenantClusterReady, "v1.36.3", metav1.ConditionTrue, time.Now())
		eventually(t, func() string {
			return subset(series(t, reg, "kubeseed_"), phaseSeries(map[v1alpha1.TenantClusterPhase]float64{v1alpha1.TenantClusterReady: 1}))
		})
		if got := series(t, reg, TimeToFirstReadyName)[hist("_count")]; got != 1 {
			t.Errorf("%s_count = %v after the tenant recovered, want 1: only the first Ready counts", TimeToFirstReadyName, got)
		}
	})

	t.Run("reconcile errors count by reason", func(t *testing.T) {
		id := fmt.Sprintf(`%s{controller=%q,reason="conflict"}`, ReconcileErrorsName, TenantClusterController)
		before, ok := series(t, reg, ReconcileErrorsName)[id]
		if !ok {
			t.Fatalf("no %s before any error", id)
		}
		RecordReconcileError(TenantClusterController, fmt.Errorf("update: %w", apierrors.NewConflict(v1alpha1.GroupVersion.WithResource("tenantclusters").GroupResource(), "acme", nil)))
		if got := series(t, reg, ReconcileErrorsName)[id]; got != before+1 {
			t.Errorf("%s = %v, want %v", id, got, before+1)
		}
	})

	t.Run("the dashboard queries only exported metrics", func(t *testing.T) {
		checkDashboard(t, reg)
	})

	t.Run("a restarted manager does not observe tenants that were Ready", func(t *testing.T) {
		fresh := prometheus.NewRegistry()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		restarted := startManager(t, ctx, Options{Registerer: fresh, DBSize: dbSize, EtcdInterval: time.Hour}, false)
		want := phaseSeries(map[v1alpha1.TenantClusterPhase]float64{v1alpha1.TenantClusterReady: 1})
		want[hist("_count")], want[size] = 0, etcdSize // a round at start
		eventually(t, func() string { return subset(series(t, fresh, "kubeseed_"), want) })

		// An update of a tenant that is Ready and stays Ready observes nothing either.
		setTenantStatus(t, ctx, tc, v1alpha1.TenantClusterReady, "v1.36.3", metav1.ConditionTrue, time.Now())
		eventually(t, func() string {
			seen := &v1alpha1.TenantCluster{}
			if err := restarted.GetCache().Get(ctx, client.ObjectKeyFromObject(tc), seen); err != nil || seen.ResourceVersion != tc.ResourceVersion {
				return fmt.Sprintf("the restarted manager's cache has not seen the update: %v", err)
			}
			return ""
		})
		time.Sleep(500 * time.Millisecond) // handlers run after the cache is updated
		if got := series(t, fresh, TimeToFirstReadyName)[hist("_count")]; got != 0 {
			t.Errorf("%s_count = %v in the restarted manager, want 0", TimeToFirstReadyName, got)
		}
	})

	t.Run("a deleted tenant leaves no series", func(t *testing.T) {
		if err := k8sClient.Delete(ctx, tc); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() string {
			got := series(t, reg, "kubeseed_tenant_")
			for k := range got {
				if strings.Contains(k, `namespace="`+ns.Name+`"`) {
					return "still exported: " + k
				}
			}
			return subset(got, phaseSeries(nil))
		})
	})
}
