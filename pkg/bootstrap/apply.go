package bootstrap

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/pkg/apply"
)

// Apply server-side applies objs to a tenant's API server (c is a client for the tenant,
// made from its admin kubeconfig) as fieldOwner, through apply.ApplyUnowned: no owner
// reference (the objects live in another cluster than their TenantCluster, cluster-scoped
// ones among them) and no pruning. Fields it does not set stay with their owners: the
// bootstrapsigner's JWS keys in cluster-info, for one. Each object must have its apiVersion
// and kind set, as Objects and Token.Secret do; no scheme is needed. Apply goes on after a
// failure and returns every error.
func Apply(ctx context.Context, c client.Client, fieldOwner string, objs ...client.Object) error {
	us, err := apply.ToUnstructured(objs...)
	if err != nil {
		return err
	}
	a := apply.Applier{Client: c, FieldOwner: fieldOwner}
	_, err = a.ApplyUnowned(ctx, nil, us)
	return err
}
