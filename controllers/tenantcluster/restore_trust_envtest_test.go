//go:build envtest

package tenantcluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// TestRestoreActsOnlyOnWhatItsKeySigned: the manifest lies in the customer's container.
// One they edited is refused before anything is sized by it; one the key signed that does
// not fit the spec's etcd names the size that would; the manifest as written restores.
func TestRestoreActsOnlyOnWhatItsKeySigned(t *testing.T) {
	ctx := context.Background()
	old, _, f, last := backedUpAndDeleted(t, "doubted")
	obj := old.Namespace + "/" + old.Name + "/" + last + "/" + backup.ManifestObject
	orig := readManifest(t, f, obj)
	sec := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: controlplane.DefaultManagerNamespace, Name: backup.KeySecretName(string(old.UID))}, sec); err != nil {
		t.Fatal(err)
	}

	edited := orig
	edited.SnapshotBytes = 1 << 40 // a terabyte on the seed node's disk
	putManifest(t, f, "backups", obj, edited)
	tc := restoreOf(t, old, last)
	restoreFails(t, tc, "not signed by its backup key")
	pod := client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: controlplane.EtcdRestorePodName(tc.Name)}
	if err := k8sClient.Get(ctx, pod, &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a restore pod was made from a manifest the key did not sign: %v", err)
	}

	// Signed: a database the default 8Gi volume cannot hold.
	edited.SnapshotBytes = 4 << 30
	if err := edited.Sign(sec.Data[backup.KeyField]); err != nil {
		t.Fatal(err)
	}
	putManifest(t, f, "backups", obj, edited)
	restoreFails(t, tc, "set it to at least 9Gi")

	putManifest(t, f, "backups", obj, orig)
	eventually(t, "restore pod made once the manifest is the one written", time.Minute, func(ctx context.Context) bool {
		return k8sClient.Get(ctx, pod, &corev1.Pod{}) == nil
	})
}

// TestRestoreOfAnotherTenantsBackupTellsNothing: a customer's manifest naming another
// tenant's UID, or no UID, is refused, and the refusal names nothing of the other tenant.
func TestRestoreOfAnotherTenantsBackupTellsNothing(t *testing.T) {
	ctx := context.Background()
	victim, _, vf, last := backedUpAndDeleted(t, "victim")
	m := readManifest(t, vf, victim.Namespace+"/"+victim.Name+"/"+last+"/"+backup.ManifestObject)

	ns := newNamespace(t)
	f := openstack.NewFake()
	customerCloudSecret(t, ns)
	fakeClouds.Register(ns, "customer-cloud", f)
	for _, c := range []struct{ name, uid, want string }{
		{"intruder", m.TenantUID, "only a backup of an earlier TenantCluster of this namespace and name is restored"},
		{"climber", "../../kube-system/x", "names no tenant UID"},
	} {
		mm := m
		mm.TenantUID = c.uid
		putManifest(t, f, backup.DefaultContainer, ns+"/"+c.name+"/"+last+"/"+backup.ManifestObject, mm)
		tc := small(ns, c.name)
		tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "customer-cloud"}}
		tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: last}
		if err := k8sClient.Create(ctx, tc); err != nil {
			t.Fatal(err)
		}
		msg := restoreFails(t, tc, c.want)
		if strings.Contains(msg, victim.Namespace) {
			t.Errorf("%s: Ready says %q: it names the other tenant's namespace", c.name, msg)
		}
	}
}

// restoreFails waits for Ready to say RestoreFailed with want in its message.
func restoreFails(t *testing.T, tc *v1alpha1.TenantCluster, want string) string {
	t.Helper()
	waitFor(t, tc, "Ready: RestoreFailed ... "+want, func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.ReadyCondition)
		return c.Reason == v1alpha1.RestoreFailedReason && strings.Contains(c.Message, want)
	})
	return condition(tc, v1alpha1.ReadyCondition).Message
}

func readManifest(t *testing.T, f *openstack.Fake, obj string) backup.Manifest {
	t.Helper()
	rc, err := f.GetObject(context.Background(), "backups", obj)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var m backup.Manifest
	data, _ := io.ReadAll(rc)
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func putManifest(t *testing.T, f *openstack.Fake, container, obj string, m backup.Manifest) {
	t.Helper()
	raw, _ := json.Marshal(m)
	if err := f.EnsureContainer(context.Background(), container); err != nil {
		t.Fatal(err)
	}
	if _, err := f.PutObject(context.Background(), container, obj, bytes.NewReader(raw), openstack.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}
