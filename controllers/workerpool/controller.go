// Package workerpool reconciles WorkerPools: Nova servers in a customer's OpenStack project
// that join a TenantCluster with stock `kubeadm join`. Nova is the source of truth: the
// servers are found by their pool tag and deterministic names, and the status only caches
// counts. Orchestration only: the user_data, tokens and reservations come from
// pkg/bootstrap, the cloud from pkg/openstack.
package workerpool

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/internal/reconcileutil"
	"github.com/kubeseed/kubeseed/pkg/metrics"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/tenantaccess"
)

// ControllerName is the name controller-runtime gives this controller (the lower-cased
// kind), and its value of the controller label of kubeseed_reconcile_errors_total.
const ControllerName = "workerpool"

// Defaults of the Reconciler's intervals.
const (
	// DefaultBuildPollInterval polls Nova while a server is in BUILD.
	DefaultBuildPollInterval = 5 * time.Second
	// DefaultNodePollInterval polls the tenant while a server has no Ready Node yet, or a
	// Node is being drained: nothing in the seed wakes the reconciler for either.
	DefaultNodePollInterval = 10 * time.Second
	// DefaultPollInterval looks at Nova and the tenant of a settled pool, to notice
	// servers deleted behind kubeseed's back and Nodes gone NotReady.
	DefaultPollInterval = time.Minute
	// DefaultCustomerProblemInterval looks again at a problem only the customer can fix
	// (quota, an invalid spec, credentials); a changed spec or Secret wakes it sooner.
	DefaultCustomerProblemInterval = 2 * time.Minute
	// DefaultDrainTimeout is how long a scale-down waits for a Node's pods to be evicted
	// (PodDisruptionBudgets may refuse) before it deletes the server anyway.
	DefaultDrainTimeout = 5 * time.Minute
	// DefaultTokenTTL is the lifetime of a server's bootstrap token. kubeseed deletes it
	// as soon as the server's Node registers.
	DefaultTokenTTL = time.Hour
	// drainPollInterval polls a drain under way.
	drainPollInterval = 5 * time.Second
	// deletedMemory is how long a server kubeseed asked Nova to delete is ignored while
	// Nova still lists it; after that it is deleted again.
	deletedMemory = 10 * time.Minute
)

// Reconciler turns WorkerPools into Nova servers that are Nodes of their TenantCluster.
type Reconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Clouds builds OpenStack clients from a WorkerPool's credentials Secret; nil refuses
	// every WorkerPool with a condition. Tests inject a fake cloud.
	Clouds openstack.ClientFactory
	// Tenants are the clients of tenants' kube-apiservers, shared with the TenantCluster
	// controller (which evicts a deleted tenant's); nil makes a cache of the reconciler's own
	// that dials with TenantDialer.
	Tenants *tenantaccess.Cache
	// TenantDialer connects to a tenant's kube-apiserver through its Service when Tenants is
	// nil; nil means tenantaccess.Dial, which needs the manager in the seed's pod network.
	// Tests without apiserver pods (envtest) inject one.
	TenantDialer tenantaccess.Dialer
	// IgnorePreflightErrors is passed to every server's kubeadm join: for test machines
	// that cannot pass some preflight checks. Empty for real servers.
	IgnorePreflightErrors []string
	// Intervals and timeouts; zero means the Default* constant.
	BuildPollInterval       time.Duration
	NodePollInterval        time.Duration
	PollInterval            time.Duration
	CustomerProblemInterval time.Duration
	DrainTimeout            time.Duration
	TokenTTL                time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	deleted sync.Map // deletedKey -> time.Time the delete was asked for
}

// Reconcile follows Cluster API's skeleton: get, finalizer, snapshot, one status patch in a
// defer, then delete or normal.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	defer func() { metrics.RecordReconcileError(ControllerName, reterr) }()
	wp := &v1alpha1.WorkerPool{}
	if err := r.Client.Get(ctx, req.NamespacedName, wp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if wp.DeletionTimestamp.IsZero() && controllerutil.AddFinalizer(wp, v1alpha1.Finalizer) {
		// The update's watch event runs the next reconcile.
		return ctrl.Result{}, r.Client.Update(ctx, wp)
	}
	before := wp.DeepCopy()
	defer func() {
		if reterr == nil {
			wp.Status.ObservedGeneration = wp.Generation
		}
		unchanged := equality.Semantic.DeepEqual(before.Status, wp.Status)
		reterr = reconcileutil.PatchStatus(ctx, r.Client, before, wp, unchanged, reterr, func() { r.recordTransitions(before, wp) })
	}()
	if !wp.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, wp)
	}
	return r.reconcileNormal(ctx, wp)
}

// recordTransitions emits an event when ServersReady, NodesReady, Progressing or Ready changes status or
// reason: Warning for a reason someone must act on or a condition that was True and is no
// longer.
func (r *Reconciler) recordTransitions(before, after *v1alpha1.WorkerPool) {
	for _, t := range []string{v1alpha1.ServersReadyCondition, v1alpha1.NodesReadyCondition, v1alpha1.ProgressingCondition, v1alpha1.ReadyCondition} {
		was := meta.FindStatusCondition(before.Status.Conditions, t)
		now := meta.FindStatusCondition(after.Status.Conditions, t)
		if now == nil || (was != nil && was.Status == now.Status && was.Reason == now.Reason) {
			continue
		}
		kind := corev1.EventTypeNormal
		// Progressing going False is a rollout that finished: no warning.
		if warningReasons[now.Reason] || (t != v1alpha1.ProgressingCondition && was != nil && was.Status == "True" && now.Status != "True") {
			kind = corev1.EventTypeWarning
		}
		// The condition as the action: events of one object, type, reason and action are one
		// series to the event library, which keeps the first message only.
		r.Recorder.Eventf(after, nil, kind, now.Reason, t, "%s=%s: %s", t, now.Status, now.Message)
	}
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// deletedKey is a server of a pool: server IDs are unique in a cloud, and pools of
// different clouds share the reconciler.
type deletedKey struct{ pool, server string }

// markDeleted remembers that Nova was asked to delete the pool's server.
func (r *Reconciler) markDeleted(wp *v1alpha1.WorkerPool, id string, now time.Time) {
	r.deleted.Store(deletedKey{string(wp.UID), id}, now)
}

// recentlyDeleted says whether Nova was asked to delete the pool's server lately, and
// forgets old deletes: a server still listed after deletedMemory is deleted again.
func (r *Reconciler) recentlyDeleted(wp *v1alpha1.WorkerPool, id string, now time.Time) bool {
	key := deletedKey{string(wp.UID), id}
	v, ok := r.deleted.Load(key)
	if !ok {
		return false
	}
	if now.Sub(v.(time.Time)) > deletedMemory {
		r.deleted.Delete(key)
		return false
	}
	return true
}
