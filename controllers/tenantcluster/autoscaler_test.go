package tenantcluster

import (
	"slices"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

func autoscaledPool(name, cluster string, a *v1alpha1.AutoscalingSpec) *v1alpha1.WorkerPool {
	return &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: "p1", Name: name},
		Spec:       v1alpha1.WorkerPoolSpec{ClusterName: cluster, Autoscaling: a},
	}
}

// TestAutoscalingChanged: only what decides whether (and which pools) the autoscaler
// scales wakes the TenantCluster, not each scale of a pool.
func TestAutoscalingChanged(t *testing.T) {
	bounds := &v1alpha1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 3}
	plain, scaled := autoscaledPool("a", "acme", nil), autoscaledPool("a", "acme", bounds)
	deleting := scaled.DeepCopy()
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	resized := scaled.DeepCopy()
	resized.Spec.Replicas, resized.Status.Replicas = ptr.To[int32](3), 3
	p := autoscalingChanged()
	for _, c := range []struct {
		name string
		got  bool
		want bool
	}{
		{"create, not autoscaled", p.Create(event.CreateEvent{Object: plain}), false},
		{"create, autoscaled", p.Create(event.CreateEvent{Object: scaled}), true},
		{"delete, autoscaled", p.Delete(event.DeleteEvent{Object: scaled}), true},
		{"delete, not autoscaled", p.Delete(event.DeleteEvent{Object: plain}), false},
		{"autoscaling added", p.Update(event.UpdateEvent{ObjectOld: plain, ObjectNew: scaled}), true},
		{"autoscaling removed", p.Update(event.UpdateEvent{ObjectOld: scaled, ObjectNew: plain}), true},
		{"an autoscaled pool starts its deletion", p.Update(event.UpdateEvent{ObjectOld: scaled, ObjectNew: deleting}), true},
		{"scaled", p.Update(event.UpdateEvent{ObjectOld: scaled, ObjectNew: resized}), false},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	reqs := tenantOfWorkerPool(t.Context(), scaled)
	if len(reqs) != 1 || reqs[0].Namespace != "p1" || reqs[0].Name != "acme" {
		t.Errorf("pool maps to %v, want p1/acme", reqs)
	}
}

// TestAutoscalerRBAC: the Role reads the namespace's WorkerPools and resizes the autoscaled
// ones only; the binding's one subject is the autoscaler's ServiceAccount in the
// control-plane namespace.
func TestAutoscalerRBAC(t *testing.T) {
	tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "p1", Name: "acme"}}
	objs := AutoscalerRBAC(tc, []string{"pool-a", "pool-b"})
	role, rb := objs[0].(*rbacv1.Role), objs[1].(*rbacv1.RoleBinding)
	if role.Name != "kubeseed-acme-autoscaler" || role.Namespace != "p1" || rb.Name != role.Name || rb.Namespace != "p1" {
		t.Errorf("Role %s/%s, RoleBinding %s/%s", role.Namespace, role.Name, rb.Namespace, rb.Name)
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"kubeseed.io"}, Resources: []string{"workerpools"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"kubeseed.io"}, Resources: []string{"workerpools/scale"}, ResourceNames: []string{"pool-a", "pool-b"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if !slices.EqualFunc(role.Rules, want, func(a, b rbacv1.PolicyRule) bool {
		return slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) && slices.Equal(a.ResourceNames, b.ResourceNames) && slices.Equal(a.Verbs, b.Verbs)
	}) {
		t.Errorf("rules %+v, want %+v", role.Rules, want)
	}
	sa := rbacv1.Subject{Kind: "ServiceAccount", Name: "acme-autoscaler", Namespace: controlplane.NamespaceOf(tc)}
	if rb.RoleRef != autoscalerRoleRef("acme") || len(rb.Subjects) != 1 || rb.Subjects[0] != sa {
		t.Errorf("RoleBinding %+v → %+v, want the Role → %+v", rb.RoleRef, rb.Subjects, sa)
	}
}

// TestAbsentConditionRemoved: the autoscaler's condition goes when no pool autoscales, and
// only when a reconcile got as far as observing the components.
func TestAbsentConditionRemoved(t *testing.T) {
	tc := &v1alpha1.TenantCluster{}
	meta.SetStatusCondition(&tc.Status.Conditions, metav1.Condition{Type: v1alpha1.AutoscalerAvailableCondition, Status: "True", Reason: "Available"})
	setStatus(tc, newObserved())
	if meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.AutoscalerAvailableCondition) == nil {
		t.Error("a reconcile that did not observe the components removed the autoscaler's condition")
	}
	o := newObserved()
	o.absent[v1alpha1.AutoscalerAvailableCondition] = true
	setStatus(tc, o)
	if c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.AutoscalerAvailableCondition); c != nil {
		t.Errorf("condition %+v stays without an autoscaler", c)
	}
	// Ready never waits for it.
	if r := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition); r == nil || strings.Contains(r.Message, v1alpha1.AutoscalerAvailableCondition) {
		t.Errorf("Ready %+v", r)
	}
}

// TestAutoscalerCertificateOptional: the autoscaler's certificate, issued for every tenant,
// holds CertificatesReady back only while the autoscaler runs.
func TestAutoscalerCertificateOptional(t *testing.T) {
	cert := func(name string) *cmv1.Certificate {
		return &cmv1.Certificate{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	issued := *cert("acme-ca")
	issued.Status.Conditions = []cmv1.CertificateCondition{{Type: cmv1.CertificateConditionReady, Status: cmmeta.ConditionTrue}}
	desired := []client.Object{cert("acme-ca"), cert("acme-autoscaler-client")}
	if c := certificatesCheck([]cmv1.Certificate{issued}, desired, "acme-autoscaler-client"); !c.ok {
		t.Errorf("without an autoscaler: %+v, want ok", c)
	}
	if c := certificatesCheck([]cmv1.Certificate{issued}, desired); c.ok || !strings.Contains(c.message, "acme-autoscaler-client") {
		t.Errorf("with an autoscaler: %+v, want waiting for its certificate", c)
	}
}

// TestClearForeignRoleBinding: a RoleBinding of the autoscaler's name bound to another role
// (roleRef is immutable) is deleted so that the apply can make the right one; the right one
// is left alone.
func TestClearForeignRoleBinding(t *testing.T) {
	tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "p1", Name: "acme"}}
	for _, c := range []struct {
		name string
		ref  rbacv1.RoleRef
		kept bool
	}{
		{"kubeseed's", autoscalerRoleRef("acme"), true},
		{"bound to admin", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"}, false},
	} {
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "p1", Name: autoscalerRoleName("acme")}, RoleRef: c.ref}
		seed := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(rb).Build()
		if err := (&Reconciler{Client: seed}).clearForeignRoleBinding(t.Context(), tc); err != nil {
			t.Fatal(err)
		}
		err := seed.Get(t.Context(), client.ObjectKeyFromObject(rb), &rbacv1.RoleBinding{})
		if kept := err == nil; kept != c.kept {
			t.Errorf("%s: kept %v (%v), want %v", c.name, kept, err, c.kept)
		}
	}
}
