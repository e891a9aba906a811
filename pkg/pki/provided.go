package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
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

// provides says whether tc brings the CA of secret s: one of spec.certificateAuthorities,
// or any CA of a tenant whose CAs are its backup's (RestoredSecret, CAsFromBackup).
func provides(tc *v1alpha1.TenantCluster, s controlplane.Secret) bool {
	if CAsFromBackup(tc) && slices.Contains(RestoredCAs, s) {
		return true
	}
	for _, p := range ProvidedCAs(tc) {
		if p.Secret == s {
			return true
		}
	}
	return false
}

// CAsFromBackup says whether tc's CAs came from a backup (no Certificate makes them) or
// are cert-manager's. It never changes for a tenant: status.casFromBackup records it at the
// first reconcile, since cert-manager owns the Secrets of its Certificates and a Certificate
// that stops being rendered would take its CA with it. Until recorded: a tenant made with
// spec.restore, or one restored before the field existed (a backup of another tenant).
func CAsFromBackup(tc *v1alpha1.TenantCluster) bool {
	if v := tc.Status.CAsFromBackup; v != nil {
		return *v
	}
	if tc.Spec.Restore == nil {
		return false
	}
	st := tc.Status.Restore
	return st == nil || st.TenantUID != string(tc.UID)
}

// CheckProvidedCA says why sec (a Secret the customer wrote: untrusted) holds no CA
// cert-manager can sign from at now, naming the key at fault: tls.crt must start with a
// certificate that is a CA (basic constraints), may sign certificates, and is valid now,
// and hold nothing but certificates (what follows the first is not used); tls.key must be
// its private key (PKCS#1, PKCS#8 or SEC 1, unencrypted).
func CheckProvidedCA(sec *corev1.Secret, now time.Time) error {
	crtPEM, keyPEM := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
	if len(crtPEM) == 0 {
		return fmt.Errorf("key %s is missing or empty", corev1.TLSCertKey)
	}
	block, rest := pem.Decode(crtPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("key %s does not start with a PEM CERTIFICATE block", corev1.TLSCertKey)
	}
	// Only certificates may follow: the CA certificate is published (cluster-info), and a
	// key pasted into the bundle would be published with it.
	for next, more := pem.Decode(rest); next != nil; next, more = pem.Decode(more) {
		if next.Type != "CERTIFICATE" {
			return fmt.Errorf("key %s holds a %q PEM block: only certificates belong there (it is published to the tenant's clients)", corev1.TLSCertKey, next.Type)
		}
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

// ProvidedCASecret is the control-plane copy of a provided CA (checked by
// CheckProvidedCA): kubernetes.io/tls with tls.crt and ca.crt both the CA's own certificate
// alone (re-encoded: no PEM headers, no chain) and tls.key its key alone, labelled as the
// PKI's Secrets are so that the controller reads it with them. The tenant trusts exactly
// this CA: tls.crt is every trust flag's bundle (client-ca-file and the others), so a chain
// copied along would make each of its parents a root any client certificate could chain
// to. Nothing else the customer put in the Secret reaches the control plane.
func ProvidedCASecret(tc *v1alpha1.TenantCluster, p ProvidedCA, src *corev1.Secret) *corev1.Secret {
	var crt, key []byte
	if b, _ := pem.Decode(src.Data[corev1.TLSCertKey]); b != nil {
		crt = pem.EncodeToMemory(&pem.Block{Type: b.Type, Bytes: b.Bytes})
	}
	for b, rest := pem.Decode(src.Data[corev1.TLSPrivateKeyKey]); b != nil; b, rest = pem.Decode(rest) {
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			key = pem.EncodeToMemory(&pem.Block{Type: b.Type, Bytes: b.Bytes})
			break
		}
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(tc.Name, controlplane.NamespaceOf(tc), p.Secret.Name(tc.Name)),
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:              crt,
			corev1.TLSPrivateKeyKey:        key,
			corev1.ServiceAccountRootCAKey: bytes.Clone(crt),
		},
	}
}
