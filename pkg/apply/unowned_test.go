//go:build envtest

package apply_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/pkg/apply"
)

// TestApplyUnownedAgainstAServer walks a tenant-style set (namespaced objects in two
// namespaces and a cluster-scoped one, pruned by a label key alone) through a real API
// server: no owner references, nothing pruned after an object the server refused, then the
// labelled objects of the prune kinds that the set dropped pruned, wherever they are and
// whoever made them, and nothing else.
func TestApplyUnownedAgainstAServer(t *testing.T) {
	ctx := context.Background()
	ns, other := newNamespace(t), newNamespace(t)
	// The inventory spans the cluster, which the tests share: a key of this test's own.
	key := ns + ".example.com/part"
	inv := &apply.Inventory{LabelKey: key, PruneKinds: []schema.GroupVersionKind{cmGVK, roleGVK}}
	a := newApplier()
	role := ns + "-role"
	cm := func(ns, name, data string) *unstructured.Unstructured {
		u := obj(cmGVK, ns, name, map[string]string{key: "x"})
		u.Object["data"] = map[string]any{"k": data}
		return u
	}
	exists := func(o client.Object) bool {
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(o), o)
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}

	full := []*unstructured.Unstructured{cm(ns, "a", "1"), obj(roleGVK, "", role, map[string]string{key: "y"}), cm(other, "b", "1")}
	if pruned, err := a.ApplyUnowned(ctx, inv, full); err != nil || len(pruned) > 0 {
		t.Fatalf("first apply: pruned %q, error %v", pruned, err)
	}
	for _, o := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "b"}},
	} {
		if !exists(o) {
			t.Fatalf("%s was not applied", o.GetName())
		}
		if len(o.GetOwnerReferences()) > 0 {
			t.Errorf("%s has owner references %+v", o.GetName(), o.GetOwnerReferences())
		}
		if !slices.ContainsFunc(o.GetManagedFields(), func(e metav1.ManagedFieldsEntry) bool {
			return e.Manager == fieldOwner && e.Operation == metav1.ManagedFieldsOperationApply
		}) {
			t.Errorf("%s: no server-side apply entry of %s", o.GetName(), fieldOwner)
		}
	}

	// Others' objects: unlabelled, of a kind not pruned, terminating, and a labelled one
	// someone else made, which the label alone makes ours.
	labelled := map[string]string{key: "z"}
	theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "theirs"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "secret", Labels: labelled}}
	terminating := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "terminating", Labels: labelled, Finalizers: []string{"example.com/hold"}}}
	stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "stale", Labels: labelled}}
	for _, o := range []client.Object{theirs, secret, terminating, stale} {
		if err := k8sClient.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := k8sClient.Delete(ctx, terminating); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k8sClient.Patch(ctx, terminating, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
	})

	// The server refuses one object: the others are applied, nothing is pruned.
	_, err := a.ApplyUnowned(ctx, inv, []*unstructured.Unstructured{cm(ns, "a", "2"), cm(ns, "Not_A_Name", "1")})
	if err == nil || !strings.Contains(err.Error(), "apply ConfigMap "+ns+"/Not_A_Name") {
		t.Fatalf("error %v, want one naming ConfigMap %s/Not_A_Name", err, ns)
	}
	a2 := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a"}}
	if !exists(a2) || a2.Data["k"] != "2" {
		t.Errorf("the good object was not applied after the bad one: %v", a2.Data)
	}
	if !exists(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}}) || !exists(stale.DeepCopy()) {
		t.Errorf("a failed apply pruned")
	}

	pruned, err := a.ApplyUnowned(ctx, inv, []*unstructured.Unstructured{cm(ns, "a", "2")})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	want := []string{"ClusterRole.rbac.authorization.k8s.io " + role, "ConfigMap " + other + "/b", "ConfigMap " + other + "/stale"}
	if !slices.Equal(pruned, want) {
		t.Errorf("pruned %q, want %q", pruned, want)
	}
	for _, o := range []client.Object{&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}}, stale.DeepCopy()} {
		if exists(o) {
			t.Errorf("%s was not deleted", o.GetName())
		}
	}
	for _, o := range []client.Object{theirs.DeepCopy(), secret.DeepCopy(), terminating.DeepCopy()} {
		if !exists(o) {
			t.Errorf("%s/%s, not kubeseed's to prune, was deleted", o.GetNamespace(), o.GetName())
		}
	}

	// Settled: an identical apply writes and prunes nothing.
	before := a2.ResourceVersion
	if pruned, err := a.ApplyUnowned(ctx, inv, []*unstructured.Unstructured{cm(ns, "a", "2")}); err != nil || len(pruned) > 0 {
		t.Errorf("identical apply: pruned %q, error %v", pruned, err)
	}
	if !exists(a2) || a2.ResourceVersion != before {
		t.Errorf("an identical apply wrote ConfigMap %s/a", ns)
	}
}
