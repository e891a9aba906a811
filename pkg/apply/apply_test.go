//go:build envtest

package apply_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/pkg/apply"
)

const (
	fieldOwner   = "kubeseed"
	inventoryKey = "kubeseed.io/inventory"
)

var pruneKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "ConfigMap"},
	{Version: "v1", Kind: "Service"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
}

func newApplier() *apply.Applier {
	return &apply.Applier{Client: k8sClient, FieldOwner: fieldOwner}
}

func inventoryOf(owner client.Object) apply.Inventory {
	return apply.Inventory{LabelKey: inventoryKey, LabelValue: string(owner.GetUID()), PruneKinds: pruneKinds}
}

// TestApplyLifecycle walks one owner through creation, a no-op, a change and a removal, and
// after each step compares what Apply reports with what the server shows: the
// resourceVersions of every object in the namespace, which only a write moves.
func TestApplyLifecycle(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	owner := newOwner(t, ns, "owner")
	a := newApplier()

	cmA, cmB := id("ConfigMap", ns, "a"), id("ConfigMap", ns, "b")
	svc, dep := id("Service", ns, "web"), id("Deployment.apps", ns, "web")
	set := func(dataA string, withB bool) []*unstructured.Unstructured {
		objs := []*unstructured.Unstructured{configMap(ns, "a", map[string]string{"k": dataA})}
		if withB {
			objs = append(objs, configMap(ns, "b", map[string]string{"k": "b"}))
		}
		// The Service has no namespace, as some charts render them: it lands in the owner's.
		return append(objs, service("", "web"), deployment(ns, "web", "registry.k8s.io/pause:3.10"))
	}

	steps := []struct {
		name        string
		objs        []*unstructured.Unstructured
		wantChanged []string
		wantPruned  []string
	}{
		{name: "first apply creates every object", objs: set("1", true), wantChanged: []string{cmA, cmB, svc, dep}},
		{name: "identical apply writes nothing", objs: set("1", true)},
		{name: "changed data rewrites only that object", objs: set("2", true), wantChanged: []string{cmA}},
		{name: "object left out is pruned", objs: set("2", false), wantPruned: []string{cmB}},
		{name: "identical apply after a prune writes nothing", objs: set("2", false)},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			before := snapshot(t, ns)
			res, err := a.Apply(ctx, owner, inventoryOf(owner), step.objs)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			changed, deleted := diff(before, snapshot(t, ns))
			if !slices.Equal(res.Changed, step.wantChanged) {
				t.Errorf("Result.Changed = %q, want %q", res.Changed, step.wantChanged)
			}
			if want := slices.Sorted(slices.Values(step.wantChanged)); !slices.Equal(changed, want) {
				t.Errorf("resourceVersion moved on %q, want only on %q", changed, want)
			}
			if !slices.Equal(res.Pruned, step.wantPruned) {
				t.Errorf("Result.Pruned = %q, want %q", res.Pruned, step.wantPruned)
			}
			if !slices.Equal(deleted, step.wantPruned) {
				t.Errorf("deleted %q, want %q", deleted, step.wantPruned)
			}
			for _, obj := range step.objs {
				assertManaged(t, owner, obj)
			}
		})
	}
}

// TestApplyKeepsOtherManagersFields checks the field ownership of server-side apply: a
// field our manifest leaves out belongs to whoever set it (an autoscaler's replicas), and
// a field it sets is ours even when another manager set it first (ForceOwnership).
func TestApplyKeepsOtherManagersFields(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	owner := newOwner(t, ns, "owner")
	a := newApplier()
	key := client.ObjectKey{Namespace: ns, Name: "web"}

	if _, err := a.Apply(ctx, owner, inventoryOf(owner), []*unstructured.Unstructured{deployment(ns, "web", "pause:1")}); err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	// Another manager applies only the field it owns; no force: we never claimed replicas.
	hpa := object("apps/v1", "Deployment", ns, "web", map[string]any{"spec": map[string]any{"replicas": int64(3)}})
	if err := k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(hpa), client.FieldOwner("hpa")); err != nil {
		t.Fatalf("apply replicas as hpa: %v", err)
	}
	// And another one sets a label our manifest sets too.
	other := object("apps/v1", "Deployment", ns, "web", nil)
	other.SetLabels(map[string]string{"tier": "someone-else"})
	if err := k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(other), client.FieldOwner("someone")); err != nil {
		t.Fatalf("apply label as someone: %v", err)
	}

	desired := deployment(ns, "web", "pause:2")
	desired.SetLabels(map[string]string{"tier": "control-plane"})
	res, err := a.Apply(ctx, owner, inventoryOf(owner), []*unstructured.Unstructured{desired})
	if err != nil {
		t.Fatalf("Apply over other managers' fields: %v", err)
	}
	if want := []string{id("Deployment.apps", ns, "web")}; !slices.Equal(res.Changed, want) {
		t.Errorf("Result.Changed = %q, want %q", res.Changed, want)
	}

	got := &appsv1.Deployment{}
	if err := k8sClient.Get(ctx, key, got); err != nil {
		t.Fatal(err)
	}
	if r := ptr.Deref(got.Spec.Replicas, 0); r != 3 {
		t.Errorf("replicas = %d, want the hpa's 3 kept", r)
	}
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "pause:2" {
		t.Errorf("image = %q, want our pause:2", img)
	}
	if tier := got.Labels["tier"]; tier != "control-plane" {
		t.Errorf("label tier = %q, want ours, control-plane", tier)
	}
	if owners := fieldManagers(got.ManagedFields, "f:spec", "f:replicas"); !slices.Equal(owners, []string{"hpa"}) {
		t.Errorf("spec.replicas managed by %q, want only hpa", owners)
	}
	if owners := fieldManagers(got.ManagedFields, "f:metadata", "f:labels", "f:tier"); !slices.Equal(owners, []string{fieldOwner}) {
		t.Errorf("metadata.labels.tier managed by %q, want only %s", owners, fieldOwner)
	}
}

// TestPruneSparesObjectsNotOwned puts objects that look like ours next to ours, and checks
// that pruning deletes only what carries both the label and our controller reference, in
// our namespace.
func TestPruneSparesObjectsNotOwned(t *testing.T) {
	ctx := context.Background()
	ns, elsewhere := newNamespace(t), newNamespace(t)
	owner := newOwner(t, ns, "owner")
	otherOwner := newOwner(t, ns, "other-owner")
	ourLabel := map[string]string{inventoryKey: string(owner.UID)}

	foreign := []*corev1.ConfigMap{
		// Another tenant's object that shares our label value.
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other-owners", Labels: ourLabel, OwnerReferences: []metav1.OwnerReference{controllerRef(otherOwner)}}},
		// A user's object that copied our label.
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "copied-label", Labels: ourLabel}},
		// Owned by us, but not as its controller: someone else manages it.
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "not-controller", Labels: ourLabel, OwnerReferences: []metav1.OwnerReference{func() metav1.OwnerReference {
			ref := controllerRef(owner)
			ref.Controller = ptr.To(false)
			return ref
		}()}}},
		// In another namespace, with our label and our controller reference (forged: the API
		// server checks neither).
		{ObjectMeta: metav1.ObjectMeta{Namespace: elsewhere, Name: "other-namespace", Labels: ourLabel, OwnerReferences: []metav1.OwnerReference{controllerRef(owner)}}},
	}
	for _, cm := range foreign {
		if err := k8sClient.Create(ctx, cm); err != nil {
			t.Fatalf("create %s/%s: %v", cm.Namespace, cm.Name, err)
		}
	}

	before := snapshot(t, ns, elsewhere)
	a := newApplier()
	kept, gone := configMap(ns, "kept", nil), configMap(ns, "gone", nil)
	// The first apply prunes nothing: the foreign objects are not ours. The second prunes
	// only the object it no longer holds.
	for i, want := range [][]string{nil, {id("ConfigMap", ns, "gone")}} {
		objs := []*unstructured.Unstructured{kept, gone}
		if i > 0 {
			objs = objs[:1]
		}
		res, err := a.Apply(ctx, owner, inventoryOf(owner), objs)
		if err != nil {
			t.Fatalf("Apply %d: %v", i+1, err)
		}
		if !slices.Equal(res.Pruned, want) {
			t.Errorf("Apply %d: Result.Pruned = %q, want %q", i+1, res.Pruned, want)
		}
	}
	// Every foreign object is still there, unwritten.
	changed, deleted := diff(before, snapshot(t, ns, elsewhere))
	if want := []string{id("ConfigMap", ns, "kept")}; !slices.Equal(changed, want) || len(deleted) > 0 {
		t.Errorf("server shows changed %q and deleted %q, want only %q created", changed, deleted, want)
	}
}

// TestApplyRefusesBeforeWriting feeds sets with one bad object after a good one: Apply must
// refuse the set, name the culprit, and write nothing, not even the good object.
func TestApplyRefusesBeforeWriting(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	owner := newOwner(t, ns, "owner")
	a := newApplier()

	noUID := owner.DeepCopy()
	noUID.UID = ""
	noValue := inventoryOf(owner)
	noValue.LabelValue = ""

	cases := []struct {
		name    string
		owner   client.Object
		inv     apply.Inventory
		bad     *unstructured.Unstructured
		wantErr []string
	}{
		{name: "cluster-scoped Namespace", bad: object("v1", "Namespace", "", "evil", nil), wantErr: []string{"Namespace evil", "cluster-scoped"}},
		{name: "cluster-scoped ClusterRole", bad: object("rbac.authorization.k8s.io/v1", "ClusterRole", "", "evil", nil), wantErr: []string{"ClusterRole.rbac.authorization.k8s.io evil", "cluster-scoped"}},
		{name: "object in another namespace", bad: configMap("kube-system", "evil", nil), wantErr: []string{"ConfigMap kube-system/evil", "outside the owner's namespace"}},
		{name: "kind not declared prunable", bad: object("v1", "Secret", ns, "s", nil), wantErr: []string{"Secret " + ns + "/s", "never be pruned"}},
		{name: "same object twice", bad: configMap(ns, "good", map[string]string{"k": "again"}), wantErr: []string{"ConfigMap " + ns + "/good", "twice"}},
		{name: "kind unknown to the server", bad: object("example.com/v1", "Widget", ns, "w", nil), wantErr: []string{"Widget.example.com " + ns + "/w"}},
		{name: "owner not read from the server", owner: noUID, bad: configMap(ns, "fine", nil), wantErr: []string{"no UID"}},
		{name: "inventory label without value", inv: noValue, bad: configMap(ns, "fine", nil), wantErr: []string{"empty value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, inv := tc.owner, tc.inv
			if o == nil {
				o = owner
			}
			if inv.LabelKey == "" {
				inv = inventoryOf(owner)
			}
			before := snapshot(t, ns)
			_, err := a.Apply(ctx, o, inv, []*unstructured.Unstructured{configMap(ns, "good", nil), tc.bad})
			if err == nil {
				t.Fatal("Apply succeeded, want an error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if changed, deleted := diff(before, snapshot(t, ns)); len(changed)+len(deleted) > 0 {
				t.Errorf("refused Apply wrote: changed %q, deleted %q", changed, deleted)
			}
		})
	}
}

// TestApplyNeverAdoptsAnotherOwnersObject: an object of the same name controlled by another
// owner makes the API server refuse our apply (one controller per object). The error names
// the object, the rest of the set is still applied, and nothing is pruned while any object
// failed.
func TestApplyNeverAdoptsAnotherOwnersObject(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	owner := newOwner(t, ns, "owner")
	otherOwner := newOwner(t, ns, "other-owner")
	taken := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken", OwnerReferences: []metav1.OwnerReference{controllerRef(otherOwner)}}}
	if err := k8sClient.Create(ctx, taken); err != nil {
		t.Fatal(err)
	}
	a := newApplier()
	if _, err := a.Apply(ctx, owner, inventoryOf(owner), []*unstructured.Unstructured{configMap(ns, "mine", nil), configMap(ns, "stale", nil)}); err != nil {
		t.Fatalf("first Apply: %v", err)
	}

	before := snapshot(t, ns)
	res, err := a.Apply(ctx, owner, inventoryOf(owner), []*unstructured.Unstructured{
		configMap(ns, "taken", nil), configMap(ns, "mine", map[string]string{"k": "v2"}),
	})
	if err == nil || !strings.Contains(err.Error(), "apply ConfigMap "+ns+"/taken") {
		t.Fatalf("Apply error = %v, want one naming ConfigMap %s/taken", err, ns)
	}
	mine := id("ConfigMap", ns, "mine")
	if !slices.Equal(res.Changed, []string{mine}) || len(res.Pruned) > 0 {
		t.Errorf("Result = %+v, want only %s changed and nothing pruned", res, mine)
	}
	changed, deleted := diff(before, snapshot(t, ns))
	if !slices.Equal(changed, []string{mine}) || len(deleted) > 0 {
		t.Errorf("server shows changed %q and deleted %q, want only %s changed", changed, deleted, mine)
	}
	got := &corev1.ConfigMap{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(taken), got); err != nil {
		t.Fatal(err)
	}
	if refs := got.OwnerReferences; len(refs) != 1 || refs[0].UID != otherOwner.UID {
		t.Errorf("taken's owner references = %+v, want only the other owner's", refs)
	}
}

// TestNamespaceOwnsItsObjects: a Namespace as owner manages the objects inside it (a
// TenantCluster's control-plane namespace): they land there when they name no namespace,
// are controlled by the Namespace, and are pruned when the set drops them; an object for
// another namespace is refused before anything is written.
func TestNamespaceOwnsItsObjects(t *testing.T) {
	ctx := context.Background()
	owner := &corev1.Namespace{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: newNamespace(t)}, owner); err != nil {
		t.Fatal(err)
	}
	ns := owner.Name
	a := newApplier()
	if _, err := a.Apply(ctx, owner, inventoryOf(owner), []*unstructured.Unstructured{configMap("", "kept", nil), configMap(ns, "gone", nil)}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	kept := &corev1.ConfigMap{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kept"}, kept); err != nil {
		t.Fatalf("an object naming no namespace did not land in the owner Namespace: %v", err)
	}
	if ref := metav1.GetControllerOf(kept); ref == nil || ref.Kind != "Namespace" || ref.UID != owner.UID {
		t.Errorf("controller reference %+v, want the Namespace %s", ref, ns)
	}
	res, err := a.Apply(ctx, owner, inventoryOf(owner), []*unstructured.Unstructured{configMap("", "kept", nil)})
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if want := []string{id("ConfigMap", ns, "gone")}; !slices.Equal(res.Pruned, want) || len(res.Changed) > 0 {
		t.Errorf("second Apply changed %q and pruned %q, want nothing changed and %q pruned", res.Changed, res.Pruned, want)
	}
	elsewhere := newNamespace(t)
	_, err = a.Apply(ctx, owner, inventoryOf(owner), []*unstructured.Unstructured{configMap(elsewhere, "escape", nil)})
	if err == nil || !strings.Contains(err.Error(), "outside the owner's namespace "+ns) {
		t.Errorf("an object for namespace %s: err = %v, want it refused as outside %s", elsewhere, err, ns)
	}
	// Any other cluster-scoped owner has no namespace to manage.
	role := &unstructured.Unstructured{}
	role.SetAPIVersion("rbac.authorization.k8s.io/v1")
	role.SetKind("ClusterRole")
	role.SetName("owner")
	role.SetUID("0c7f1a4e-0000-4000-8000-000000000001")
	if _, err := a.Apply(ctx, role, inventoryOf(role), nil); err == nil || !strings.Contains(err.Error(), "neither namespaced nor a Namespace") {
		t.Errorf("a ClusterRole as owner: err = %v, want it refused", err)
	}
}
