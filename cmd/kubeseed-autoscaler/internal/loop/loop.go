// Package loop runs the autoscaler: it watches one tenant's Pods and Nodes and the seed's
// WorkerPools of that tenant, asks the pure planner (package plan) what to do every scan,
// and does it through the WorkerPools' scale subresource and kubeseed's "delete this
// machine" annotation, explaining each decision in events, a status ConfigMap and metrics.
package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/kubeseed/kubeseed/cmd/kubeseed-autoscaler/internal/plan"
)

// Config is what the binary's flags say.
type Config struct {
	// Namespace of the seed holding the TenantCluster and its WorkerPools; Cluster is the
	// TenantCluster's name.
	Namespace, Cluster string
	// ScanInterval is how often the planner runs.
	ScanInterval time.Duration
	Plan         plan.Config
}

// tenantCallTimeout bounds every call to the tenant or the seed made outside the
// informers: a slow tenant delays a scan, never blocks the autoscaler.
const tenantCallTimeout = 10 * time.Second

// Autoscaler is one tenant's autoscaler.
type Autoscaler struct {
	cfg    Config
	tenant kubernetes.Interface
	seed   dynamic.Interface
	log    *slog.Logger

	tenantInformers informers.SharedInformerFactory
	seedInformers   dynamicinformer.DynamicSharedInformerFactory
	pods            cache.SharedIndexInformer
	nodes           cache.SharedIndexInformer
	pdbs            cache.SharedIndexInformer
	daemonSets      cache.SharedIndexInformer
	pools           cache.SharedIndexInformer

	seedEvents, tenantEvents record.EventRecorder
	metrics                  *Metrics
	memory                   plan.Memory
	// verdicts is the last scale-up verdict told to each pending pod, so that an event is
	// sent when it changes, not every scan.
	verdicts map[types.NamespacedName]string
	// status is the status ConfigMap's text as last written; lastDecision the last resize.
	status, lastDecision string
	now                  func() time.Time
}

// New wires an autoscaler; Run starts it.
func New(cfg Config, tenant kubernetes.Interface, seed dynamic.Interface, seedEvents typedcorev1.EventsGetter, metrics *Metrics, log *slog.Logger) *Autoscaler {
	a := &Autoscaler{cfg: cfg, tenant: tenant, seed: seed, log: log, metrics: metrics,
		verdicts: map[types.NamespacedName]string{}, now: time.Now}
	a.tenantInformers = informers.NewSharedInformerFactory(tenant, 0)
	a.pods = a.tenantInformers.Core().V1().Pods().Informer()
	a.nodes = a.tenantInformers.Core().V1().Nodes().Informer()
	a.pdbs = a.tenantInformers.Policy().V1().PodDisruptionBudgets().Informer()
	a.daemonSets = a.tenantInformers.Apps().V1().DaemonSets().Informer()
	a.seedInformers = dynamicinformer.NewFilteredDynamicSharedInformerFactory(seed, 0, cfg.Namespace, nil)
	a.pools = a.seedInformers.ForResource(WorkerPools).Informer()

	for name, inf := range map[string]cache.SharedIndexInformer{"pods": a.pods, "nodes": a.nodes, "poddisruptionbudgets": a.pdbs, "daemonsets": a.daemonSets, "workerpools": a.pools} {
		_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			log.Warn("list or watch", "resource", name, "err", err)
		})
	}
	source := corev1.EventSource{Component: "kubeseed-autoscaler"}
	sb := record.NewBroadcaster()
	sb.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: seedEvents.Events(cfg.Namespace)})
	a.seedEvents = sb.NewRecorder(scheme.Scheme, source)
	tb := record.NewBroadcaster()
	tb.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: tenant.CoreV1().Events("")})
	a.tenantEvents = tb.NewRecorder(scheme.Scheme, source)
	return a
}

// Run scans every ScanInterval until ctx ends. A scan that fails is logged and counted;
// the next one starts from what the informers see then.
func (a *Autoscaler) Run(ctx context.Context) error {
	a.Start(ctx)
	t := time.NewTicker(a.cfg.ScanInterval)
	defer t.Stop()
	for {
		start := a.now()
		if err := a.Scan(ctx); err != nil {
			a.metrics.Errors.Inc()
			a.log.Error("scan", "err", err)
		}
		a.metrics.LastScan.Set(a.now().Sub(start).Seconds())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Start starts the informers; Scan acts once they have listed everything.
func (a *Autoscaler) Start(ctx context.Context) {
	a.tenantInformers.Start(ctx.Done())
	a.seedInformers.Start(ctx.Done())
}

// errNotSynced: the informers have not listed everything yet.
var errNotSynced = errors.New("the tenant's or the seed's objects are not listed yet")

// Scan plans once and does what the plan says.
func (a *Autoscaler) Scan(ctx context.Context) error {
	for i, inf := range []cache.SharedIndexInformer{a.pods, a.nodes, a.pdbs, a.daemonSets, a.pools} {
		if !inf.HasSynced() {
			return fmt.Errorf("%w (%s)", errNotSynced, []string{"pods", "nodes", "poddisruptionbudgets", "daemonsets", "workerpools"}[i])
		}
	}
	// Informers keep serving what they last saw when the tenant goes away: act only on a
	// tenant that answers now.
	probe, cancel := context.WithTimeout(ctx, tenantCallTimeout)
	_, err := a.tenant.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(probe)
	cancel()
	if err != nil {
		return fmt.Errorf("the tenant's apiserver does not answer, nothing is resized: %w", err)
	}
	in, err := a.snapshot()
	if err != nil {
		return err
	}
	if changed, err := a.clearStale(ctx, in); changed || err != nil {
		return err // the next scan plans with what the informers then see
	}
	res := plan.Plan(a.cfg.Plan, in)
	// The plan starts cool-downs for what it decided; one that could not be done starts none.
	prev := a.memory
	a.memory = res.Memory
	a.metrics.Unschedulable.Set(float64(res.Unschedulable))
	a.tellPods(res)
	var errs []error
	if res.ScaleUp != nil {
		if err := a.scaleUp(ctx, in, *res.ScaleUp); err != nil {
			a.memory.LastScaleUp = prev.LastScaleUp
			errs = append(errs, err)
		}
	}
	if res.ScaleDown != nil {
		if err := a.scaleDown(ctx, *res.ScaleDown); err != nil {
			a.memory.LastScaleDown = prev.LastScaleDown
			errs = append(errs, err)
		}
	}
	if err := a.writeStatus(ctx, in, res); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// snapshot is the planner's input from the informers' caches.
func (a *Autoscaler) snapshot() (plan.Input, error) {
	in := plan.Input{Now: a.now(), Memory: a.memory}
	for _, o := range a.pools.GetStore().List() {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		if cluster, _, _ := unstructured.NestedString(u.Object, "spec", "clusterName"); cluster != a.cfg.Cluster {
			continue
		}
		p, err := decodePool(u)
		if err != nil {
			return plan.Input{}, err
		}
		in.Pools = append(in.Pools, p)
	}
	slices.SortFunc(in.Pools, func(x, y plan.Pool) int { return compareStrings(x.Name, y.Name) })
	in.Nodes = listAs[*corev1.Node](a.nodes)
	in.Pods = listAs[*corev1.Pod](a.pods)
	in.PDBs = listAs[*policyv1.PodDisruptionBudget](a.pdbs)
	in.DaemonSets = listAs[*appsv1.DaemonSet](a.daemonSets)
	return in, nil
}

func listAs[T any](i cache.SharedIndexInformer) []T {
	var out []T
	for _, o := range i.GetStore().List() {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func compareStrings(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// poolObject is the WorkerPool named, from the informer, for events.
func (a *Autoscaler) poolObject(name string) *unstructured.Unstructured {
	o, ok, err := a.pools.GetStore().GetByKey(a.cfg.Namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	u, _ := o.(*unstructured.Unstructured)
	return u
}

// nodesOf counts the Nodes of a pool, for messages.
func nodesOf(in plan.Input, pool string) int {
	sel := labels.SelectorFromSet(labels.Set{plan.PoolLabel: pool})
	n := 0
	for _, node := range in.Nodes {
		if sel.Matches(labels.Set(node.Labels)) {
			n++
		}
	}
	return n
}
