package pki

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// encryptionConfig is the subset of apiserver.config.k8s.io/v1 EncryptionConfiguration
// kubeseed writes: Secrets only, secretbox (XSalsa20-Poly1305: authenticated, no padding
// oracle, unlike aescbc), then identity, so that Secrets written before encryption was on
// still read until they are rewritten.
type encryptionConfig struct {
	metav1.TypeMeta `json:",inline"`
	Resources       []encryptionResource `json:"resources"`
}

type encryptionResource struct {
	Resources []string             `json:"resources"`
	Providers []encryptionProvider `json:"providers"`
}

type encryptionProvider struct {
	Secretbox *encryptionKeys `json:"secretbox,omitempty"`
	Identity  *struct{}       `json:"identity,omitempty"`
}

type encryptionKeys struct {
	Keys []encryptionKey `json:"keys"`
}

type encryptionKey struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// secretboxKeyBytes is secretbox's key size.
const secretboxKeyBytes = 32

// NewEncryptionConfigSecret is tc's EncryptionConfigSecret with a fresh key read from rnd,
// named after now (key names must differ when a rotation adds one). It must be created
// once and never replaced: the key is what decrypts the tenant's Secrets.
func NewEncryptionConfigSecret(tc *v1alpha1.TenantCluster, rnd io.Reader, now time.Time) (*corev1.Secret, error) {
	key := make([]byte, secretboxKeyBytes)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return nil, fmt.Errorf("encryption key of %s: %w", tc.Name, err)
	}
	cfg := encryptionConfig{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiserver.config.k8s.io/v1", Kind: "EncryptionConfiguration"},
		Resources: []encryptionResource{{
			Resources: []string{"secrets"},
			Providers: []encryptionProvider{
				{Secretbox: &encryptionKeys{Keys: []encryptionKey{{
					Name: "key-" + now.UTC().Format("20060102150405"), Secret: base64.StdEncoding.EncodeToString(key),
				}}}},
				{Identity: &struct{}{}},
			},
		}},
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encryption configuration of %s: %w", tc.Name, err)
	}
	ns := controlplane.NamespaceOf(tc)
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(tc.Name, ns, controlplane.EncryptionConfigSecret.Name(tc.Name)),
		Data:       map[string][]byte{controlplane.EncryptionConfigKey: raw},
	}, nil
}

// CheckEncryptionConfig says whether s holds an EncryptionConfiguration for Secrets whose
// first provider has a key of the right size: what the apiserver would refuse to start
// with is caught, with the reason, before it rolls.
func CheckEncryptionConfig(s *corev1.Secret) error {
	if s == nil {
		return errors.New("no encryption configuration")
	}
	var cfg encryptionConfig
	if err := yaml.UnmarshalStrict(s.Data[controlplane.EncryptionConfigKey], &cfg); err != nil {
		return fmt.Errorf("encryption configuration in Secret %s, key %s: %w", s.Name, controlplane.EncryptionConfigKey, err)
	}
	for _, r := range cfg.Resources {
		if len(r.Resources) == 0 || r.Resources[0] != "secrets" || len(r.Providers) == 0 {
			continue
		}
		first := r.Providers[0]
		if first.Secretbox == nil || len(first.Secretbox.Keys) == 0 {
			return fmt.Errorf("encryption configuration in Secret %s: the first provider for secrets is not secretbox with a key: Secrets would be written in plain text", s.Name)
		}
		for _, k := range first.Secretbox.Keys {
			if b, err := base64.StdEncoding.DecodeString(k.Secret); err != nil || len(b) != secretboxKeyBytes {
				return fmt.Errorf("encryption configuration in Secret %s: key %q is not %d bytes of base64", s.Name, k.Name, secretboxKeyBytes)
			}
		}
		return nil
	}
	return fmt.Errorf("encryption configuration in Secret %s: no provider for secrets", s.Name)
}
