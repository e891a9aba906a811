package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// testCA makes a certificate and its key as PEM; mutate shapes the template.
func testCA(t *testing.T, key crypto.Signer, mutate func(*x509.Certificate)) (crtPEM, keyPEM []byte) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "magnum-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	if mutate != nil {
		mutate(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
}

func TestCheckProvidedCA(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	good, goodKey := testCA(t, ec, nil)
	rsaCrt, rsaPEM := testCA(t, rsaKey, nil)
	_, otherKey := testCA(t, other, nil)
	leaf, leafKey := testCA(t, ec, func(c *x509.Certificate) { c.IsCA = false })
	noSign, noSignKey := testCA(t, ec, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature })
	expired, expiredKey := testCA(t, ec, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(-time.Minute) })
	early, earlyKey := testCA(t, ec, func(c *x509.Certificate) { c.NotBefore = time.Now().Add(time.Hour) })
	for _, c := range []struct {
		name     string
		crt, key []byte
		want     string // "" is valid
	}{
		{"ECDSA CA", good, goodKey, ""},
		{"RSA CA with a chain after it", append(append([]byte{}, rsaCrt...), good...), rsaPEM, ""},
		{"a key pasted into tls.crt", append(append([]byte{}, good...), goodKey...), goodKey, `key tls.crt holds a "PRIVATE KEY" PEM block`},
		{"no tls.crt", nil, goodKey, "key tls.crt is missing"},
		{"tls.crt not PEM", []byte("hello"), goodKey, "key tls.crt does not start with a PEM CERTIFICATE"},
		{"a leaf", leaf, leafKey, `"CN=magnum-ca" is not a CA certificate`},
		{"may not sign", noSign, noSignKey, "lacks keyCertSign"},
		{"expired", expired, expiredKey, "expired at"},
		{"not valid yet", early, earlyKey, "is not valid before"},
		{"no tls.key", good, nil, "key tls.key is missing"},
		{"another key", good, otherKey, "key tls.key: not the private key of tls.crt's certificate"},
		{"key garbage", good, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "key tls.key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sec := &corev1.Secret{Data: map[string][]byte{}}
			if c.crt != nil {
				sec.Data[corev1.TLSCertKey] = c.crt
			}
			if c.key != nil {
				sec.Data[corev1.TLSPrivateKeyKey] = c.key
			}
			err := pki.CheckProvidedCA(sec, time.Now())
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused a usable CA: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestObjectsWithProvidedCAs: a CA the tenant brings gets no Certificate (nothing may
// re-issue it) but keeps its Issuer; the others are made as before.
func TestObjectsWithProvidedCAs(t *testing.T) {
	tc := tenant(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.CertificateAuthorities = &v1alpha1.CertificateAuthoritiesSpec{
			Cluster: &v1alpha1.CASecretReference{Name: "magnum-ca"}, FrontProxy: &v1alpha1.CASecretReference{Name: "magnum-fp"},
		}
	})
	objs, err := pki.Objects(tc, pki.Endpoint{Host: "203.0.113.10", Port: 6443})
	if err != nil {
		t.Fatal(err)
	}
	certs, issuers := map[string]bool{}, map[string]bool{}
	for _, o := range objs {
		switch o.(type) {
		case *cmv1.Certificate:
			certs[o.GetName()] = true
		case *cmv1.Issuer:
			issuers[o.GetName()] = true
		}
	}
	for s, provided := range map[controlplane.Secret]bool{controlplane.CASecret: true, controlplane.FrontProxyCASecret: true, controlplane.EtcdCASecret: false} {
		name := s.Name(tc.Name)
		if certs[name] == provided {
			t.Errorf("Certificate %s rendered = %v, want %v", name, certs[name], !provided)
		}
		if !issuers[name] {
			t.Errorf("no CA Issuer %s", name)
		}
	}
	got := pki.ProvidedCAs(tc)
	if len(got) != 2 || got[0].Field != "spec.certificateAuthorities.cluster" || got[0].Source != "magnum-ca" || got[1].Secret != controlplane.FrontProxyCASecret {
		t.Errorf("ProvidedCAs = %+v", got)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caPEM, keyPEM := testCA(t, ec, nil)
	parentPEM, _ := testCA(t, ec, func(c *x509.Certificate) { c.Subject.CommonName = "parent" })
	withHeader := strings.Replace(string(caPEM), "-----BEGIN CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----\nNote: hi\n\n", 1)
	src := &corev1.Secret{Data: map[string][]byte{
		"tls.crt": append([]byte(withHeader), parentPEM...), "tls.key": append(append([]byte{}, caPEM...), keyPEM...), "extra": []byte("x"),
	}}
	if err := pki.CheckProvidedCA(src, time.Now()); err != nil {
		t.Fatal(err)
	}
	cp := pki.ProvidedCASecret(tc, got[0], src)
	// The CA alone, without the parent after it or the header: the tenant trusts exactly it.
	if string(cp.Data["tls.crt"]) != string(caPEM) || string(cp.Data["ca.crt"]) != string(caPEM) || string(cp.Data["tls.key"]) != string(keyPEM) {
		t.Errorf("copied tls.crt %q, ca.crt %q, tls.key %q: want the CA certificate alone and its key alone", cp.Data["tls.crt"], cp.Data["ca.crt"], cp.Data["tls.key"])
	}
	if cp.Namespace != controlplane.NamespaceOf(tc) || cp.Name != controlplane.CASecret.Name(tc.Name) || len(cp.Data) != 3 ||
		cp.Type != corev1.SecretTypeTLS || cp.Labels[controlplane.LabelTenantCluster] != tc.Name {
		t.Errorf("control-plane copy %+v", cp)
	}
}

// TestCAsFromBackup: what the first reconcile decides is kept: a tenant made from a backup
// keeps its backup's CAs through in-place restores and whatever its spec says later; one
// that restores its own backup in place keeps the CAs cert-manager made (their
// Certificates own their Secrets: dropping one would delete the CA).
func TestCAsFromBackup(t *testing.T) {
	const self = "11111111-1111-1111-1111-111111111111"
	const earlier = "22222222-2222-2222-2222-222222222222"
	yes, no := true, false
	cases := []struct {
		name     string
		spec     *v1alpha1.RestoreSpec
		status   *v1alpha1.RestoreStatus
		recorded *bool
		want     bool
	}{
		{"no restore, first reconcile", nil, nil, nil, false},
		{"made from a backup, first reconcile", &v1alpha1.RestoreSpec{Backup: "b1"}, nil, nil, true},
		{"made with inPlace, first reconcile", &v1alpha1.RestoreSpec{Backup: "b1", InPlace: true}, nil, nil, true},
		{"restored before the field existed", &v1alpha1.RestoreSpec{Backup: "b1"}, &v1alpha1.RestoreStatus{Backup: "b1", TenantUID: earlier}, nil, true},
		{"recorded from a backup, own backup restored in place", &v1alpha1.RestoreSpec{Backup: "b2", InPlace: true}, &v1alpha1.RestoreStatus{Backup: "b2", TenantUID: self}, &yes, true},
		{"recorded cert-manager's, in place under way", &v1alpha1.RestoreSpec{Backup: "b1", InPlace: true}, nil, &no, false},
		{"recorded cert-manager's, restored in place", &v1alpha1.RestoreSpec{Backup: "b1", InPlace: true}, &v1alpha1.RestoreStatus{Backup: "b1", TenantUID: self}, &no, false},
		{"recorded from a backup, spec without restore", nil, nil, &yes, true},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			tc := &v1alpha1.TenantCluster{}
			tc.UID = self
			tc.Spec.Restore, tc.Status.Restore, tc.Status.CAsFromBackup = tt.spec, tt.status, tt.recorded
			if got := pki.CAsFromBackup(tc); got != tt.want {
				t.Errorf("CAsFromBackup = %v, want %v", got, tt.want)
			}
		})
	}
}
