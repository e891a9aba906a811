package tenantcluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// reconcileEncryptionKey makes the tenant's encryption-at-rest configuration once and
// mounts it like the PKI (its checksum rolls the apiserver). It is created, never applied
// or updated, and carries no inventory label, so no later reconcile can replace or prune
// it: a new key would leave every Secret already in etcd unreadable. The API is asked
// once more before anything is made.
func (r *Reconciler) reconcileEncryptionKey(ctx context.Context, s *scope) (bool, error) {
	tc := s.tc
	name := controlplane.EncryptionConfigSecret.Name(tc.Name)
	sec := s.secrets[name]
	if sec == nil {
		live := &corev1.Secret{}
		switch err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: s.namespace(), Name: name}, live); {
		case err == nil:
			sec = live
		case !apierrors.IsNotFound(err):
			return true, fmt.Errorf("read Secret %s: %w", name, err)
		default:
			made, err := pki.NewEncryptionConfigSecret(tc, rand.Reader, time.Now())
			if err != nil {
				return true, err
			}
			if err := r.Client.Create(ctx, made); err != nil && !apierrors.IsAlreadyExists(err) {
				return true, fmt.Errorf("create Secret %s: %w", name, err)
			} else if err != nil {
				s.requeueAfter(time.Second) // made meanwhile: read it next time
				return true, nil
			}
			sec = made
		}
	}
	if err := pki.CheckEncryptionConfig(sec); err != nil {
		s.o.checks[v1alpha1.CertificatesReadyCondition] = check{reason: v1alpha1.EncryptionConfigInvalidReason, message: err.Error()}
		return true, nil
	}
	s.secrets[name] = sec
	s.sums[name] = controlplane.SecretDataChecksum(sec.Data)
	return false, nil
}
