//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// testRestoreInPlace restores a running tenant from its own backup
// (docs/backups.md#restoring-in-place), on the tenant the drill made from a backup, whose
// CAs are its backup's: with backups configured, one is taken; then a ConfigMap is
// written and one of the drill's deleted. Drill (c): spec.restore set without inPlace is
// refused by the API. With it, a backup of the data it replaces is written first, then the
// tenant is Ready again with the backup's data (the later ConfigMap gone, the deleted one
// back), its revision bumped again, and the admin kubeconfig of before still works: its
// CAs stayed.
func testRestoreInPlace(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, adminCfg *rest.Config, container string) {
	t.Helper()
	setSpec := func(change func(*v1alpha1.TenantCluster)) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
				return err
			}
			change(tc)
			return kube.Update(ctx, tc)
		})
	}
	if err := setSpec(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Every: &metav1.Duration{Duration: time.Hour}, Container: container}
	}); err != nil {
		t.Fatal(err)
	}
	backedUpSince := func(generation int64) func(*v1alpha1.TenantCluster) bool {
		return func(tc *v1alpha1.TenantCluster) bool {
			b := tc.Status.Backup
			return b != nil && b.LastSuccessfulTime != nil && b.Generation >= generation && meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.BackedUpCondition)
		}
	}
	waitTenant(t, ctx, tc, "its first backup", 3*time.Minute, backedUpSince(tc.Generation))
	name := tc.Status.Backup.LastBackup[strings.LastIndex(tc.Status.Backup.LastBackup, "/")+1:]

	tenant := kubernetes.NewForConfigOrDie(adminCfg)
	if _, err := tenant.CoreV1().ConfigMaps("drill").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-the-backup"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := tenant.CoreV1().ConfigMaps("drill").Delete(ctx, "cm-0000", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	before, err := tenant.CoreV1().ConfigMaps("drill").List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}

	// Drill (c): a restore into a running tenant needs the confirmation.
	err = setSpec(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: name, Container: container}
	})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.restore.inPlace: true") {
		t.Fatalf("spec.restore changed on a running tenant without inPlace: %v, want a refusal naming spec.restore.inPlace", err)
	}
	start := time.Now()
	if err := setSpec(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: name, Container: container, InPlace: true}
	}); err != nil {
		t.Fatal(err)
	}
	waitTenant(t, ctx, tc, "a backup of the data it replaces", 3*time.Minute, backedUpSince(tc.Generation))
	replaced := tc.Status.Backup.LastBackup
	waitTenant(t, ctx, tc, "restored in place and Ready", 6*time.Minute, func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.Restore != nil && tc.Status.Restore.Backup == name && meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition)
	})
	r := tc.Status.Restore
	if r.TenantUID != string(tc.UID) || tc.Status.CAsFromBackup == nil || !*tc.Status.CAsFromBackup || tc.Status.Restoring != nil {
		t.Errorf("status.restore %+v, casFromBackup %v, restoring %+v: want the tenant's own backup, its CAs still the backup's it was made from, no restore under way",
			r, tc.Status.CAsFromBackup, tc.Status.Restoring)
	}
	t.Logf("restored in place from backup %s (the data it replaced is backup %s): etcd's data restored %.1fs after the request, Ready after %.1fs",
		name, replaced, r.CompletedTime.Sub(start).Seconds(), time.Since(start).Seconds())

	// The admin kubeconfig of before, as soon as the apiserver answers through it.
	var cms *corev1.ConfigMapList
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		cms, err = tenant.CoreV1().ConfigMaps("drill").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("the admin kubeconfig of before the restore is refused: %v", err)
	}
	names := map[string]bool{}
	for _, cm := range cms.Items {
		names[cm.Name] = true
	}
	if names["after-the-backup"] || !names["cm-0000"] || !names["cm-0999"] {
		t.Errorf("after the restore: after-the-backup %v (want gone), cm-0000 %v and cm-0999 %v (want back)", names["after-the-backup"], names["cm-0000"], names["cm-0999"])
	}
	var beforeRV, afterRV int64
	_, _ = fmt.Sscan(before.ResourceVersion, &beforeRV)
	_, _ = fmt.Sscan(cms.ResourceVersion, &afterRV)
	if afterRV < beforeRV+restoreRevisionBump-1000 {
		t.Errorf("the tenant lists at resourceVersion %d after the restore, not bumped above %d before it", afterRV, beforeRV)
	}
}

// waitTenant polls tc until done says so, or fails naming what and its conditions.
func waitTenant(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, what string, timeout time.Duration, done func(*v1alpha1.TenantCluster) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return done(tc), nil
	})
	if err != nil {
		for _, c := range tc.Status.Conditions {
			t.Logf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
		}
		dumpManagerLogs(t)
		t.Fatalf("%s: not within %s", what, timeout)
	}
}
