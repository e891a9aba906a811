package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// workerPoolWait is how often a deleting TenantCluster looks whether its WorkerPools are gone.
const workerPoolWait = 5 * time.Second

// deleteWorkerPools deletes the WorkerPools of tc and says how many are left.
func (r *Reconciler) deleteWorkerPools(ctx context.Context, tc *v1alpha1.TenantCluster) (int, error) {
	pools := &v1alpha1.WorkerPoolList{}
	if err := r.Client.List(ctx, pools, client.InNamespace(tc.Namespace)); err != nil {
		return 0, fmt.Errorf("list WorkerPools of %s: %w", tc.Name, err)
	}
	left := 0
	for i := range pools.Items {
		p := &pools.Items[i]
		if p.Spec.ClusterName != tc.Name {
			continue
		}
		left++
		if p.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
				return 0, fmt.Errorf("delete WorkerPool %s: %w", p.Name, err)
			}
		}
	}
	return left, nil
}

// reconcileDelete takes a tenant apart in the order that loses nothing the next step needs:
// a final etcd backup when backups are configured, the WorkerPools (they drain and delete their servers through this control plane, with the
// customer's credentials), the customer's load balancer, then the control-plane namespace
// with everything in it (etcd's claims, cert-manager's Secrets, which carry no owner
// reference). The finalizer goes once the namespace is gone, so a TenantCluster made again
// under the same name never meets its predecessor's namespace. The published kubeconfig is
// owned by the TenantCluster and goes with it.
func (r *Reconciler) reconcileDelete(ctx context.Context, tc *v1alpha1.TenantCluster) (ctrl.Result, error) {
	var blocked check
	defer func() { setDeletionStatus(tc, blocked) }()
	// The final backup first, while etcd holds everything and serves.
	if done, requeue, err := r.finalBackup(ctx, tc, &blocked); err != nil || !done {
		return ctrl.Result{RequeueAfter: requeue}, err
	}
	r.forgetTenant(tc.UID)
	if err := r.deleteAutoscalerRBAC(ctx, tc); err != nil {
		return ctrl.Result{}, err
	}
	pools, err := r.deleteWorkerPools(ctx, tc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if pools > 0 {
		return ctrl.Result{RequeueAfter: workerPoolWait}, nil
	}
	// The customer's load balancer first: until it is gone the tenant's Secrets keep the
	// record of what the address was for.
	done, err := r.deleteOctavia(ctx, tc, &blocked)
	if errors.Is(err, errCustomerProblem) {
		return ctrl.Result{RequeueAfter: customerProblemInterval}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if !done {
		return ctrl.Result{RequeueAfter: octaviaStepInterval}, nil
	}
	gone, err := r.deleteNamespace(ctx, tc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !gone {
		return ctrl.Result{RequeueAfter: namespaceWait}, nil
	}
	if r.Backups != nil {
		r.Backups.Forget(tc.Namespace + "/" + tc.Name)
		r.Backups.Forget(restoreKey(tc))
	}
	r.restores.forget(restoreKey(tc))
	r.Applier.Forget(tc.UID, controlplane.NamespaceOf(tc))
	if controllerutil.RemoveFinalizer(tc, v1alpha1.Finalizer) {
		if err := r.Client.Update(ctx, tc); err != nil {
			return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
		}
	}
	return ctrl.Result{}, nil
}
