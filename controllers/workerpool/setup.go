package workerpool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/tenantaccess"
)

// The manager's permissions for WorkerPools, least privilege; charts/kubeseed's
// ClusterRole is generated from these markers. Inside tenants kubeseed uses each
// tenant's admin kubeconfig.
//
// +kubebuilder:rbac:groups=kubeseed.io,resources=workerpools,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kubeseed.io,resources=workerpools/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeseed.io,resources=workerpools/finalizers,verbs=update
// +kubebuilder:rbac:groups=kubeseed.io,resources=tenantclusters,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// MaxConcurrentReconciles is how many WorkerPools are reconciled at once by default.
const MaxConcurrentReconciles = 4

// Field indexes of WorkerPools.
const (
	clusterNameIndex       = ".spec.clusterName"
	credentialsSecretIndex = ".spec.credentialsSecretRef.name"
)

// SetupWithManager registers the controller with MaxConcurrentReconciles workers.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return r.SetupWithManagerWorkers(mgr, MaxConcurrentReconciles)
}

// SetupWithManagerWorkers defaults the intervals, checks the dependencies and registers the
// controller, reconciling up to workers WorkerPools at once (the manager's
// --workerpool-workers; at least 1): WorkerPools wake it, and so do their TenantCluster,
// credentials Secret and the cluster's admin kubeconfig Secret; Nova and the tenant are
// polled.
func (r *Reconciler) SetupWithManagerWorkers(mgr ctrl.Manager, workers int) error {
	if workers < 1 {
		return fmt.Errorf("workerpool: workers is %d, must be at least 1", workers)
	}
	if r.Client == nil || r.Scheme == nil || r.Recorder == nil {
		return errors.New("workerpool: Client, Scheme and Recorder are required")
	}
	if r.Tenants == nil {
		r.Tenants = &tenantaccess.Cache{Dialer: r.TenantDialer}
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&r.BuildPollInterval, DefaultBuildPollInterval}, {&r.NodePollInterval, DefaultNodePollInterval},
		{&r.PollInterval, DefaultPollInterval}, {&r.CustomerProblemInterval, DefaultCustomerProblemInterval},
		{&r.DrainTimeout, DefaultDrainTimeout}, {&r.TokenTTL, DefaultTokenTTL},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	indexer := mgr.GetFieldIndexer()
	for field, value := range map[string]func(*v1alpha1.WorkerPool) string{
		clusterNameIndex:       func(wp *v1alpha1.WorkerPool) string { return wp.Spec.ClusterName },
		credentialsSecretIndex: func(wp *v1alpha1.WorkerPool) string { return wp.Spec.CredentialsSecretRef.Name },
	} {
		if err := indexer.IndexField(context.Background(), &v1alpha1.WorkerPool{}, field, func(obj client.Object) []string {
			if v := value(obj.(*v1alpha1.WorkerPool)); v != "" {
				return []string{v}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("index WorkerPools by %s: %w", field, err)
		}
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Pools of different customers in parallel: a slow cloud or tenant holds only its own.
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		For(&v1alpha1.WorkerPool{}, builder.WithPredicates(notStatusOnly())).
		Watches(&v1alpha1.TenantCluster{}, handler.EnqueueRequestsFromMapFunc(r.poolsOfCluster), builder.WithPredicates(clusterChanged())).
		// A fixed or rotated credentials Secret, or a new admin kubeconfig, is tried at once.
		// By its metadata only: the manager holds no Secret's data (app.CacheOptions).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.poolsOfSecret)).
		Complete(r)
}

// poolsOfCluster maps a TenantCluster to the WorkerPools that join it.
func (r *Reconciler) poolsOfCluster(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.pools(ctx, obj.GetNamespace(), clusterNameIndex, obj.GetName())
}

// poolsOfSecret maps a Secret to the WorkerPools that act with it as credentials (named by
// the pool, or by its cluster's spec.cloud), or whose cluster's admin kubeconfig it is.
func (r *Reconciler) poolsOfSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	users, _ := r.usersOf(ctx, obj.GetNamespace(), obj.GetName()) // a failed list maps to nothing
	out := make([]reconcile.Request, 0, len(users))
	for _, wp := range users {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&wp)})
	}
	suffix := "-" + string(controlplane.AdminKubeconfigSecret)
	if cluster, ok := strings.CutSuffix(obj.GetName(), suffix); ok && cluster != "" {
		// The copy the manager reads is the control plane's (its namespace is computed
		// from the pool's): a pool in any namespace whose cluster's lives there.
		cpns := strings.HasPrefix(obj.GetNamespace(), controlplane.NamespacePrefix)
		namespace := obj.GetNamespace()
		if cpns {
			namespace = ""
		}
		for _, req := range r.pools(ctx, namespace, clusterNameIndex, cluster) {
			if cpns && controlplane.NamespaceName(req.Namespace, cluster) != obj.GetNamespace() {
				continue
			}
			if !slices.Contains(out, req) {
				out = append(out, req)
			}
		}
	}
	return out
}

func (r *Reconciler) pools(ctx context.Context, namespace, index, value string) []reconcile.Request {
	list := &v1alpha1.WorkerPoolList{}
	if err := r.Client.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: value}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, wp := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&wp)})
	}
	return out
}

// notStatusOnly drops the update events of a WorkerPool's own status patches: the
// reconciler wrote them, and Nova is polled anyway. Spec (generation), labels,
// annotations, finalizers, owners and deletion pass.
func notStatusOnly() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		was, now := e.ObjectOld, e.ObjectNew
		return was.GetGeneration() != now.GetGeneration() ||
			!equality.Semantic.DeepEqual(was.GetLabels(), now.GetLabels()) ||
			!equality.Semantic.DeepEqual(was.GetAnnotations(), now.GetAnnotations()) ||
			!slices.Equal(was.GetFinalizers(), now.GetFinalizers()) ||
			!equality.Semantic.DeepEqual(was.GetOwnerReferences(), now.GetOwnerReferences()) ||
			!equality.Semantic.DeepEqual(was.GetDeletionTimestamp(), now.GetDeletionTimestamp())
	}}
}

// clusterChanged passes TenantCluster updates that can change what its pools may do:
// Ready or TenantBootstrapped changing status, the endpoint or kubeconfig being
// published, spec.cloud (the credentials of pools that name none), a deletion beginning.
func clusterChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		was, okWas := e.ObjectOld.(*v1alpha1.TenantCluster)
		now, okNow := e.ObjectNew.(*v1alpha1.TenantCluster)
		if !okWas || !okNow {
			return true
		}
		for _, t := range []string{v1alpha1.ReadyCondition, v1alpha1.TenantBootstrappedCondition} {
			if meta.IsStatusConditionTrue(was.Status.Conditions, t) != meta.IsStatusConditionTrue(now.Status.Conditions, t) {
				return true
			}
		}
		return was.Status.Endpoint != now.Status.Endpoint ||
			!equality.Semantic.DeepEqual(was.Status.KubeconfigSecretRef, now.Status.KubeconfigSecretRef) ||
			!equality.Semantic.DeepEqual(was.Spec.Cloud, now.Spec.Cloud) ||
			!equality.Semantic.DeepEqual(was.DeletionTimestamp, now.DeletionTimestamp)
	}}
}
