//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/install"
	"github.com/kubeseed/kubeseed/pkg/metrics"
)

// metricsService is the manager's metrics Service the chart renders for release "kubeseed"
// (charts/kubeseed/templates/service.yaml), port "metrics".
const metricsService = "kubeseed-manager-metrics"

// scrapeManager reads the manager's /metrics the way Prometheus would reach it in the seed:
// through the metrics Service, here by way of the seed apiserver's service proxy. The chart
// serves plain HTTP inside the cluster with no authentication of its own (no
// controller-runtime secure serving, no authn/authz filter), so "http:<service>:<port>"
// and the e2e client's right to services/proxy are all it takes.
func scrapeManager(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	raw, err := clients.CoreV1().RESTClient().Get().
		AbsPath("/api/v1/namespaces", install.DefaultNamespace, "services", "http:"+metricsService+":metrics", "proxy", "metrics").
		SetHeader("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain))).
		DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics through Service %s/%s: %w", install.DefaultNamespace, metricsService, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return families, nil
}

// sample finds the series of family name whose labels include want. ok is false when
// there is none.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) (*dto.Metric, bool) {
	for _, m := range families[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			return m, true
		}
	}
	return nil, false
}

// firstReady is the time-to-first-Ready histogram's count and sum.
func firstReady(families map[string]*dto.MetricFamily) (count uint64, sum float64) {
	m, ok := sample(families, metrics.TimeToFirstReadyName, nil)
	if !ok {
		return 0, 0
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// TestManagerExportsTenantMetrics scrapes the running manager after a new tenant became
// Ready: the phase gauge counts it, the time to its first Ready was observed once (with the
// time from its creation to its Ready condition's transition), its four components are
// ready, every certificate it owns expires in what cert-manager says, and its etcd has a
// database size. docs/metrics.md describes the metrics.
func TestManagerExportsTenantMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	var before map[string]*dto.MetricFamily
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		if before, err = scrapeManager(ctx); err != nil {
			t.Logf("scrape: %v", err)
			return false, nil
		}
		// Only the leader exports kubeseed's state; the chart runs one replica.
		_, ok := sample(before, metrics.TenantClustersName, map[string]string{"phase": string(v1alpha1.TenantClusterReady)})
		return ok, nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("the manager's metrics never showed %s: %v", metrics.TenantClustersName, err)
	}
	countBefore, sumBefore := firstReady(before)
	podsBefore := managerPods(t, ctx)

	tc := smallTenant(newNamespace(t), "metrics")
	if err := kube.Create(ctx, tc); err != nil {
		t.Fatalf("create TenantCluster: %v", err)
	}
	t.Cleanup(func() { deleteTenant(t, tc) })
	waitTenantReady(t, ctx, tc)
	ready := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition)
	tookToReady := ready.LastTransitionTime.Sub(tc.CreationTimestamp.Time).Seconds()
	certs := &cmv1.CertificateList{}
	if err := kube.List(ctx, certs, client.InNamespace(controlplane.NamespaceOf(tc)), client.MatchingLabels{controlplane.LabelTenantCluster: tc.Name}); err != nil {
		t.Fatal(err)
	}
	if len(certs.Items) == 0 {
		t.Fatal("the tenant has no Certificates")
	}
	tenantLabels := map[string]string{"namespace": tc.Namespace, "name": tc.Name}

	// Everything but the etcd size is there as soon as the manager's cache has the new
	// status; the first Ready asks the etcd poller for a round at once, and a poll that
	// failed is retried within a minute.
	var problems []string
	var after map[string]*dto.MetricFamily
	err = wait.PollUntilContextTimeout(ctx, 3*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		problems = nil
		fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
		var err error
		if after, err = scrapeManager(ctx); err != nil {
			fail("scrape: %v", err)
			return false, nil
		}

		for _, p := range []v1alpha1.TenantClusterPhase{
			v1alpha1.TenantClusterProvisioning, v1alpha1.TenantClusterReady, v1alpha1.TenantClusterUpgrading,
			v1alpha1.TenantClusterDegraded, v1alpha1.TenantClusterDeleting,
		} {
			m, ok := sample(after, metrics.TenantClustersName, map[string]string{"phase": string(p)})
			switch {
			case !ok:
				fail("%s{phase=%q} is missing", metrics.TenantClustersName, p)
			case p == v1alpha1.TenantClusterReady && m.GetGauge().GetValue() < 1:
				fail("%s{phase=Ready} = %v, want the new tenant counted", metrics.TenantClustersName, m.GetGauge().GetValue())
			}
		}

		count, sum := firstReady(after)
		switch {
		case count != countBefore+1:
			fail("%s_count = %d, was %d: want the new tenant's first Ready observed once", metrics.TimeToFirstReadyName, count, countBefore)
		case sum-sumBefore < tookToReady-1 || sum-sumBefore > tookToReady+1:
			fail("%s_sum grew by %.0f s, want %.0f s (creation to the Ready condition's transition)", metrics.TimeToFirstReadyName, sum-sumBefore, tookToReady)
		}

		for _, c := range controlplane.Components() {
			labels := map[string]string{"namespace": tc.Namespace, "name": tc.Name, "component": string(c)}
			if m, ok := sample(after, metrics.ComponentReadyName, labels); !ok || m.GetGauge().GetValue() != 1 {
				fail("%s%v = %v (present %v), want 1", metrics.ComponentReadyName, labels, m.GetGauge().GetValue(), ok)
			}
		}

		for _, cert := range certs.Items {
			labels := map[string]string{"namespace": tc.Namespace, "tenant": tc.Name, "certificate": cert.Name}
			m, ok := sample(after, metrics.CertificateExpiresInName, labels)
			if !ok || cert.Status.NotAfter == nil {
				fail("%s%v is missing (issued until %v)", metrics.CertificateExpiresInName, labels, cert.Status.NotAfter)
				continue
			}
			got, want := m.GetGauge().GetValue(), time.Until(cert.Status.NotAfter.Time).Seconds()
			// Positive, at most the CAs' ten years, and what cert-manager says give or take
			// the time since the scrape.
			if got <= 0 || got > (10*365+3)*24*3600 || got > want+60 || got < want-60 {
				fail("%s%v = %.0f s, want about %.0f s", metrics.CertificateExpiresInName, labels, got, want)
			}
		}

		if m, ok := sample(after, metrics.EtcdDBSizeName, tenantLabels); !ok || m.GetGauge().GetValue() <= 0 {
			fail("%s%v = %v (present %v), want > 0", metrics.EtcdDBSizeName, tenantLabels, m.GetGauge().GetValue(), ok)
		}

		for _, r := range metrics.Reasons() {
			labels := map[string]string{"controller": metrics.TenantClusterController, "reason": r}
			if _, ok := sample(after, metrics.ReconcileErrorsName, labels); !ok {
				fail("%s%v is missing", metrics.ReconcileErrorsName, labels)
			}
		}
		// The dashboard's controller-runtime panels select the controller by this name.
		if _, ok := sample(after, "controller_runtime_reconcile_total", map[string]string{"controller": metrics.TenantClusterController}); !ok {
			fail("controller_runtime_reconcile_total{controller=%q} is missing", metrics.TenantClusterController)
		}
		return len(problems) == 0, nil
	})
	if err != nil {
		if podsAfter := managerPods(t, ctx); len(podsAfter) != len(podsBefore) || !sameKeys(podsBefore, podsAfter) {
			t.Logf("the manager's pods changed during the test (%v, now %v): counters restarted", podsBefore, podsAfter)
		}
		dumpManagerLogs(t)
		t.Fatalf("the manager's metrics are not right after 3m:\n%s", strings.Join(problems, "\n"))
	}
}

func sameKeys[K comparable, V any](a, b map[K]V) bool {
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return len(a) == len(b)
}

// deleteTenant deletes tc and waits until it is gone, so that the tests after this one get
// the seed's CPU back.
func deleteTenant(t *testing.T, tc *v1alpha1.TenantCluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := kube.Delete(ctx, tc); client.IgnoreNotFound(err) != nil {
		t.Errorf("delete TenantCluster %s/%s: %v", tc.Namespace, tc.Name, err)
		return
	}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(kube.Get(ctx, client.ObjectKeyFromObject(tc), &v1alpha1.TenantCluster{})), nil
	})
	if err != nil {
		t.Errorf("TenantCluster %s/%s still exists 3m after delete", tc.Namespace, tc.Name)
	}
}
