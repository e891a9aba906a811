package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// ProvidedCA is a CA a TenantCluster brings (spec.certificateAuthorities): the Secret in
// its namespace that holds it, the field that names it, and the control-plane Secret it
// becomes, which the CA Issuer signs from as from a CA kubeseed made.
type ProvidedCA struct {
	Field  string // spec.certificateAuthorities.cluster, say
	Source string // the Secret's name in the TenantCluster's namespace
	Secret controlplane.Secret
}

// ProvidedCAs lists the CAs tc brings, in a fixed order.
func ProvidedCAs(tc *v1alpha1.TenantCluster) []ProvidedCA {
	cas := tc.Spec.CertificateAuthorities
	if cas == nil {
		return nil
	}
	var out []ProvidedCA
	for _, c := range []struct {
		field  string
		ref    *v1alpha1.CASecretReference
		secret controlplane.Secret
	}{
		{"spec.certificateAuthorities.cluster", cas.Cluster, controlplane.CASecret},
		{"spec.certificateAuthorities.etcd", cas.Etcd, controlplane.EtcdCASecret},
		{"spec.certificateAuthorities.frontProxy", cas.FrontProxy, controlplane.FrontProxyCASecret},
	} {
		if c.ref != nil {
			out = append(out, ProvidedCA{Field: c.field, Source: c.ref.Name, Secret: c.secret})
		}
	}
	return out
}

// provides says whether tc brings the CA of secret s.
func provides(tc *v1alpha1.TenantCluster, s controlplane.Secret) bool {
	for _, p := range ProvidedCAs(tc) {
		if p.Secret == s {
			return true
		}
	}
	return false
}

// CheckProvidedCA says why sec (a Secret the customer wrote: untrusted) holds no CA
// cert-manager can sign from at now, naming the key at fault: tls.crt must start with a
// certificate that is a CA (basic constraints), may sign certificates, and is valid now;
// tls.key must be its private key (PKCS#1, PKCS#8 or SEC 1, unencrypted).
func CheckProvidedCA(sec *corev1.Secret, now time.Time) error {
	crtPEM, keyPEM := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
	if len(crtPEM) == 0 {
		return fmt.Errorf("key %s is missing or empty", corev1.TLSCertKey)
	}
	block, _ := pem.Decode(crtPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("key %s does not start with a PEM CERTIFICATE block", corev1.TLSCertKey)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("key %s: %w", corev1.TLSCertKey, err)
	}
	switch {
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return fmt.Errorf("key %s: %q is not a CA certificate (basic constraints CA:FALSE or missing)", corev1.TLSCertKey, cert.Subject.String())
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("key %s: %q may not sign certificates (its key usage lacks keyCertSign)", corev1.TLSCertKey, cert.Subject.String())
	case now.After(cert.NotAfter):
		return fmt.Errorf("key %s: %q expired at %s", corev1.TLSCertKey, cert.Subject.String(), cert.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(cert.NotBefore):
		return fmt.Errorf("key %s: %q is not valid before %s", corev1.TLSCertKey, cert.Subject.String(), cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if len(keyPEM) == 0 {
		return fmt.Errorf("key %s is missing or empty", corev1.TLSPrivateKeyKey)
	}
	// X509KeyPair parses the key and checks it belongs to the first certificate.
	if _, err := tls.X509KeyPair(crtPEM, keyPEM); err != nil {
		return fmt.Errorf("key %s: not the private key of %s's certificate, or not an unencrypted PEM key: %w", corev1.TLSPrivateKeyKey, corev1.TLSCertKey, err)
	}
	return nil
}

// ProvidedCASecret is the control-plane copy of a provided CA: kubernetes.io/tls with
// tls.crt, tls.key and ca.crt (the CA certificate again: what cert-manager writes for the
// CAs it makes), labelled as the PKI's Secrets are so that the controller reads it with
// them. Only the three keys are copied: nothing else the customer put in the Secret
// reaches the control plane.
func ProvidedCASecret(tc *v1alpha1.TenantCluster, p ProvidedCA, src *corev1.Secret) *corev1.Secret {
	crt := bytes.Clone(src.Data[corev1.TLSCertKey])
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(tc.Name, controlplane.NamespaceOf(tc), p.Secret.Name(tc.Name)),
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:              crt,
			corev1.TLSPrivateKeyKey:        bytes.Clone(src.Data[corev1.TLSPrivateKeyKey]),
			corev1.ServiceAccountRootCAKey: bytes.Clone(crt),
		},
	}
}
