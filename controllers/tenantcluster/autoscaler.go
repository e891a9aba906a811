package tenantcluster

import (
	"context"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// The autoscaler (docs/autoscaling.md) runs while at least one WorkerPool of the
// TenantCluster (spec.clusterName, same namespace), not being deleted, has spec.autoscaling.
// The chart renders its Deployment, ServiceAccount, kubeconfig and NetworkPolicy in the
// control-plane namespace; its seed RBAC, a Role and RoleBinding, lives in the customer's
// namespace beside the WorkerPools and is applied with the published kubeconfig (owned by
// the TenantCluster, pruned when no pool autoscales).

// reconcileAutoscaler decides whether the autoscaler runs, and which pools it may scale.
func (r *Reconciler) reconcileAutoscaler(ctx context.Context, s *scope) (bool, error) {
	pools, err := r.autoscaledPools(ctx, s.tc)
	if err != nil {
		return true, err
	}
	s.autoscaledPools = pools
	return false, nil
}

// autoscaledPools names the WorkerPools of tc the autoscaler may resize, sorted.
func (r *Reconciler) autoscaledPools(ctx context.Context, tc *v1alpha1.TenantCluster) ([]string, error) {
	list := &v1alpha1.WorkerPoolList{}
	if err := r.Client.List(ctx, list, client.InNamespace(tc.Namespace)); err != nil {
		return nil, fmt.Errorf("list WorkerPools of %s: %w", tc.Name, err)
	}
	var out []string
	for i := range list.Items {
		if p := &list.Items[i]; autoscales(p) && p.Spec.ClusterName == tc.Name {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// autoscales: the pool asks for the autoscaler. A pool being deleted drains away: nothing to
// scale.
func autoscales(p *v1alpha1.WorkerPool) bool {
	return p.Spec.Autoscaling != nil && p.DeletionTimestamp.IsZero()
}

// autoscalerRoleName is the Role and RoleBinding in the customer's namespace; "kubeseed-" so
// it cannot be taken for one of the customer's.
func autoscalerRoleName(cluster string) string {
	return "kubeseed-" + controlplane.Autoscaler.ObjectName(cluster)
}

// AutoscalerRBAC lets the autoscaler's ServiceAccount (in the control-plane namespace,
// where no customer can get its token) read the customer's WorkerPools and resize only the
// autoscaled ones of this cluster, through the scale subresource, and tell why in events.
// Both lists are atomic for server-side apply, so every apply restores exactly this.
// Exported for the chart's test that the manager's ClusterRole may grant it.
func AutoscalerRBAC(tc *v1alpha1.TenantCluster, pools []string) []client.Object {
	name, group := autoscalerRoleName(tc.Name), v1alpha1.GroupVersion.Group
	meta := metav1.ObjectMeta{Name: name, Namespace: tc.Namespace, Labels: pki.Labels(tc.Name)}
	return []client.Object{
		&rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
			ObjectMeta: meta,
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{group}, Resources: []string{"workerpools"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{group}, Resources: []string{"workerpools/scale"}, ResourceNames: slices.Clone(pools), Verbs: []string{"get", "update", "patch"}},
				{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
			},
		},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
			ObjectMeta: *meta.DeepCopy(),
			RoleRef:    autoscalerRoleRef(tc.Name),
			Subjects: []rbacv1.Subject{{
				Kind: rbacv1.ServiceAccountKind, Name: controlplane.AutoscalerServiceAccountName(tc.Name), Namespace: controlplane.NamespaceOf(tc),
			}},
		},
	}
}

func autoscalerRoleRef(cluster string) rbacv1.RoleRef {
	return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: autoscalerRoleName(cluster)}
}

// clearForeignRoleBinding deletes a RoleBinding of the autoscaler's name that refers to
// another role (made by someone else: roleRef is immutable, so the apply would fail for ever).
// It reads live: the manager keeps no cache of the seed's RoleBindings.
func (r *Reconciler) clearForeignRoleBinding(ctx context.Context, tc *v1alpha1.TenantCluster) error {
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	rb := &rbacv1.RoleBinding{}
	err := reader.Get(ctx, client.ObjectKey{Namespace: tc.Namespace, Name: autoscalerRoleName(tc.Name)}, rb)
	if apierrors.IsNotFound(err) || (err == nil && rb.RoleRef == autoscalerRoleRef(tc.Name)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get RoleBinding %s: %w", autoscalerRoleName(tc.Name), err)
	}
	if err := r.Client.Delete(ctx, rb, client.Preconditions{UID: &rb.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete RoleBinding %s bound to %s %s: %w", rb.Name, rb.RoleRef.Kind, rb.RoleRef.Name, err)
	}
	return nil
}

// deleteAutoscalerRBAC takes the autoscaler's rights away when its TenantCluster is deleted:
// its pools go first, and nothing may resize them meanwhile.
func (r *Reconciler) deleteAutoscalerRBAC(ctx context.Context, tc *v1alpha1.TenantCluster) error {
	meta := metav1.ObjectMeta{Namespace: tc.Namespace, Name: autoscalerRoleName(tc.Name)}
	for _, obj := range []client.Object{&rbacv1.RoleBinding{ObjectMeta: meta}, &rbacv1.Role{ObjectMeta: meta}} {
		if err := r.Client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete the autoscaler's %T: %w", obj, err)
		}
	}
	return nil
}

// tenantOfWorkerPool maps a WorkerPool to its TenantCluster: same namespace, its
// spec.clusterName (immutable).
func tenantOfWorkerPool(_ context.Context, obj client.Object) []reconcile.Request {
	p, ok := obj.(*v1alpha1.WorkerPool)
	if !ok || p.Spec.ClusterName == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.ClusterName}}}
}

// autoscalingChanged passes the WorkerPool events that can change whether, or which pools,
// the autoscaler scales, and a pool's last server going (hibernate.go); a pool's replicas
// and status changing otherwise (every scale) do not.
func autoscalingChanged() predicate.Predicate {
	pool := func(o client.Object) *v1alpha1.WorkerPool {
		p, _ := o.(*v1alpha1.WorkerPool)
		if p == nil {
			return &v1alpha1.WorkerPool{}
		}
		return p
	}
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return autoscales(pool(e.Object)) },
		DeleteFunc: func(e event.DeleteEvent) bool { return pool(e.Object).Spec.Autoscaling != nil },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return autoscales(pool(e.ObjectOld)) != autoscales(pool(e.ObjectNew)) || poolEmptied(pool(e.ObjectOld), pool(e.ObjectNew))
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}
