package metrics

import (
	"context"
	"sync/atomic"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

var (
	tenantClustersDesc = prometheus.NewDesc(TenantClustersName,
		"TenantClusters by status.phase (Provisioning, Ready, Upgrading, Degraded, Deleting); every phase is "+
			"present, 0 when none. One without a phase yet counts as Provisioning.",
		[]string{"phase"}, nil)
	componentReadyDesc = prometheus.NewDesc(ComponentReadyName,
		"1 while a tenant's control-plane component is available, else 0: the TenantCluster's EtcdAvailable, "+
			"APIServerAvailable, ControllerManagerAvailable and SchedulerAvailable conditions.",
		[]string{"namespace", "name", "component"}, nil)
	certificateExpiresInDesc = prometheus.NewDesc(CertificateExpiresInName,
		"Seconds until a certificate of a tenant expires (its cert-manager Certificate's status.notAfter); "+
			"negative once expired. Only issued Certificates that an existing TenantCluster controls.",
		[]string{"namespace", "tenant", "certificate"}, nil)
	etcdDBSizeDesc = prometheus.NewDesc(EtcdDBSizeName,
		"Size of a tenant's etcd database in bytes, the largest of its members', as etcd's Status reports it "+
			"(polled in the background). Absent while the tenant's etcd is not available or did not answer the last poll.",
		[]string{"namespace", "name"}, nil)
	etcdBackupAgeDesc = prometheus.NewDesc(EtcdBackupAgeName,
		"Seconds since a tenant's last successful etcd backup started (status.backup.lastSuccessfulTime). "+
			"Only tenants with spec.controlPlane.etcd.backup that have one backup at least.",
		[]string{"namespace", "name"}, nil)
	etcdBackupSizeDesc = prometheus.NewDesc(EtcdBackupSizeName,
		"Stored (compressed, encrypted) size in bytes of a tenant's last successful etcd backup's snapshot.",
		[]string{"namespace", "name"}, nil)
)

// phases are the phases kubeseed_tenant_clusters always exports.
var phases = []v1alpha1.TenantClusterPhase{
	v1alpha1.TenantClusterProvisioning, v1alpha1.TenantClusterReady, v1alpha1.TenantClusterUpgrading,
	v1alpha1.TenantClusterDegraded, v1alpha1.TenantClusterDeleting,
	v1alpha1.TenantClusterHibernating, v1alpha1.TenantClusterHibernated, v1alpha1.TenantClusterWaking,
}

// stateCollector reads TenantClusters and Certificates from the manager's cache each time
// Prometheus scrapes, and the etcd sizes the poller stored. It exports nothing while
// active is false: the manager is not (yet) the leader, so that replicas standing by do not
// double the state the leader exports.
type stateCollector struct {
	cache   client.Reader
	sizes   *sizeStore
	active  *atomic.Bool
	now     func() time.Time
	timeout time.Duration
	log     logr.Logger
}

var _ prometheus.Collector = (*stateCollector)(nil)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tenantClustersDesc
	ch <- componentReadyDesc
	ch <- certificateExpiresInDesc
	ch <- etcdDBSizeDesc
	ch <- etcdBackupAgeDesc
	ch <- etcdBackupSizeDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.active.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	// Read-only: the cache's objects are not copied.
	tcs := &v1alpha1.TenantClusterList{}
	if err := c.cache.List(ctx, tcs, client.UnsafeDisableDeepCopy); err != nil {
		// A failed scrape would hide controller-runtime's metrics too: leave ours out.
		c.log.Error(err, "Listing TenantClusters for metrics")
		return
	}
	counts := map[v1alpha1.TenantClusterPhase]int{}
	for _, p := range phases {
		counts[p] = 0
	}
	tenants := map[types.NamespacedName]bool{}
	// byControlPlane finds a certificate's tenant from the control-plane namespace it is in.
	byControlPlane := map[string]types.NamespacedName{}
	for i := range tcs.Items {
		tc := &tcs.Items[i]
		key := types.NamespacedName{Namespace: tc.Namespace, Name: tc.Name}
		tenants[key] = true
		byControlPlane[controlplane.NamespaceOf(tc)] = key
		p := tc.Status.Phase
		if p == "" {
			p = v1alpha1.TenantClusterProvisioning
		}
		counts[p]++
		if b := tc.Status.Backup; b != nil && b.LastSuccessfulTime != nil && tc.Spec.ControlPlane.Etcd.Backup != nil {
			ch <- prometheus.MustNewConstMetric(etcdBackupAgeDesc, prometheus.GaugeValue, c.now().Sub(b.LastSuccessfulTime.Time).Seconds(), tc.Namespace, tc.Name)
			ch <- prometheus.MustNewConstMetric(etcdBackupSizeDesc, prometheus.GaugeValue, float64(b.SizeBytes), tc.Namespace, tc.Name)
		}
		for _, comp := range controlplane.Registry {
			if comp.Optional && meta.FindStatusCondition(tc.Status.Conditions, comp.Condition) == nil {
				continue // not run by this tenant: no series, rather than a 0 that alerts
			}
			ready := 0.0
			if meta.IsStatusConditionTrue(tc.Status.Conditions, comp.Condition) {
				ready = 1
			}
			ch <- prometheus.MustNewConstMetric(componentReadyDesc, prometheus.GaugeValue, ready, tc.Namespace, tc.Name, string(comp.Component))
		}
	}
	for p, n := range counts {
		ch <- prometheus.MustNewConstMetric(tenantClustersDesc, prometheus.GaugeValue, float64(n), string(p))
	}

	certs := &cmv1.CertificateList{}
	if err := c.cache.List(ctx, certs, client.UnsafeDisableDeepCopy); err != nil {
		c.log.Error(err, "Listing Certificates for metrics")
	}
	now := c.now()
	for i := range certs.Items {
		cert := &certs.Items[i]
		key, ok := byControlPlane[cert.Namespace]
		if !ok || cert.Labels[controlplane.LabelTenantCluster] != key.Name || cert.Status.NotAfter == nil {
			continue // not a tenant's, not issued, or its tenant is gone (its namespace follows)
		}
		// Labelled with the tenant's namespace and name, as every other tenant metric.
		ch <- prometheus.MustNewConstMetric(certificateExpiresInDesc, prometheus.GaugeValue,
			cert.Status.NotAfter.Sub(now).Seconds(), key.Namespace, key.Name, cert.Name)
	}

	for key, size := range c.sizes.all() {
		if tenants[key] { // a tenant deleted since the last poll is gone
			ch <- prometheus.MustNewConstMetric(etcdDBSizeDesc, prometheus.GaugeValue, float64(size), key.Namespace, key.Name)
		}
	}
}
