package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/apply"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/tenantaccess"
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
// +kubebuilder:rbac:groups="",resources=pods,verbs=list
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=namespaces/finalizers,verbs=update
// +kubebuilder:rbac:groups=kubeseed.io,resources=workerpools,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
//
// The autoscaler's ServiceAccount in the control-plane namespace, and its Role and
// RoleBinding in the customer's. RBAC lets the manager grant only what it holds itself:
// workerpools/scale and core events, which it does not use, are for that Role.
//
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;create;update;patch;delete
// +kubebuilder:rbac:groups=kubeseed.io,resources=workerpools/scale,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// SetupWithManager registers the controller with MaxConcurrentReconciles workers; owned
// objects wake it when they change.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return r.SetupWithManagerWorkers(mgr, MaxConcurrentReconciles)
}

// SetupWithManagerWorkers registers the controller reconciling up to workers TenantClusters
// at once (the manager's --tenantcluster-workers); workers must be at least 1.
func (r *Reconciler) SetupWithManagerWorkers(mgr ctrl.Manager, workers int) error {
	if workers < 1 {
		return fmt.Errorf("tenantcluster: workers is %d, must be at least 1", workers)
	}
	if r.Client == nil || r.Scheme == nil || r.Recorder == nil || r.Applier == nil {
		return errors.New("tenantcluster: Client, Scheme, Recorder and Applier are required")
	}
	if r.Tenants == nil {
		r.Tenants = &tenantaccess.Cache{Dialer: r.TenantDialer}
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
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.TenantCluster{}, controlPlaneNamespaceIndex,
		func(obj client.Object) []string {
			return []string{controlplane.NamespaceOf(obj.(*v1alpha1.TenantCluster))}
		}); err != nil {
		return fmt.Errorf("index TenantClusters by control-plane namespace: %w", err)
	}
	// Owner references cannot cross namespaces: what lives in a control-plane namespace
	// wakes the TenantCluster the namespace is computed from (an index, so nothing in the
	// object, which only kubeseed writes anyway, is trusted for the mapping).
	inControlPlane := handler.EnqueueRequestsFromMapFunc(r.tenantOfControlPlaneObject)
	// A finished backup wakes its tenant, which records it.
	if r.Backups == nil {
		r.Backups = &backup.Runner{}
	}
	backupsDone := make(chan event.TypedGenericEvent[*v1alpha1.TenantCluster], 64)
	r.Backups.Done = func(key string) {
		ns, name, _ := strings.Cut(strings.TrimPrefix(key, restoreKeyPrefix), "/")
		backupsDone <- event.TypedGenericEvent[*v1alpha1.TenantCluster]{Object: &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}}
	}
	if err := mgr.Add(r.Backups); err != nil {
		return fmt.Errorf("add the backup runner: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		WatchesRawSource(source.Channel(backupsDone, &handler.TypedEnqueueRequestForObject[*v1alpha1.TenantCluster]{})).
		// Tenants in parallel: a tenant or cloud that answers slowly holds one worker, not
		// every other tenant's certificate rolls, etcd growth and CSR approvals.
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		For(&v1alpha1.TenantCluster{}).
		Watches(&appsv1.StatefulSet{}, inControlPlane).
		Watches(&appsv1.Deployment{}, inControlPlane).
		Watches(&corev1.Service{}, inControlPlane).
		Watches(&corev1.ConfigMap{}, inControlPlane).
		Watches(&cmv1.Certificate{}, inControlPlane).
		// etcd's volumes, and a StorageClass that comes to allow their expansion.
		Watches(&corev1.PersistentVolumeClaim{}, inControlPlane).
		Watches(&storagev1.StorageClass{}, handler.EnqueueRequestsFromMapFunc(r.everyTenant)).
		// The namespace itself: its deletion ends a TenantCluster's (or a successor's) wait.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.tenantOfNamespace)).
		// PKI Secrets in the control-plane namespace, the published kubeconfig (owned), and a
		// fixed or rotated credentials Secret, which is tried at once. By their metadata
		// only: the manager holds no Secret's data (app.CacheOptions) and reads it when needed.
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.tenantsOfSecret)).
		// A pool that starts or stops autoscaling starts or stops the tenant's autoscaler.
		Watches(&v1alpha1.WorkerPool{}, handler.EnqueueRequestsFromMapFunc(tenantOfWorkerPool), builder.WithPredicates(autoscalingChanged())).
		// Seed nodes are the members of Octavia pools and NodePort endpoints' addresses.
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.nodeTenants), builder.WithPredicates(nodeMembershipChanged())).
		Complete(r)
}

// MaxConcurrentReconciles is how many TenantClusters are reconciled at once by default (each
// one by one worker at a time); every reconcile's calls to a tenant or a cloud have short
// deadlines.
const MaxConcurrentReconciles = 4

// controlPlaneNamespaceIndex indexes TenantClusters by their control-plane namespace.
const controlPlaneNamespaceIndex = "status.controlPlaneNamespace"

// tenantOfControlPlaneObject maps an object in a control-plane namespace to its
// TenantCluster; objects elsewhere map to nothing.
func (r *Reconciler) tenantOfControlPlaneObject(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.tenantsIn(ctx, obj.GetNamespace())
}

// tenantOfNamespace maps a control-plane Namespace to its TenantCluster.
func (r *Reconciler) tenantOfNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.tenantsIn(ctx, obj.GetName())
}

func (r *Reconciler) tenantsIn(ctx context.Context, namespace string) []reconcile.Request {
	if !strings.HasPrefix(namespace, controlplane.NamespacePrefix) {
		return nil
	}
	list := &v1alpha1.TenantClusterList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{controlPlaneNamespaceIndex: namespace}); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

// everyTenant maps a change that any tenant may depend on (a StorageClass) to all of them.
func (r *Reconciler) everyTenant(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &v1alpha1.TenantClusterList{}
	if err := r.Client.List(ctx, list); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

// tenantsOfSecret maps a Secret to its TenantCluster: the one whose control plane holds it,
// the owner of a published kubeconfig, or those that name it as cloud credentials.
func (r *Reconciler) tenantsOfSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	out := r.tenantsIn(ctx, obj.GetNamespace())
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil && ref.Kind == "TenantCluster" && ref.APIVersion == v1alpha1.GroupVersion.String() {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}})
	}
	for _, req := range r.usersOfSecret(ctx, obj) {
		if !slices.Contains(out, req) {
			out = append(out, req)
		}
	}
	return out
}

// usersOfSecret maps a Secret to the TenantClusters that name it as credentials.
func (r *Reconciler) usersOfSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &v1alpha1.TenantClusterList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{credentialsSecretIndex: obj.GetName()}); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

// nodeTenants maps a node change to every TenantCluster whose endpoint is made of seed
// nodes: an Octavia endpoint's pool members, a NodePort endpoint's published address.
func (r *Reconciler) nodeTenants(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &v1alpha1.TenantClusterList{}
	if err := r.Client.List(ctx, list); err != nil {
		return nil
	}
	return requestsFor(slices.DeleteFunc(list.Items, func(tc v1alpha1.TenantCluster) bool {
		return credentialsSecretOf(&tc) == "" && tc.Spec.Endpoint.Type != v1alpha1.EndpointNodePort
	}))
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
			return nodeAddress([]corev1.Node{*was}, "") != nodeAddress([]corev1.Node{*now}, "")
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
	{Version: "v1", Kind: "ServiceAccount"},
}

// inventoryOf is the inventory of what kubeseed applies in tc's control-plane namespace.
func inventoryOf(tc *v1alpha1.TenantCluster) apply.Inventory {
	return apply.Inventory{LabelKey: InventoryLabel, LabelValue: string(tc.UID), PruneKinds: pruneKinds}
}

// publishedInventory is the inventory of what kubeseed writes in the TenantCluster's own
// namespace: the published admin kubeconfig, the autoscaler's Role and RoleBinding.
func publishedInventory(tc *v1alpha1.TenantCluster) apply.Inventory {
	return apply.Inventory{LabelKey: InventoryLabel, LabelValue: string(tc.UID), PruneKinds: []schema.GroupVersionKind{
		{Version: "v1", Kind: "Secret"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	}}
}
