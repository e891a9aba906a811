//go:build envtest

package tenantcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// TestOperatorStoreKeepsBackupsOfTenantsWithoutCloud: a tenant without spec.cloud has its
// backups in the admin's store (Secret kubeseed-backup-store in the manager's namespace):
// without the store BackedUp names it; once the admin makes it the backup lands under the
// tenant's namespace and name in the admin's container; a new tenant of that namespace and
// name restores from it, and one of another namespace naming the same backup does not
// find it.
func TestOperatorStoreKeepsBackupsOfTenantsWithoutCloud(t *testing.T) {
	ctx := context.Background()
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlplane.DefaultManagerNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	ns := newNamespace(t)
	tc := small(ns, "nocloud")
	tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Every: &metav1.Duration{Duration: time.Hour}}
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "kubeconfig published", func(tc *v1alpha1.TenantCluster) bool { return tc.Status.KubeconfigSecretRef != nil })
	setEtcdReady(t, controlplane.NamespaceOf(tc), tc.Name)
	waitFor(t, tc, "BackedUp names the missing store", func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.BackedUpCondition)
		return c.Reason == v1alpha1.InvalidSpecReason && strings.Contains(c.Message, "no operator-wide backup store (Secret "+controlplane.DefaultManagerNamespace+"/"+backup.StoreSecretName)
	})

	// The admin makes the store.
	f := openstack.NewFake()
	fakeClouds.Register(controlplane.DefaultManagerNamespace, backup.StoreSecretName, f)
	store := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: controlplane.DefaultManagerNamespace, Name: backup.StoreSecretName},
		Data: map[string][]byte{
			openstack.SecretKeyCloudsYAML: []byte("clouds: {openstack: {}}"),
			backup.StoreContainerKey:      []byte("operator-backups"),
		},
	}
	if err := k8sClient.Create(ctx, store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), store) })
	poke(t, tc) // rather than wait out the minute before it looks again
	waitFor(t, tc, "first backup recorded", func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.Backup != nil && tc.Status.Backup.LastSuccessfulTime != nil
	})
	last := tc.Status.Backup.LastBackup
	all, err := backup.List(ctx, f, "operator-backups", ns+"/nocloud/")
	if err != nil || len(all) != 1 || !all[0].Complete || ns+"/nocloud/"+all[0].Name != last {
		t.Fatalf("the admin's container holds %+v (%v), want the one complete backup %s", all, err, last)
	}
	name := all[0].Name

	// Backups are named to the second: the final one must start in a later second.
	time.Sleep(time.Until(tc.Status.Backup.LastSuccessfulTime.Add(1100 * time.Millisecond)))
	if err := k8sClient.Delete(ctx, tc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "tenant gone, its final backup taken", time.Minute, func(ctx context.Context) bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), &v1alpha1.TenantCluster{}))
	})
	if all, err := backup.List(ctx, f, "operator-backups", ns+"/nocloud/"); err != nil || len(all) != 2 {
		t.Errorf("after deletion the admin's container holds %+v (%v), want the first and the final backup", all, err)
	}

	// Another namespace's tenant of the same name reads below its own prefix only.
	other := small(newNamespace(t), "nocloud")
	other.Spec.Restore = &v1alpha1.RestoreSpec{Backup: name}
	if err := k8sClient.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	waitFor(t, other, "Ready says another namespace's backup is not there", func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.ReadyCondition)
		return c.Reason == v1alpha1.RestoreFailedReason && strings.Contains(c.Message, "is not in the operator-wide backup store")
	})

	// A namespace of the same name made again (for another customer) is another namespace:
	// the key records the one its tenant lived in.
	key := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: controlplane.DefaultManagerNamespace, Name: tenantcluster.BackupKeySecretName(tc)}, key); err != nil {
		t.Fatal(err)
	}
	nsObj := &corev1.Namespace{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	if got := key.Annotations[backup.KeyNamespaceUIDAnnotation]; got != string(nsObj.UID) {
		t.Fatalf("the backup key records namespace UID %q, want %s's %s", got, ns, nsObj.UID)
	}
	setKeyNamespace := func(uid string) {
		t.Helper()
		patch := client.MergeFrom(key.DeepCopy())
		metav1.SetMetaDataAnnotation(&key.ObjectMeta, backup.KeyNamespaceUIDAnnotation, uid)
		if err := k8sClient.Patch(ctx, key, patch); err != nil {
			t.Fatal(err)
		}
	}
	setKeyNamespace("5e1f3b2a-0000-4000-8000-000000000000") // as if ns were made anew since
	restored := small(ns, "nocloud")
	restored.Spec.Restore = &v1alpha1.RestoreSpec{Backup: name}
	if err := k8sClient.Create(ctx, restored); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), restored) })
	waitFor(t, restored, "Ready says no key of this namespace's tenant opens it", func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.ReadyCondition)
		return c.Reason == v1alpha1.RestoreFailedReason && strings.Contains(c.Message, "no backup key of a TenantCluster")
	})
	setKeyNamespace(string(nsObj.UID))
	poke(t, restored)
	eventually(t, "restore pod made from the admin's store", 2*time.Minute, func(ctx context.Context) bool {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: controlplane.NamespaceOf(restored), Name: controlplane.EtcdRestorePodName(restored.Name)}, &corev1.Pod{}) == nil
	})
}
