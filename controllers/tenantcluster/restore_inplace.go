package tenantcluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// A restore in place (spec.restore.inPlace) is a restore into a tenant whose etcd runs: once
// the backup is opened and its keys are found to be the tenant's own, a backup of the data
// it replaces is taken (when backups are configured and etcd is available), the restore is
// recorded in status.restoring, and only at the next reconcile is etcd's StatefulSet no
// longer rendered (the apply prunes it; its claims go with it, whenDeleted: Delete) and
// every other component held; once no etcd pod or claim is left the restore goes on as a
// new tenant's does: one member restored, then grown.

// SkipPreRestoreBackupAnnotation set to "true" on a TenantCluster lets an in-place restore
// begin without the backup of the data it replaces.
const SkipPreRestoreBackupAnnotation = "kubeseed.io/skip-pre-restore-backup"

// restoreTarget is the restore this reconcile works on: spec.restore's while its backup is
// not the one status.restore records (a backup is restored once per name), else the one
// under way (status.restoring), which a spec set back to the recorded backup does not end
// half done. Nil when there is none.
func restoreTarget(tc *v1alpha1.TenantCluster) *v1alpha1.RestoreSpec {
	if r := tc.Spec.Restore; r != nil && (tc.Status.Restore == nil || tc.Status.Restore.Backup != r.Backup) {
		return r
	}
	return tc.Status.Restoring
}

// restoreRefused tells why the restore target cannot be restored now. A tenant whose etcd
// still runs (nothing was stopped) runs on and is reconciled, EtcdAvailable saying it; a
// restore under way waits with the reason on every component, until it can go on or
// spec.restore names another backup.
func (r *Reconciler) restoreRefused(s *scope, sts *appsv1.StatefulSet, c check) (bool, error) {
	tc := s.tc
	told := v1alpha1.ReadyCondition
	if sts != nil && tc.Status.Restoring == nil {
		told = v1alpha1.EtcdAvailableCondition
	}
	if prev := meta.FindStatusCondition(tc.Status.Conditions, told); prev == nil || !strings.HasPrefix(prev.Message, c.message) {
		r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, c.reason, "Restore", "%s", c.message)
	}
	s.requeueAfter(restoreRetry)
	if told == v1alpha1.EtcdAvailableCondition {
		s.o.restore.waiting = c
		return false, nil
	}
	s.o.blocked = c
	return true, nil
}

// awaitsPreRestoreBackup says whether an in-place restore waits for a backup of the data it
// replaces: with backups configured, none written since the spec last changed, and the
// annotation does not skip it. A broken etcd, what a restore is often for, has nothing to
// back up: once EtcdAvailable has been False for preRestoreBackupGiveUp (not a readiness
// blip), and no backup runs, the restore goes on without it.
func (r *Reconciler) awaitsPreRestoreBackup(tc *v1alpha1.TenantCluster) bool {
	if tc.Annotations[SkipPreRestoreBackupAnnotation] == "true" || !r.awaitsBackupOfSpec(tc) {
		return false
	}
	if _, _, running := r.Backups.State(tc.Namespace + "/" + tc.Name); running {
		return true // begun: whatever etcd's readiness does meanwhile
	}
	c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.EtcdAvailableCondition)
	return c == nil || c.Status == metav1.ConditionTrue || time.Since(c.LastTransitionTime.Time) < preRestoreBackupGiveUp
}

// preRestoreBackupGiveUp is how long etcd must have been unavailable before an in-place
// restore stops waiting for a backup of the data it replaces.
const preRestoreBackupGiveUp = 2 * time.Minute

// etcdLeftovers names what is left of the etcd an in-place restore replaces: its pods, and
// the claims its StatefulSet owned (the garbage collector deletes them once it is gone).
// The restore's own claim is made only when none is left. Empty when nothing is.
func (r *Reconciler) etcdLeftovers(ctx context.Context, s *scope) (string, error) {
	tc := s.tc
	pods := &corev1.PodList{}
	if err := r.apiReader().List(ctx, pods, client.InNamespace(s.namespace()), client.MatchingLabels(controlplane.Labels(tc.Name, controlplane.Etcd))); err != nil {
		return "", fmt.Errorf("list etcd's pods: %w", err)
	}
	var left []string
	for i := range pods.Items {
		p := &pods.Items[i]
		left = append(left, "pod "+p.Name)
		// A pod of a node that is gone or lost is never confirmed gone by its kubelet.
		if !p.DeletionTimestamp.IsZero() {
			if lost, err := r.restoreNodeLost(ctx, p); err != nil {
				return "", err
			} else if lost != "" {
				if err := r.forceDeletePod(ctx, p); err != nil {
					return "", err
				}
			}
		}
	}
	claims := &corev1.PersistentVolumeClaimList{}
	if err := r.Client.List(ctx, claims, client.InNamespace(s.namespace())); err != nil {
		return "", fmt.Errorf("list etcd's claims: %w", err)
	}
	prefix := strings.TrimSuffix(controlplane.EtcdDataClaimName(tc.Name, 0), "0")
	for _, c := range claims.Items {
		for _, o := range c.OwnerReferences {
			if strings.HasPrefix(c.Name, prefix) && o.Kind == "StatefulSet" {
				left = append(left, "claim "+c.Name)
				break
			}
		}
	}
	return strings.Join(left, ", "), nil
}
