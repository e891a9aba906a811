package tenantcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// providedCARetry looks again at a CA Secret the customer has yet to create or fix: no
// watch covers Secrets of the customer's namespace.
const providedCARetry = 30 * time.Second

// reconcileProvidedCAs copies each CA the tenant brings (spec.certificateAuthorities) from
// the customer's Secret into the control-plane namespace, once, under the name the CA
// Issuer signs from. The customer's Secret is untrusted: it is checked (pki.CheckProvidedCA)
// and only its certificate and key are copied. The copy is created, never updated, like the
// encryption key: a changed CA would leave every joined worker and kubeconfig trusting
// the old one. A missing or unusable CA stops the reconcile with CertificatesReady
// CertificateAuthorityInvalid naming the Secret, the field and the key.
func (r *Reconciler) reconcileProvidedCAs(ctx context.Context, s *scope) (bool, error) {
	tc := s.tc
	now := time.Now()
	invalid := func(msg string) (bool, error) {
		s.o.checks[v1alpha1.CertificatesReadyCondition] = check{reason: v1alpha1.CertificateAuthorityInvalidReason, message: msg}
		s.requeueAfter(providedCARetry)
		return true, nil
	}
	for _, p := range pki.ProvidedCAs(tc) {
		name := p.Secret.Name(tc.Name)
		copied := &corev1.Secret{}
		// Secrets are read from the API (app.CacheOptions): a copy made a moment ago is seen.
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.namespace(), Name: name}, copied)
		switch {
		case err == nil:
			if err := pki.CheckProvidedCA(copied, now); err != nil {
				return invalid(fmt.Sprintf("the CA copied from Secret %s (%s): %v", p.Source, p.Field, err))
			}
			continue
		case !apierrors.IsNotFound(err):
			return true, fmt.Errorf("read Secret %s: %w", name, err)
		}
		src := &corev1.Secret{}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: tc.Namespace, Name: p.Source}, src); apierrors.IsNotFound(err) {
			return invalid(fmt.Sprintf("Secret %s named by %s does not exist in namespace %s", p.Source, p.Field, tc.Namespace))
		} else if err != nil {
			return true, fmt.Errorf("read Secret %s named by %s: %w", p.Source, p.Field, err)
		}
		if err := pki.CheckProvidedCA(src, now); err != nil {
			return invalid(fmt.Sprintf("Secret %s named by %s: %v", p.Source, p.Field, err))
		}
		if err := r.Client.Create(ctx, pki.ProvidedCASecret(tc, p, src)); apierrors.IsAlreadyExists(err) {
			s.requeueAfter(time.Second) // made meanwhile: read it next time
			return true, nil
		} else if err != nil {
			return true, fmt.Errorf("copy the CA of %s into Secret %s: %w", p.Field, name, err)
		}
		r.Recorder.Eventf(tc, nil, corev1.EventTypeNormal, "CertificateAuthorityCopied", "Reconcile",
			"copied the CA in Secret %s (%s) into the control plane: the tenant's certificates are issued from it", p.Source, p.Field)
	}
	return false, nil
}
