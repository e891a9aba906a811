package workerpool

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// hibernated is the pass of a pool whose TenantCluster hibernates with its control plane
// down: nothing can be drained, so a server still listed (one made as the tenant went down)
// is deleted outright, and the pool reports zero servers as what it should have.
func (r *Reconciler) hibernated(ctx context.Context, p *pass, o *observed) (ctrl.Result, error) {
	for _, m := range slices.Clone(p.members) {
		if err := r.deleteServer(ctx, p, m); err != nil {
			c, requeue, err := cloudCheck(err, "delete server "+m.Name+" of a hibernating tenant", r.CustomerProblemInterval)
			o.servers, o.replicas = c, int32(len(p.members))
			return ctrl.Result{RequeueAfter: requeue}, err
		}
	}
	msg := fmt.Sprintf("TenantCluster %s hibernates: the pool has no server until it wakes (spec.replicas %d is kept)", p.tc.Name, ptr.Deref(p.wp.Spec.Replicas, 1))
	o.replicas, o.nodesCounted, o.ready = 0, true, 0
	o.servers = check{ok: true, reason: v1alpha1.HibernatedReason, message: msg}
	o.nodes = check{ok: true, reason: v1alpha1.HibernatedReason, message: msg}
	// The TenantCluster's watch wakes the pool; nothing here changes by itself.
	return ctrl.Result{}, nil
}
