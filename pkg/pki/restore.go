package pki

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// RestoredCAs are the CAs a restored tenant takes from its backup: no Certificate makes
// them, their Issuers sign from the restored Secrets, so every certificate, kubeconfig and
// kubelet of the old tenant is trusted by the new one.
var RestoredCAs = []controlplane.Secret{controlplane.CASecret, controlplane.EtcdCASecret, controlplane.FrontProxyCASecret}

// RestoredSecret is the control-plane Secret s of tc made from the data a backup kept of
// it, checked as what it must be: a CA (its certificate and key, as a provided CA is), the
// service-account key pair (cert-manager's Certificate then re-issues its certificate
// around the same key: rotationPolicy Never keeps the key, so every token stays valid), or
// the encryption-at-rest configuration. It carries no inventory label: created once, never
// applied or pruned.
func RestoredSecret(tc *v1alpha1.TenantCluster, s controlplane.Secret, data map[string][]byte, now time.Time) (*corev1.Secret, error) {
	name := s.Name(tc.Name)
	sec := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(tc.Name, controlplane.NamespaceOf(tc), name),
		Type:       corev1.SecretTypeTLS,
	}
	switch s {
	case controlplane.EncryptionConfigSecret:
		sec.Type = corev1.SecretTypeOpaque
		sec.Data = map[string][]byte{controlplane.EncryptionConfigKey: data[controlplane.EncryptionConfigKey]}
		if err := CheckEncryptionConfig(sec); err != nil {
			return nil, err
		}
	case controlplane.ServiceAccountSecret:
		sec.Data = map[string][]byte{corev1.TLSCertKey: data[corev1.TLSCertKey], corev1.TLSPrivateKeyKey: data[corev1.TLSPrivateKeyKey]}
		if len(sec.Data[corev1.TLSPrivateKeyKey]) == 0 {
			return nil, fmt.Errorf("the backup's %s holds no %s", name, corev1.TLSPrivateKeyKey)
		}
	default:
		src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
		if err := CheckProvidedCA(src, now); err != nil {
			return nil, fmt.Errorf("the backup's %s: %w", name, err)
		}
		sec.Data = ProvidedCASecret(tc, ProvidedCA{Secret: s}, src).Data
	}
	return sec, nil
}
