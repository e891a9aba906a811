//go:build envtest

package tenantcluster_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestEncryptionKeyIsMadeOnceAndKept: the controller makes the tenant's encryption-at-rest
// configuration before the apiserver is rendered and never replaces it in the reconciles
// that follow; a configuration someone broke is reported, not overwritten.
func TestEncryptionKeyIsMadeOnceAndKept(t *testing.T) {
	ctx := context.Background()
	tc := small(newNamespace(t), "sealed")
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: controlplane.EncryptionConfigSecret.Name(tc.Name)}
	first := &corev1.Secret{}
	eventually(t, "the encryption configuration is made", time.Minute, func(ctx context.Context) bool {
		return k8sClient.Get(ctx, key, first) == nil
	})
	if !bytes.Contains(first.Data[controlplane.EncryptionConfigKey], []byte("secretbox")) {
		t.Fatalf("configuration:\n%s", first.Data[controlplane.EncryptionConfigKey])
	}
	if _, inventoried := first.Labels["kubeseed.io/inventory"]; inventoried {
		t.Error("the Secret carries the inventory label: a later apply could prune it")
	}

	// Reconciles that follow leave it byte for byte.
	for range 3 {
		poke(t, tc)
		time.Sleep(300 * time.Millisecond)
	}
	again := &corev1.Secret{}
	if err := k8sClient.Get(ctx, key, again); err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != first.ResourceVersion || !bytes.Equal(again.Data[controlplane.EncryptionConfigKey], first.Data[controlplane.EncryptionConfigKey]) {
		t.Fatal("the encryption configuration was rewritten: Secrets already in etcd would not decrypt")
	}

	// Broken by hand: reported with the reason, left for a person to repair.
	again.Data[controlplane.EncryptionConfigKey] = []byte("kind: EncryptionConfiguration\nresources: []\n")
	if err := k8sClient.Update(ctx, again); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "CertificatesReady says EncryptionConfigInvalid", func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.CertificatesReadyCondition)
		return c.Reason == v1alpha1.EncryptionConfigInvalidReason && c.Status == "False"
	})
	kept := &corev1.Secret{}
	if err := k8sClient.Get(ctx, key, kept); err != nil || string(kept.Data[controlplane.EncryptionConfigKey]) != string(again.Data[controlplane.EncryptionConfigKey]) {
		t.Fatalf("the broken configuration was replaced (%v)", err)
	}
}
