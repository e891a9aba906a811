package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/pki"
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

// reconcileDelete removes what garbage collection cannot: cert-manager writes its Secrets
// without owner references, so they are found by the tenant's labels and deleted here.
// Everything else carries an owner reference to the TenantCluster and goes with it,
// the etcd claims included (the StatefulSet deletes them: persistentVolumeClaimRetentionPolicy).
// Only objects labelled with this tenant's name and part-of kubeseed are touched: another
// tenant in the same namespace keeps everything.
//
// The Certificates go first, and must be gone before the Secrets are deleted: a Certificate
// that still exists would have cert-manager issue its Secret again, which would then outlive
// everything.
func (r *Reconciler) reconcileDelete(ctx context.Context, tc *v1alpha1.TenantCluster) (ctrl.Result, error) {
	tc.Status.Phase = v1alpha1.TenantClusterDeleting
	r.forgetTenant(tc.UID)
	// Workers first: their pools drain and delete the servers through this control plane
	// and with the customer's credentials, so both stay until the pools are gone.
	pools, err := r.deleteWorkerPools(ctx, tc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if pools > 0 {
		tc.Status.Phase = v1alpha1.TenantClusterDeleting
		return ctrl.Result{RequeueAfter: workerPoolWait}, nil
	}
	// The customer's load balancer first: until it is gone the tenant's Secrets keep the
	// record of what the address was for.
	done, err := r.deleteOctavia(ctx, tc)
	if errors.Is(err, errCustomerProblem) {
		return ctrl.Result{RequeueAfter: customerProblemInterval}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if !done {
		return ctrl.Result{RequeueAfter: octaviaStepInterval}, nil
	}
	mine := []client.DeleteAllOfOption{client.InNamespace(tc.Namespace), client.MatchingLabels(pki.Labels(tc.Name))}
	for _, obj := range []client.Object{&cmv1.Certificate{}, &cmv1.Issuer{}} {
		if err := r.Client.DeleteAllOf(ctx, obj, mine...); err != nil {
			return ctrl.Result{}, fmt.Errorf("delete the PKI of %s: %w", tc.Name, err)
		}
	}
	certs := &cmv1.CertificateList{}
	if err := r.Client.List(ctx, certs, client.InNamespace(tc.Namespace), client.MatchingLabels(pki.Labels(tc.Name))); err != nil {
		return ctrl.Result{}, fmt.Errorf("list certificates of %s: %w", tc.Name, err)
	}
	if len(certs.Items) > 0 {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if err := r.Client.DeleteAllOf(ctx, &corev1.Secret{}, mine...); err != nil {
		return ctrl.Result{}, fmt.Errorf("delete the PKI Secrets of %s: %w", tc.Name, err)
	}
	if controllerutil.RemoveFinalizer(tc, v1alpha1.Finalizer) {
		if err := r.Client.Update(ctx, tc); err != nil {
			return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
		}
	}
	return ctrl.Result{}, nil
}
