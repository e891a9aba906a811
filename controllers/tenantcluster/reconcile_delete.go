package tenantcluster

import (
	"context"
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
