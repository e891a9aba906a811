//go:build envtest

package tenantcluster_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestAutoscalerFollowsWorkerPools: a tenant whose pools do not autoscale has no autoscaler
// and no autoscaler RBAC; a pool given spec.autoscaling brings both (the Role may resize that
// pool only); taking it away removes them, and so does deleting the TenantCluster. The
// WorkerPool controller does not run here: only the pools' specs matter.
func TestAutoscalerFollowsWorkerPools(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tc := small(ns, "scaler")
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	pool := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pool-a"},
		Spec: v1alpha1.WorkerPoolSpec{
			ClusterName: tc.Name, Flavor: "m1.small", Image: "ubuntu-22.04", NetworkID: "5d0e8a4c-7f3b-4c2a-9e1d-6b5a4c3d2e1f",
			CredentialsSecretRef: corev1.LocalObjectReference{Name: "customer-cloud"},
		},
	}
	// Another cluster's autoscaled pool in the same namespace changes nothing for this one.
	other := pool.DeepCopy()
	other.Name, other.Spec.ClusterName = "other", "another-cluster"
	other.Spec.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 2}
	for _, p := range []*v1alpha1.WorkerPool{pool, other} {
		if err := k8sClient.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, tc, "kubeconfig published", func(tc *v1alpha1.TenantCluster) bool { return tc.Status.KubeconfigSecretRef != nil })
	cpns := controlplane.NamespaceOf(tc)
	name := controlplane.Autoscaler.ObjectName(tc.Name)
	roleKey := types.NamespacedName{Namespace: ns, Name: "kubeseed-" + name}
	objects := map[string]struct {
		key client.ObjectKey
		obj client.Object
	}{
		"Deployment":     {types.NamespacedName{Namespace: cpns, Name: name}, &appsv1.Deployment{}},
		"ServiceAccount": {types.NamespacedName{Namespace: cpns, Name: name}, &corev1.ServiceAccount{}},
		"ConfigMap":      {types.NamespacedName{Namespace: cpns, Name: name + "-kubeconfig"}, &corev1.ConfigMap{}},
		"NetworkPolicy":  {types.NamespacedName{Namespace: cpns, Name: name}, &networkingv1.NetworkPolicy{}},
		"Role":           {roleKey, &rbacv1.Role{}},
		"RoleBinding":    {roleKey, &rbacv1.RoleBinding{}},
	}
	// present says which of the autoscaler's objects exist.
	present := func() map[string]bool {
		out := map[string]bool{}
		for kind, o := range objects {
			err := k8sClient.Get(ctx, o.key, o.obj)
			if err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
			out[kind] = err == nil
		}
		return out
	}
	none := func(p map[string]bool) bool { return !slices.Contains(slices.Collect(maps.Values(p)), true) }
	all := func(p map[string]bool) bool { return !slices.Contains(slices.Collect(maps.Values(p)), false) }
	// Another reconcile has surely run after the publish: none appears.
	time.Sleep(2 * time.Second)
	if p := present(); !none(p) {
		t.Fatalf("no pool of the tenant autoscales, yet %v exist", p)
	}
	if c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.AutoscalerAvailableCondition); c != nil {
		t.Errorf("condition %s without an autoscaler: %+v", c.Type, c)
	}

	setAutoscaling(t, pool, &v1alpha1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 3})
	eventually(t, "the autoscaler and its RBAC", time.Minute, func(context.Context) bool { return all(present()) })
	d := objects["Deployment"].obj.(*appsv1.Deployment)
	spec := d.Spec.Template.Spec
	if spec.ServiceAccountName != name || !ptr.Deref(spec.AutomountServiceAccountToken, false) {
		t.Errorf("autoscaler pod: serviceAccountName %q, automount %v; want its own account and token", spec.ServiceAccountName, spec.AutomountServiceAccountToken)
	}
	// envtest runs no apiserver pod: the autoscaler waits for it, as the controllers do.
	if r := ptr.Deref(d.Spec.Replicas, -1); r != 0 {
		t.Errorf("autoscaler replicas %d before the apiserver answered, want 0", r)
	}
	if sa := objects["ServiceAccount"].obj.(*corev1.ServiceAccount); ptr.Deref(sa.AutomountServiceAccountToken, true) {
		t.Error("the ServiceAccount lets any pod mount its token; only the autoscaler's asks for it")
	}
	role := objects["Role"].obj.(*rbacv1.Role)
	var scale *rbacv1.PolicyRule
	for i := range role.Rules {
		if slices.Contains(role.Rules[i].Resources, "workerpools/scale") {
			scale = &role.Rules[i]
		}
	}
	if scale == nil || !slices.Equal(scale.ResourceNames, []string{pool.Name}) {
		t.Errorf("Role rules %+v: want workerpools/scale for %s only", role.Rules, pool.Name)
	}
	rb := objects["RoleBinding"].obj.(*rbacv1.RoleBinding)
	if want := (rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: cpns}); len(rb.Subjects) != 1 || rb.Subjects[0] != want {
		t.Errorf("RoleBinding subjects %+v, want %+v", rb.Subjects, want)
	}
	waitFor(t, tc, "the autoscaler's condition", func(tc *v1alpha1.TenantCluster) bool {
		c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.AutoscalerAvailableCondition)
		return c != nil && c.Reason == v1alpha1.WaitingForDependencyReason
	})

	setAutoscaling(t, pool, nil)
	eventually(t, "the autoscaler and its RBAC gone", time.Minute, func(context.Context) bool { return none(present()) })
	waitFor(t, tc, "the autoscaler's condition gone", func(tc *v1alpha1.TenantCluster) bool {
		return meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.AutoscalerAvailableCondition) == nil
	})

	// Deleting the tenant takes the autoscaler's rights away first.
	setAutoscaling(t, pool, &v1alpha1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 3})
	eventually(t, "the autoscaler's Role again", time.Minute, func(context.Context) bool { return present()["Role"] })
	if err := k8sClient.Delete(ctx, tc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the autoscaler's Role and RoleBinding deleted with the tenant", time.Minute, func(context.Context) bool {
		p := present()
		return !p["Role"] && !p["RoleBinding"]
	})
}

// setAutoscaling sets (or, with nil, removes) a pool's spec.autoscaling.
func setAutoscaling(t *testing.T, p *v1alpha1.WorkerPool, a *v1alpha1.AutoscalingSpec) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
			return false, err
		}
		p.Spec.Autoscaling = a
		err := k8sClient.Update(ctx, p)
		return err == nil, client.IgnoreNotFound(ignoreConflict(err))
	})
	if err != nil {
		t.Fatalf("set spec.autoscaling of %s: %v", p.Name, err)
	}
}

func ignoreConflict(err error) error {
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}
