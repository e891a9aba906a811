package pki

import (
	"bytes"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestNewEncryptionConfigSecret: a fresh 32-byte secretbox key per call, named after the
// time (rotation adds keys whose names must differ), identity after it so Secrets written
// before encryption was on still read; and the result passes the check the controller runs.
func TestNewEncryptionConfigSecret(t *testing.T) {
	tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "project-1"}}
	now := time.Date(2026, 12, 5, 13, 4, 5, 0, time.UTC)
	a, err := NewEncryptionConfigSecret(tc, bytes.NewReader(bytes.Repeat([]byte{1}, 32)), now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewEncryptionConfigSecret(tc, bytes.NewReader(bytes.Repeat([]byte{2}, 32)), now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "acme-encryption-config" || a.Namespace != controlplane.NamespaceOf(tc) || a.Labels[controlplane.LabelTenantCluster] != "acme" {
		t.Errorf("Secret %s/%s labels %v", a.Namespace, a.Name, a.Labels)
	}
	cfg := string(a.Data[controlplane.EncryptionConfigKey])
	for _, want := range []string{"kind: EncryptionConfiguration", "- secrets", "secretbox:", "name: key-20261205130405", "secret: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "identity: {}"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Index(cfg, "secretbox:") > strings.Index(cfg, "identity:") {
		t.Errorf("identity comes first: Secrets would be written in plain text:\n%s", cfg)
	}
	if bytes.Equal(a.Data[controlplane.EncryptionConfigKey], b.Data[controlplane.EncryptionConfigKey]) {
		t.Error("two calls made the same key")
	}
	if err := CheckEncryptionConfig(a); err != nil {
		t.Errorf("CheckEncryptionConfig of a fresh Secret: %v", err)
	}
	if _, err := NewEncryptionConfigSecret(tc, bytes.NewReader(make([]byte, 8)), now); err == nil {
		t.Error("a short read of randomness: no error")
	}
}

func TestCheckEncryptionConfig(t *testing.T) {
	secret := func(cfg string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "acme-encryption-config"}, Data: map[string][]byte{controlplane.EncryptionConfigKey: []byte(cfg)}}
	}
	const key32 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	header := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
	for _, c := range []struct {
		name, cfg, wantErr string
	}{
		{"two keys, as during a rotation", header + "resources:\n- resources: [secrets]\n  providers:\n  - secretbox: {keys: [{name: new, secret: " + key32 + "}, {name: old, secret: " + key32 + "}]}\n  - identity: {}\n", ""},
		{"identity first", header + "resources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n  - secretbox: {keys: [{name: k, secret: " + key32 + "}]}\n", "plain text"},
		{"short key", header + "resources:\n- resources: [secrets]\n  providers:\n  - secretbox: {keys: [{name: k, secret: AQID}]}\n", `key "k" is not 32 bytes`},
		{"no secrets", header + "resources:\n- resources: [configmaps]\n  providers:\n  - identity: {}\n", "no provider for secrets"},
		{"not YAML of the kind", "resources: 3\n", "key config.yaml"},
		{"empty", "", "no provider for secrets"},
	} {
		err := CheckEncryptionConfig(secret(c.cfg))
		if (c.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.wantErr)
		}
	}
	if err := CheckEncryptionConfig(nil); err == nil {
		t.Error("nil Secret: no error")
	}
}
