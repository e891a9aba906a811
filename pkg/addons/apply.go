package addons

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/apply"
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
// objects of PruneKinds labelled LabelAddon, with any value and in any namespace, that objs
// no longer hold: an addon or object dropped from the chart leaves the tenant with the next
// apply. There are no owner references: the TenantCluster lives in another cluster. Nothing
// is pruned after a failed apply, so a half-applied set never loses what still serves. See
// apply.ApplyUnowned.
func Apply(ctx context.Context, c client.Client, fieldOwner string, objs []*unstructured.Unstructured) error {
	a := apply.Applier{Client: c, FieldOwner: fieldOwner}
	if _, err := a.ApplyUnowned(ctx, &apply.Inventory{LabelKey: LabelAddon, PruneKinds: PruneKinds}, objs); err != nil {
		return fmt.Errorf("tenant addons: %w", err)
	}
	return nil
}
