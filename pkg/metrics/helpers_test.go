package metrics

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// testScheme knows the kinds the metrics read.
func testScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, cmv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// series gathers g into `name{label="value",...}` → value, labels sorted; a histogram gives
// name_count and name_sum. Only the families whose name has prefix.
func series(t *testing.T, g prometheus.Gatherer, prefix string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), prefix) {
			continue
		}
		for _, m := range mf.GetMetric() {
			id := seriesID(mf.GetName(), m.GetLabel())
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[id] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[id] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[seriesID(mf.GetName()+"_count", m.GetLabel())] = float64(m.GetHistogram().GetSampleCount())
				out[seriesID(mf.GetName()+"_sum", m.GetLabel())] = m.GetHistogram().GetSampleSum()
			default:
				t.Fatalf("%s: unexpected type %v", mf.GetName(), mf.GetType())
			}
		}
	}
	return out
}

func seriesID(name string, labels []*dto.LabelPair) string {
	var parts []string
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// diffSeries describes how got differs from want, "" when equal.
func diffSeries(got, want map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "missing %s = %v\n", k, want[k])
		} else if g != want[k] {
			fmt.Fprintf(&b, "%s = %v, want %v\n", k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "unexpected %s = %v\n", k, got[k])
		}
	}
	return b.String()
}

// phaseSeries is kubeseed_tenant_clusters with every phase at 0 but those given.
func phaseSeries(counts map[v1alpha1.TenantClusterPhase]float64) map[string]float64 {
	out := map[string]float64{}
	for _, p := range phases {
		out[fmt.Sprintf(`%s{phase=%q}`, TenantClustersName, p)] = counts[p]
	}
	return out
}

// componentSeries is kubeseed_tenant_component_ready of one tenant, values in the order
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler.
func componentSeries(ns, name string, values ...float64) map[string]float64 {
	out := map[string]float64{}
	for i, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		out[fmt.Sprintf(`%s{component=%q,name=%q,namespace=%q}`, ComponentReadyName, c, name, ns)] = values[i]
	}
	return out
}

// tenant is a TenantCluster created at created, with the given phase, version and
// conditions (type → status).
func tenant(ns, name string, created time.Time, phase v1alpha1.TenantClusterPhase, version string, conds map[string]metav1.ConditionStatus) *v1alpha1.TenantCluster {
	tc := &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID(ns + "/" + name), CreationTimestamp: metav1.NewTime(created),
		},
		Spec:   v1alpha1.TenantClusterSpec{Version: "v1.36.3"},
		Status: v1alpha1.TenantClusterStatus{Phase: phase, Version: version},
	}
	for _, t := range slices.Sorted(maps.Keys(conds)) {
		tc.Status.Conditions = append(tc.Status.Conditions, metav1.Condition{
			Type: t, Status: conds[t], Reason: "Test", LastTransitionTime: metav1.NewTime(created),
		})
	}
	return tc
}

// allConditions maps every component condition and Ready to status.
func allConditions(status metav1.ConditionStatus) map[string]metav1.ConditionStatus {
	return map[string]metav1.ConditionStatus{
		v1alpha1.EtcdAvailableCondition: status, v1alpha1.APIServerAvailableCondition: status,
		v1alpha1.ControllerManagerAvailableCondition: status, v1alpha1.SchedulerAvailableCondition: status,
		v1alpha1.ReadyCondition: status,
	}
}

// certificate is a Certificate in namespace ns labelled as tenant's (the label pki puts on
// every certificate of a tenant), issued until notAfter (nil: not issued).
func certificate(ns, name, tenant string, notAfter *time.Time) *cmv1.Certificate {
	c := &cmv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{controlplane.LabelTenantCluster: tenant}},
		Spec:       cmv1.CertificateSpec{SecretName: name, IssuerRef: cmmeta.IssuerReference{Name: "ca", Kind: cmv1.IssuerKind}, CommonName: name},
	}
	if notAfter != nil {
		c.Status.NotAfter = ptr.To(metav1.NewTime(*notAfter))
	}
	return c
}

// etcdClientSecret is the Secret <name>-apiserver-etcd-client of TenantCluster ns/name, in
// its control-plane namespace, with a CA or without.
func etcdClientSecret(ns, name string, withCA bool) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: controlplane.NamespaceName(ns, name), Name: controlplane.APIServerEtcdClientSecret.Name(name)},
		Data:       map[string][]byte{controlplane.TLSCertKey: []byte("cert"), controlplane.TLSKeyKey: []byte("key")},
	}
	if withCA {
		s.Data[controlplane.CACertKey] = []byte("ca")
	}
	return s
}
