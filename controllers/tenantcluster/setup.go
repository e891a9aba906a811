package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/apply"
)

// The manager's permissions, least privilege; charts/kubeseed's ClusterRole is generated
// from these markers.
//
// +kubebuilder:rbac:groups=kubeseed.io,resources=tenantclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kubeseed.io,resources=tenantclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeseed.io,resources=tenantclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups=cert-manager.io,resources=issuers;certificates,verbs=get;list;watch;create;update;patch;delete;deletecollection
// +kubebuilder:rbac:groups="",resources=secrets;services,verbs=get;list;watch;create;update;patch;delete;deletecollection
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get
// +kubebuilder:rbac:groups=kubeseed.io,resources=workerpools,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete

// SetupWithManager registers the controller; owned objects wake it when they change.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil || r.Scheme == nil || r.Recorder == nil || r.Applier == nil {
		return errors.New("tenantcluster: Client, Scheme, Recorder and Applier are required")
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.TenantCluster{}, credentialsSecretIndex,
		func(obj client.Object) []string {
			if name := credentialsSecretOf(obj.(*v1alpha1.TenantCluster)); name != "" {
				return []string{name}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("index TenantClusters by credentials Secret: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.TenantCluster{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&cmv1.Certificate{}).
		// A fixed or rotated credentials Secret is tried at once.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.usersOfSecret)).
		// Seed nodes are the members of Octavia pools.
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.octaviaTenants), builder.WithPredicates(nodeMembershipChanged())).
		Complete(r)
}

// usersOfSecret maps a Secret to the TenantClusters that name it as credentials.
func (r *Reconciler) usersOfSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &v1alpha1.TenantClusterList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{credentialsSecretIndex: obj.GetName()}); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

// octaviaTenants maps a node change to every TenantCluster with an Octavia endpoint.
func (r *Reconciler) octaviaTenants(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &v1alpha1.TenantClusterList{}
	if err := r.Client.List(ctx, list); err != nil {
		return nil
	}
	return requestsFor(slices.DeleteFunc(list.Items, func(tc v1alpha1.TenantCluster) bool { return credentialsSecretOf(&tc) == "" }))
}

func requestsFor(tcs []v1alpha1.TenantCluster) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(tcs))
	for _, tc := range tcs {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&tc)})
	}
	return out
}

// nodeMembershipChanged passes node events that can change a pool's members: a node
// added or removed, its readiness or its InternalIP changed. Heartbeats do not.
func nodeMembershipChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			was, now := e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node)
			return nodeAddress([]corev1.Node{*was}) != nodeAddress([]corev1.Node{*now})
		},
	}
}

// InventoryLabel marks every object kubeseed applies for a TenantCluster, with its UID.
const InventoryLabel = "kubeseed.io/inventory"

// pruneKinds are every kind a TenantCluster's apply produces.
var pruneKinds = []schema.GroupVersionKind{
	{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"},
	{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
	{Version: "v1", Kind: "Secret"},
	{Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "ConfigMap"},
	{Group: "apps", Version: "v1", Kind: "StatefulSet"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
}

func inventoryOf(tc *v1alpha1.TenantCluster) apply.Inventory {
	return apply.Inventory{LabelKey: InventoryLabel, LabelValue: string(tc.UID), PruneKinds: pruneKinds}
}
