package bootstrap

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Apply server-side applies objs to a tenant's API server (c is a client for the tenant,
// made from its admin kubeconfig) as fieldOwner, taking over the fields it sets. Fields it
// does not set stay with their owners: the bootstrapsigner's JWS keys in cluster-info, for
// one. Each object must have its apiVersion and kind set, as Objects and Token.Secret do;
// no scheme is needed. Unlike pkg/apply, there is no owner reference and no pruning: the
// objects live in another cluster than their TenantCluster, and cluster-scoped ones among
// them. Apply goes on after a failure and returns every error.
func Apply(ctx context.Context, c client.Client, fieldOwner string, objs ...client.Object) error {
	if fieldOwner == "" {
		return errors.New("apply tenant bootstrap: empty field owner")
	}
	var errs []error
	for _, obj := range objs {
		u, err := toUnstructured(obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			errs = append(errs, fmt.Errorf("apply %s %s: %w", u.GetKind(), key(u), err))
		}
	}
	return errors.Join(errs...)
}

func toUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" || gvk.Version == "" {
		return nil, fmt.Errorf("apply %T %s: apiVersion and kind are not set", obj, obj.GetName())
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	u := &unstructured.Unstructured{Object: m}
	// Server-side apply refuses creationTimestamp: null; an empty status is not ours.
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

func key(obj client.Object) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}
