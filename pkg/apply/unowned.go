package apply

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ApplyUnowned server-side applies objs as a.FieldOwner (ForceOwnership, as Apply) to a
// cluster where they have no owner: a tenant's API server, whose objects belong to a
// TenantCluster of the seed, and owner references cannot cross clusters. So there is no
// owner reference, no namespace defaulting, and cluster-scoped objects are allowed; a
// namespaced object must name its namespace. a.Scheme is not used.
//
// With a nil inv nothing is labelled, listed or pruned. With an inventory, every object's
// kind must be among inv.PruneKinds, and each object must carry inv.LabelKey: stamped with
// inv.LabelValue when that is set, or, when it is empty, already set by the caller (the
// value then names a part of the set, e.g. kubeseed.io/addon=coredns, and the key alone is
// the inventory). After every object applied, the objects of inv.PruneKinds that carry the
// label (key=value, or just the key), in any namespace, and are not in objs are deleted:
// the label is the whole proof of ownership, so inv.LabelKey must be one nobody else sets.
// Nothing is pruned after a failed apply, so a half-applied set never loses what still
// serves.
//
// Refusals (nil, unnamed or kindless objects, duplicates, kinds or labels that could not be
// pruned) come before anything is written. Otherwise ApplyUnowned goes on after a failure:
// every apply, list and delete is tried, and every error is returned. It returns the pruned
// objects' names, sorted, also on error. objs are not modified.
func (a *Applier) ApplyUnowned(ctx context.Context, inv *Inventory, objs []*unstructured.Unstructured) ([]string, error) {
	sel, err := a.checkUnowned(inv)
	if err != nil {
		return nil, err
	}
	desired, err := prepareUnowned(inv, objs)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, d := range desired {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if err := a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(d.obj), client.FieldOwner(a.FieldOwner), client.ForceOwnership); err != nil {
			errs = append(errs, fmt.Errorf("apply %s: %w", d.key, err))
		}
	}
	if len(errs) > 0 || inv == nil {
		return nil, errors.Join(errs...)
	}

	keep := make(map[objectKey]bool, len(desired))
	for _, d := range desired {
		keep[d.key] = true
	}
	// Listing after the apply, a kind that fails to list loses only its own prune.
	live := map[objectKey]*metav1.PartialObjectMetadata{}
	for _, gvk := range uniqueKinds(inv.PruneKinds) {
		items, err := a.listKind(ctx, gvk, client.MatchingLabelsSelector{Selector: sel})
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s labelled %s: %w", gvk.GroupKind(), sel, err))
			continue
		}
		for _, m := range items {
			live[keyOf(gvk.GroupKind(), m)] = m
		}
	}
	// A conflict is the UID precondition failing: the object judged stale is gone, and the
	// one re-created under its name is judged by the next apply.
	gone := func(err error) bool { return apierrors.IsNotFound(err) || apierrors.IsConflict(err) }
	pruned, err := a.deleteStale(ctx, live, keep, nil, gone)
	return pruned, errors.Join(append(errs, err)...)
}

// checkUnowned refuses a missing client or field owner and an inventory that would select
// the wrong objects; it returns the inventory's selector (nil without one).
func (a *Applier) checkUnowned(inv *Inventory) (labels.Selector, error) {
	switch {
	case a.Client == nil:
		return nil, errors.New("applier has no client")
	case a.FieldOwner == "":
		return nil, errors.New("applier has no field owner")
	case inv == nil:
		return nil, nil
	}
	for _, gvk := range inv.PruneKinds {
		if gvk.Version == "" || gvk.Kind == "" {
			return nil, fmt.Errorf("prune kind %q needs a version and a kind", gvk.String())
		}
	}
	op, values := selection.Equals, []string{inv.LabelValue}
	if inv.LabelValue == "" {
		op, values = selection.Exists, nil
	}
	// NewRequirement validates the key and the value as the API server would.
	req, err := labels.NewRequirement(inv.LabelKey, op, values)
	if err != nil {
		return nil, fmt.Errorf("inventory label: %w", err)
	}
	return labels.NewSelector().Add(*req), nil
}

// prepareUnowned validates every object and returns copies, labelled when inv has a value.
func prepareUnowned(inv *Inventory, objs []*unstructured.Unstructured) ([]desiredObject, error) {
	prunable := map[schema.GroupKind]bool{}
	if inv != nil {
		for _, gvk := range inv.PruneKinds {
			prunable[gvk.GroupKind()] = true
		}
	}
	out := make([]desiredObject, 0, len(objs))
	seen := map[objectKey]bool{}
	for i, in := range objs {
		if in == nil {
			return nil, fmt.Errorf("object %d is nil", i)
		}
		u := in.DeepCopy()
		gvk := u.GroupVersionKind()
		key := keyOf(gvk.GroupKind(), u)
		switch {
		case gvk.Version == "" || gvk.Kind == "":
			return nil, fmt.Errorf("object %d (%s) has no apiVersion or kind", i, u.GetName())
		case u.GetName() == "":
			return nil, fmt.Errorf("object %d (%s) has no name", i, gvk.GroupKind())
		case seen[key]:
			return nil, fmt.Errorf("%s appears twice", key)
		case inv != nil && !prunable[gvk.GroupKind()]:
			return nil, fmt.Errorf("%s: kind %s is not in the inventory's prune kinds, so it would never be pruned", key, gvk.GroupKind())
		}
		seen[key] = true
		if inv != nil {
			l := u.GetLabels()
			if inv.LabelValue != "" {
				if l == nil {
					l = map[string]string{}
				}
				l[inv.LabelKey] = inv.LabelValue
				u.SetLabels(l)
			} else if _, ok := l[inv.LabelKey]; !ok {
				return nil, fmt.Errorf("%s has no label %s, so it would never be pruned", key, inv.LabelKey)
			}
		}
		out = append(out, desiredObject{key: key, obj: u})
	}
	return out, nil
}

// ToUnstructured converts typed objects for ApplyUnowned or Apply without a scheme: each
// must have its apiVersion and kind set. The copies lose metadata.creationTimestamp, which
// a typed object marshals as null and server-side apply refuses, and status, which is not
// the applier's to set. objs are not modified.
func ToUnstructured(objs ...client.Object) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	var errs []error
	for i, obj := range objs {
		if obj == nil {
			errs = append(errs, fmt.Errorf("object %d is nil", i))
			continue
		}
		gvk := obj.GetObjectKind().GroupVersionKind()
		if gvk.Kind == "" || gvk.Version == "" {
			errs = append(errs, fmt.Errorf("%T %s: apiVersion and kind are not set", obj, obj.GetName()))
			continue
		}
		// The converter hands back an Unstructured's own map: convert a copy.
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj.DeepCopyObject())
		if err != nil {
			errs = append(errs, fmt.Errorf("convert %s %s: %w", gvk.Kind, obj.GetName(), err))
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "status")
		out = append(out, u)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
