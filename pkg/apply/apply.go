// Package apply makes a namespace of the seed match a rendered set of objects: it
// server-side applies each object as one field manager, with a controller reference to the
// owner and an inventory label, then prunes what an earlier apply created and the set no
// longer holds. The inventory is the label, so a restarted or new manager finds what an
// earlier one applied; what an Applier remembers between calls only saves requests (an
// object nobody wrote since it was applied the same is not sent again).
//
// ApplyUnowned is the same server-side apply for a cluster where the objects have no
// owner, a tenant's: no owner references, cluster-scoped objects allowed, and pruning by the
// inventory label alone. Every apply of kubeseed goes through this package.
//
// Readiness is not its business (pkg/health), and it never waits.
//
// This package is internal to kubeseed: no compatibility guarantee.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// Inventory names the objects one owner applies, so that the next Apply finds, and prunes,
// those it no longer renders.
type Inventory struct {
	// LabelKey and LabelValue are the label put on every applied object and selected when
	// pruning. The value must be unique to the owner (its UID is a good one). Pruning also
	// requires a controller reference to the owner, so an object that merely copied the
	// label is never deleted. ApplyUnowned has no owner: there an empty value selects any
	// value of the key, and the label alone decides.
	LabelKey, LabelValue string
	// PruneKinds are the kinds listed when pruning; the version picks the API version
	// listed, and kinds compare by group and kind. Every applied object's kind must be one
	// of them, or Apply refuses the set: a kind applied but never listed would leak its
	// objects once the render drops them. List here, too, the kinds a render may stop
	// producing altogether (an optional NetworkPolicy), so their last objects get pruned.
	PruneKinds []schema.GroupVersionKind
}

// Applier server-side applies sets of objects and prunes what they no longer hold.
type Applier struct {
	// Client applies and deletes; its RESTMapper tells namespaced kinds apart.
	Client client.Client
	// APIReader lists the inventory. Give it the manager's mgr.GetAPIReader(): a live list
	// makes Result.Changed exact (a stale cache can only over-report), and listing through
	// the manager's cached client would start a metadata informer for every prune kind,
	// watching the whole cluster unless the cache is scoped. Nil means Client.
	APIReader client.Reader
	// Scheme resolves the owner's kind for its owner reference. Nil means Client.Scheme().
	Scheme *runtime.Scheme
	// FieldOwner is the server-side apply field manager, e.g. "kubeseed". Required.
	FieldOwner string

	// applied remembers, for each object Apply applied, a hash of what it sent and the
	// resourceVersion the server answered (memoKey -> appliedObject): an object the
	// inventory list shows at that resourceVersion was written by nobody since, so sending
	// the same again would change nothing, and Apply skips the request. A manager that
	// restarts remembers nothing and applies everything once.
	applied sync.Map
}

// memoKey is an object applied for one owner.
type memoKey struct {
	owner types.UID
	key   objectKey
}

type appliedObject struct {
	sum             [sha256.Size]byte
	resourceVersion string
}

// sumOf hashes the object as it will be sent (encoding/json orders map keys).
func sumOf(u *unstructured.Unstructured) ([sha256.Size]byte, error) {
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(raw), nil
}

// Forget drops what Apply remembers of the objects it applied for owner, and of every
// object it applied in namespace (when not empty): call it once they are gone, so that the
// memory does not grow with every owner ever applied.
func (a *Applier) Forget(owner types.UID, namespace string) {
	a.applied.Range(func(k, _ any) bool {
		if mk := k.(memoKey); mk.owner == owner || (namespace != "" && mk.key.namespace == namespace) {
			a.applied.Delete(k)
		}
		return true
	})
}

// Result says what an Apply did. Objects are named "Kind.group namespace/name", e.g.
// "Deployment.apps project-1/acme-kube-apiserver" or "ConfigMap project-1/acme-config".
type Result struct {
	// Changed are the objects the apply created or modified: their resourceVersion moved.
	// Applying an unchanged object writes nothing (the server finds nothing to change and
	// keeps the resourceVersion), so it is not listed. In the order given.
	Changed []string
	// Pruned are the objects deleted because the set no longer holds them, sorted.
	Pruned []string
}

// Apply makes the owner's namespace match objs.
//
// Every object gets the inventory label and a controller reference to owner (which must be
// a namespaced object, or a Namespace, read from the API server: see managedNamespace), and is applied with ForceOwnership: the
// fields the manifest sets are ours, even if another manager set them; the fields it does
// not set (replicas written by an autoscaler) stay with whoever set them. Objects without a
// namespace land in the owner's; cluster-scoped objects, objects in another namespace and
// kinds missing from inv.PruneKinds are refused before anything is written. objs are not
// modified.
//
// An object controlled by another owner is refused by the API server (one controller per
// object), so Apply never adopts another tenant's object. Apply goes on with the other
// objects after a failure and returns every error, but prunes only after all of them
// applied, so a failed rollout never deletes the objects still serving. Pruning deletes
// objects of inv.PruneKinds in the owner's namespace that carry the inventory label and a
// controller reference to owner and are not in objs; an empty objs prunes them all.
//
// An object the inventory list shows at the resourceVersion its last apply by this Applier
// answered, rendered the same, is not sent again: nobody wrote it since, so the apply
// would change nothing. Any write by anyone (an edit, a status update, a deletion) moves
// the resourceVersion and it is applied again.
//
// The Result is filled as far as Apply got, also on error.
func (a *Applier) Apply(ctx context.Context, owner client.Object, inv Inventory, objs []*unstructured.Unstructured) (Result, error) {
	if err := a.check(owner, inv); err != nil {
		return Result{}, err
	}
	desired, err := a.prepare(owner, inv, objs)
	if err != nil {
		return Result{}, err
	}
	// One list per kind before applying serves twice: the resourceVersions tell which
	// objects the apply changed, and the objects not rendered any more are pruned after.
	live, err := a.list(ctx, managedNamespace(owner), inv)
	if err != nil {
		return Result{}, err
	}

	var res Result
	var errs []error
	for _, d := range desired {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		// An object missing from the list is new or lacks the inventory label, which this
		// apply adds: either way it changes, and "" never equals a returned version.
		var before string
		if m, ok := live[d.key]; ok {
			before = m.GetResourceVersion()
		}
		sum, err := sumOf(d.obj)
		if err != nil {
			errs = append(errs, fmt.Errorf("apply %s: %w", d.key, err))
			continue
		}
		mk := memoKey{owner: owner.GetUID(), key: d.key}
		if prev, ok := a.applied.Load(mk); ok && before != "" && prev.(appliedObject) == (appliedObject{sum: sum, resourceVersion: before}) {
			continue
		}
		// Apply writes the server's answer into d.obj, a copy of the caller's object.
		err = a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(d.obj), client.FieldOwner(a.FieldOwner), client.ForceOwnership)
		if err != nil {
			a.applied.Delete(mk)
			errs = append(errs, fmt.Errorf("apply %s: %w", d.key, err))
			continue
		}
		a.applied.Store(mk, appliedObject{sum: sum, resourceVersion: d.obj.GetResourceVersion()})
		if d.obj.GetResourceVersion() != before {
			res.Changed = append(res.Changed, d.key.String())
		}
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}

	keep := make(map[objectKey]bool, len(desired))
	for _, d := range desired {
		keep[d.key] = true
	}
	res.Pruned, err = a.prune(ctx, owner, live, keep)
	for key := range live {
		if !keep[key] {
			a.applied.Delete(memoKey{owner: owner.GetUID(), key: key})
		}
	}
	return res, err
}

// managedNamespace is the namespace whose objects owner controls: its own, or, when owner
// is a Namespace, that namespace (a namespace one owner has to itself, such as a
// TenantCluster's control-plane namespace: owner references cannot cross namespaces, and a
// namespaced object may have a cluster-scoped owner). Empty for any other cluster-scoped
// owner.
func managedNamespace(owner client.Object) string {
	if ns, ok := owner.(*corev1.Namespace); ok {
		return ns.Name
	}
	return owner.GetNamespace()
}

// objectKey identifies an object across API versions.
type objectKey struct {
	gk              schema.GroupKind
	namespace, name string
}

func (k objectKey) String() string {
	if k.namespace == "" {
		return k.gk.String() + " " + k.name
	}
	return k.gk.String() + " " + k.namespace + "/" + k.name
}

func keyOf(gk schema.GroupKind, obj metav1.Object) objectKey {
	return objectKey{gk: gk, namespace: obj.GetNamespace(), name: obj.GetName()}
}

type desiredObject struct {
	key objectKey
	obj *unstructured.Unstructured
}

// check refuses what is wrong whatever the objects: a missing client or field owner, an
// owner not read from a namespace, an inventory that would select the wrong objects.
func (a *Applier) check(owner client.Object, inv Inventory) error {
	switch {
	case a.Client == nil:
		return errors.New("applier has no client")
	case a.FieldOwner == "":
		return errors.New("applier has no field owner")
	case owner == nil:
		return errors.New("no owner")
	case managedNamespace(owner) == "":
		return fmt.Errorf("owner %s is neither namespaced nor a Namespace: the applier only manages objects of one namespace", owner.GetName())
	case owner.GetUID() == "":
		// Owner references and prune decisions key on the UID; only the API server sets it.
		return fmt.Errorf("owner %s/%s has no UID: pass the object read from the API server", owner.GetNamespace(), owner.GetName())
	}
	if msgs := validation.IsQualifiedName(inv.LabelKey); len(msgs) > 0 {
		return fmt.Errorf("inventory label key %q: %s", inv.LabelKey, strings.Join(msgs, "; "))
	}
	if inv.LabelValue == "" {
		// An empty value would select every object that has the key, whoever applied it.
		return fmt.Errorf("inventory label %s has an empty value", inv.LabelKey)
	}
	if msgs := validation.IsValidLabelValue(inv.LabelValue); len(msgs) > 0 {
		return fmt.Errorf("inventory label value %q: %s", inv.LabelValue, strings.Join(msgs, "; "))
	}
	for _, gvk := range inv.PruneKinds {
		if gvk.Version == "" || gvk.Kind == "" {
			return fmt.Errorf("prune kind %q needs a version and a kind", gvk.String())
		}
	}
	return nil
}

// prepare validates every object and returns copies carrying the inventory label and the
// owner reference. Nothing is written until the whole set is known to be acceptable.
func (a *Applier) prepare(owner client.Object, inv Inventory, objs []*unstructured.Unstructured) ([]desiredObject, error) {
	scheme := a.Scheme
	if scheme == nil {
		scheme = a.Client.Scheme()
	}
	prunable := map[schema.GroupKind]bool{}
	for _, gvk := range inv.PruneKinds {
		prunable[gvk.GroupKind()] = true
	}
	ns := managedNamespace(owner)
	out := make([]desiredObject, 0, len(objs))
	seen := map[objectKey]bool{}
	for i, in := range objs {
		if in == nil {
			return nil, fmt.Errorf("object %d is nil", i)
		}
		u := in.DeepCopy()
		gk := u.GroupVersionKind().GroupKind()
		if u.GetName() == "" {
			return nil, fmt.Errorf("object %d (%s) has no name", i, gk)
		}
		namespaced, err := a.Client.IsObjectNamespaced(u)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyOf(gk, u), err)
		}
		if !namespaced {
			return nil, fmt.Errorf("%s is cluster-scoped: only objects in the owner's namespace %s can be applied", keyOf(gk, u), ns)
		}
		if u.GetNamespace() == "" {
			u.SetNamespace(ns) // as kubectl -n and helm do
		}
		key := keyOf(gk, u)
		if u.GetNamespace() != ns {
			return nil, fmt.Errorf("%s is outside the owner's namespace %s", key, ns)
		}
		if !prunable[gk] {
			return nil, fmt.Errorf("%s: kind %s is not in the inventory's prune kinds, so it would never be pruned", key, gk)
		}
		if seen[key] {
			return nil, fmt.Errorf("%s appears twice", key)
		}
		seen[key] = true

		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[inv.LabelKey] = inv.LabelValue
		u.SetLabels(labels)
		if err := controllerutil.SetControllerReference(owner, u, scheme); err != nil {
			return nil, fmt.Errorf("%s: set owner reference: %w", key, err)
		}
		out = append(out, desiredObject{key: key, obj: u})
	}
	return out, nil
}

// list returns the metadata of the inventory's objects, by key. Metadata is all pruning and
// change detection need, so Secrets' data never travels.
func (a *Applier) list(ctx context.Context, namespace string, inv Inventory) (map[objectKey]*metav1.PartialObjectMetadata, error) {
	live := map[objectKey]*metav1.PartialObjectMetadata{}
	for _, gvk := range uniqueKinds(inv.PruneKinds) {
		items, err := a.listKind(ctx, gvk, client.InNamespace(namespace), client.MatchingLabels{inv.LabelKey: inv.LabelValue})
		if err != nil {
			return nil, fmt.Errorf("list %s in %s labelled %s=%s: %w", gvk.GroupKind(), namespace, inv.LabelKey, inv.LabelValue, err)
		}
		for _, m := range items {
			live[keyOf(gvk.GroupKind(), m)] = m
		}
	}
	return live, nil
}

// uniqueKinds drops the kinds whose group and kind came earlier: one list per kind finds
// its objects whatever version they were applied as.
func uniqueKinds(kinds []schema.GroupVersionKind) []schema.GroupVersionKind {
	out := make([]schema.GroupVersionKind, 0, len(kinds))
	seen := map[schema.GroupKind]bool{}
	for _, gvk := range kinds {
		if !seen[gvk.GroupKind()] {
			seen[gvk.GroupKind()] = true
			out = append(out, gvk)
		}
	}
	return out
}

// listKind lists the metadata of one kind's objects, through APIReader.
func (a *Applier) listKind(ctx context.Context, gvk schema.GroupVersionKind, opts ...client.ListOption) ([]*metav1.PartialObjectMetadata, error) {
	reader := a.APIReader
	if reader == nil {
		reader = a.Client
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := reader.List(ctx, list, opts...); err != nil {
		return nil, err
	}
	out := make([]*metav1.PartialObjectMetadata, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
		out[i].SetGroupVersionKind(gvk) // list items carry no kind of their own
	}
	return out, nil
}

// prune deletes the listed objects that are not kept and are controlled by owner.
func (a *Applier) prune(ctx context.Context, owner client.Object, live map[objectKey]*metav1.PartialObjectMetadata, keep map[objectKey]bool) ([]string, error) {
	// The label alone proves nothing: a user may have copied it, and another owner may
	// share its value. Only our own controller reference makes the object ours.
	controlled := func(m *metav1.PartialObjectMetadata) bool {
		ref := metav1.GetControllerOfNoCopy(m)
		return ref != nil && ref.UID == owner.GetUID()
	}
	return a.deleteStale(ctx, live, keep, controlled, apierrors.IsNotFound)
}

// deleteStale deletes, in key order, the live objects that keep does not hold, that are not
// already terminating and that ours accepts (nil accepts all). It goes on after a failure
// and returns the deleted objects' names and every error, except those gone says mean the
// object is gone already.
//
// Deletion propagates in the background: the object leaves the API at once and the garbage
// collector removes its dependents (a Deployment's ReplicaSets and Pods) after. Nothing
// waits on those dependents, and foreground deletion would keep a terminating object,
// which the next reconcile would see again, and could not re-create by that name if the
// render brought it back meanwhile.
func (a *Applier) deleteStale(ctx context.Context, live map[objectKey]*metav1.PartialObjectMetadata, keep map[objectKey]bool,
	ours func(*metav1.PartialObjectMetadata) bool, gone func(error) bool,
) ([]string, error) {
	var pruned []string
	var errs []error
	keys := slices.SortedFunc(maps.Keys(live), func(x, y objectKey) int { return strings.Compare(x.String(), y.String()) })
	for _, key := range keys {
		m := live[key]
		if keep[key] || m.GetDeletionTimestamp() != nil || (ours != nil && !ours(m)) {
			continue
		}
		// The UID precondition deletes exactly the object judged above, not one re-created
		// under its name since.
		uid := m.GetUID()
		err := a.Client.Delete(ctx, m, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
		if err != nil && gone(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("prune %s: %w", key, err))
			continue
		}
		pruned = append(pruned, key.String())
	}
	return pruned, errors.Join(errs...)
}
