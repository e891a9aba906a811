package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// timeToFirstReadyBuckets span a small tenant on an idle seed (about 40 s) to a large one on
// a busy seed, where cert-manager, image pulls and etcd volumes take minutes.
var timeToFirstReadyBuckets = []float64{15, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200, 1800, 3600}

func newTimeToFirstReady() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: TimeToFirstReadyName,
		Help: "Seconds from a TenantCluster's creation to its first Ready=True (the Ready condition's " +
			"lastTransitionTime), observed once per tenant when the manager sees the transition.",
		Buckets: timeToFirstReadyBuckets,
	})
}

// firstReady observes the time to the first Ready from the TenantCluster informer's events
// rather than from the controller: the transition is visible in the informer as an update
// whose old object has never been Ready (status.version is empty until the first Ready) and
// whose new one is. Tenants that exist when the informer starts arrive as adds and are never
// observed, so a restarted manager (or a new leader) does not observe again the tenants that
// were Ready before it; a tenant that became Ready while no manager watched is missed, which
// is the price of never counting twice. The handler is registered only while the manager
// leads, so replicas standing by observe nothing.
type firstReady struct {
	hist prometheus.Histogram
	// onObserve runs after each observation: it asks the etcd poller for a round, so a new
	// tenant's database size shows without waiting for the next interval.
	onObserve func()

	mu sync.Mutex
	// observed guards "once per tenant" against a status that loses its version.
	observed map[types.UID]bool
}

var _ toolscache.ResourceEventHandler = (*firstReady)(nil)

func newFirstReady(hist prometheus.Histogram, onObserve func()) *firstReady {
	if onObserve == nil {
		onObserve = func() {}
	}
	return &firstReady{hist: hist, onObserve: onObserve, observed: map[types.UID]bool{}}
}

// OnAdd ignores every add: an add is a tenant the informer just listed (at start, Ready or
// not) or one just created (never Ready yet).
func (f *firstReady) OnAdd(any, bool) {}

// OnUpdate observes the first transition to Ready=True.
func (f *firstReady) OnUpdate(oldObj, newObj any) {
	before, ok1 := oldObj.(*v1alpha1.TenantCluster)
	after, ok2 := newObj.(*v1alpha1.TenantCluster)
	if !ok1 || !ok2 {
		return
	}
	d, ok := timeToFirstReady(before, after)
	if !ok {
		return
	}
	f.mu.Lock()
	seen := f.observed[after.UID]
	f.observed[after.UID] = true
	f.mu.Unlock()
	if seen {
		return
	}
	f.hist.Observe(d.Seconds())
	f.onObserve()
}

// OnDelete forgets the tenant.
func (f *firstReady) OnDelete(obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if tc, ok := obj.(*v1alpha1.TenantCluster); ok {
		f.mu.Lock()
		delete(f.observed, tc.UID)
		f.mu.Unlock()
	}
}

// timeToFirstReady is the time from after's creation to its Ready condition turning True,
// when the update from before to after is the tenant's first Ready.
func timeToFirstReady(before, after *v1alpha1.TenantCluster) (time.Duration, bool) {
	if before.Status.Version != "" || meta.IsStatusConditionTrue(before.Status.Conditions, v1alpha1.ReadyCondition) {
		return 0, false // Ready before: a Degraded or Upgrading tenant recovering
	}
	ready := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ReadyCondition)
	if ready == nil || ready.Status != metav1.ConditionTrue || after.CreationTimestamp.IsZero() {
		return 0, false
	}
	return max(ready.LastTransitionTime.Sub(after.CreationTimestamp.Time), 0), true
}
