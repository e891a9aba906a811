//go:build envtest

package tenantcluster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestProvidedClusterCA: a tenant that brings its cluster CA (as Magnum does) is refused,
// naming the Secret and the key, until the Secret holds a usable CA; then the CA is copied
// into the control plane and the real cert-manager issues the tenant's client and serving
// certificates from it, while the etcd CA is still made by kubeseed.
func TestProvidedClusterCA(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(isCA bool) (crt, k []byte, cert *x509.Certificate) {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "magnum cluster CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
			IsCA: isCA, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ = x509.ParseCertificate(der)
		kd, _ := x509.MarshalPKCS8PrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), cert
	}
	leafCrt, leafKey, _ := pemOf(false)
	src := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "magnum-ca"},
		Data:       map[string][]byte{corev1.TLSCertKey: leafCrt, corev1.TLSPrivateKeyKey: leafKey, "note": []byte("not copied")},
	}
	if err := k8sClient.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	tc := small(ns, "byoca")
	tc.Spec.CertificateAuthorities = &v1alpha1.CertificateAuthoritiesSpec{Cluster: &v1alpha1.CASecretReference{Name: "magnum-ca"}}
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "CertificatesReady=False CertificateAuthorityInvalid naming the Secret and the key", func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.CertificatesReadyCondition)
		return c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.CertificateAuthorityInvalidReason &&
			strings.Contains(c.Message, "Secret magnum-ca named by spec.certificateAuthorities.cluster: key tls.crt") &&
			strings.Contains(c.Message, "is not a CA certificate")
	})

	caCrt, caKey, caCert := pemOf(true)
	src.Data = map[string][]byte{corev1.TLSCertKey: caCrt, corev1.TLSPrivateKeyKey: caKey, "note": []byte("not copied")}
	if err := k8sClient.Update(ctx, src); err != nil {
		t.Fatal(err)
	}
	poke(t, tc)
	cpNS := controlplane.NamespaceOf(tc)
	issued := &corev1.Secret{}
	eventually(t, "the apiserver's kubelet client certificate is issued", 2*time.Minute, func(ctx context.Context) bool {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: cpNS, Name: controlplane.APIServerKubeletClientSecret.Name(tc.Name)}, issued) == nil &&
			len(issued.Data[corev1.TLSCertKey]) > 0
	})
	block, _ := pem.Decode(issued.Data[corev1.TLSCertKey])
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the kubelet client certificate does not chain to the provided CA: %v", err)
	}
	copied := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpNS, Name: controlplane.CASecret.Name(tc.Name)}, copied); err != nil {
		t.Fatal(err)
	}
	if string(copied.Data[corev1.TLSCertKey]) != string(caCrt) || copied.Data["note"] != nil {
		t.Errorf("the control-plane copy holds %v: want the provided certificate and key only", keys(copied.Data))
	}
	// Nothing may re-issue the provided CA; the etcd CA is still kubeseed's.
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpNS, Name: controlplane.CASecret.Name(tc.Name)}, &cmv1.Certificate{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Certificate for the provided cluster CA exists (%v): cert-manager could replace it", err)
	}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpNS, Name: controlplane.EtcdCASecret.Name(tc.Name)}, &cmv1.Certificate{}); err != nil {
		t.Errorf("the etcd CA is not made by kubeseed: %v", err)
	}
	// Later changes of the customer's Secret are not read.
	other, otherKey, _ := pemOf(true)
	src.Data = map[string][]byte{corev1.TLSCertKey: other, corev1.TLSPrivateKeyKey: otherKey}
	if err := k8sClient.Update(ctx, src); err != nil {
		t.Fatal(err)
	}
	poke(t, tc)
	time.Sleep(time.Second)
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpNS, Name: controlplane.CASecret.Name(tc.Name)}, copied); err != nil || string(copied.Data[corev1.TLSCertKey]) != string(caCrt) {
		t.Errorf("the copied CA changed after the customer's Secret did (%v)", err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
