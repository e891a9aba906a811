//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

var (
	issuers      = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "issuers"}
	certificates = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
)

func object(kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": kind,
		"metadata": map[string]any{"name": name},
		"spec":     spec,
	}}
}

// TestCertManagerIssuesFromCAIssuer: self-signed Issuer → CA Certificate → CA Issuer → leaf
// Certificate, the chain kubeseed's tenant PKI is made of; the leaf must verify against the CA.
func TestCertManagerIssuesFromCAIssuer(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	dyn := dynamic.NewForConfigOrDie(restConfig)
	objs := []struct {
		gvr schema.GroupVersionResource
		obj *unstructured.Unstructured
	}{
		{issuers, object("Issuer", "bootstrap", map[string]any{"selfSigned": map[string]any{}})},
		{certificates, object("Certificate", "ca", map[string]any{
			"isCA": true, "commonName": "e2e-ca", "secretName": "ca",
			"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256)},
			"issuerRef":  map[string]any{"name": "bootstrap", "kind": "Issuer"},
		})},
		{issuers, object("Issuer", "ca", map[string]any{"ca": map[string]any{"secretName": "ca"}})},
		{certificates, object("Certificate", "leaf", map[string]any{
			"commonName": "leaf.e2e", "dnsNames": []any{"leaf.e2e"}, "secretName": "leaf",
			"issuerRef": map[string]any{"name": "ca", "kind": "Issuer"},
		})},
	}
	for _, o := range objs {
		if _, err := dyn.Resource(o.gvr).Namespace(ns).Create(ctx, o.obj, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s %s: %v", o.obj.GetKind(), o.obj.GetName(), err)
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		leaf, err := dyn.Resource(certificates).Namespace(ns).Get(ctx, "leaf", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(leaf.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Ready" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("leaf Certificate not Ready within a minute: %v (kubectl -n %s describe certificate leaf)", err, ns)
	}
	secret, err := clients.CoreV1().Secrets(ns).Get(ctx, "leaf", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get leaf Secret: %v", err)
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	caBlock, _ := pem.Decode(secret.Data["ca.crt"])
	if block == nil || caBlock == nil {
		t.Fatalf("leaf Secret lacks tls.crt or ca.crt: keys %v", keys(secret.Data))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Subject.CommonName != "e2e-ca" {
		t.Errorf("leaf's ca.crt is %q, want the e2e-ca", ca.Subject.CommonName)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		t.Errorf("leaf is not signed by the CA: %v", err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
