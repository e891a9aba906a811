package tenantcluster

import (
	"errors"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"

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
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete

// SetupWithManager registers the controller; owned objects wake it when they change.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil || r.Scheme == nil || r.Recorder == nil || r.Applier == nil {
		return errors.New("tenantcluster: Client, Scheme, Recorder and Applier are required")
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.TenantCluster{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&cmv1.Certificate{}).
		Complete(r)
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
