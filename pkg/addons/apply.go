package addons

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/render"
)

// releaseName is the Helm release name the chart is rendered as; no template uses it.
const releaseName = "tenant-addons"

// Render renders the tenant-addons chart with v. Every object must carry LabelAddon, or a
// later Apply could never prune it.
func Render(v Values) ([]*unstructured.Unstructured, error) {
	objs, err := render.Render(charts.TenantAddons, releaseName, Namespace, v)
	if err != nil {
		return nil, fmt.Errorf("render tenant addons: %w", err)
	}
	for _, o := range objs {
		if o.GetLabels()[LabelAddon] == "" {
			return nil, fmt.Errorf("render tenant addons: %s %s has no %s label", o.GetKind(), o.GetName(), LabelAddon)
		}
		if !prunable(o.GroupVersionKind()) {
			return nil, fmt.Errorf("render tenant addons: kind %s of %s is not in PruneKinds", o.GroupVersionKind(), o.GetName())
		}
	}
	return objs, nil
}

// PruneKinds are the kinds the chart may render; Apply looks for stale objects among them.
var PruneKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "ServiceAccount"},
	{Version: "v1", Kind: "ConfigMap"},
	{Version: "v1", Kind: "Secret"},
	{Version: "v1", Kind: "Service"},
	{Group: "apps", Version: "v1", Kind: "DaemonSet"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
}

func prunable(gvk schema.GroupVersionKind) bool {
	for _, k := range PruneKinds {
		if k == gvk {
			return true
		}
	}
	return false
}

// Apply server-side applies objs (a Render) to the tenant as fieldOwner, then deletes the
// objects labelled LabelAddon that objs no longer hold: an addon or object dropped from the
// chart leaves the tenant with the next apply. There are no owner references: the
// TenantCluster lives in another cluster. Nothing is pruned after a failed apply, so a
// half-applied set never loses what still serves.
func Apply(ctx context.Context, c client.Client, fieldOwner string, objs []*unstructured.Unstructured) error {
	toApply := make([]client.Object, 0, len(objs))
	keep := map[string]bool{}
	for _, o := range objs {
		toApply = append(toApply, o)
		keep[objectKey(o.GroupVersionKind(), o.GetNamespace(), o.GetName())] = true
	}
	if err := bootstrap.Apply(ctx, c, fieldOwner, toApply...); err != nil {
		return fmt.Errorf("apply tenant addons: %w", err)
	}
	var errs []error
	for _, gvk := range PruneKinds {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list, client.HasLabels{LabelAddon}); err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", gvk.Kind, err))
			continue
		}
		for i := range list.Items {
			item := &list.Items[i]
			if keep[objectKey(gvk, item.Namespace, item.Name)] || !item.DeletionTimestamp.IsZero() {
				continue
			}
			item.SetGroupVersionKind(gvk)
			if err := c.Delete(ctx, item, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
				errs = append(errs, fmt.Errorf("prune %s %s/%s: %w", gvk.Kind, item.Namespace, item.Name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prune tenant addons: %w", err)
	}
	return nil
}

func objectKey(gvk schema.GroupVersionKind, ns, name string) string {
	return gvk.GroupKind().String() + "/" + ns + "/" + name
}
