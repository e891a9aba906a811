package tenantcluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// hibernateStage is where a tenant is on its way to hibernation, or back from it; empty
// when awake.
type hibernateStage string

const (
	// waking: spec.hibernated was cleared; the Hibernated condition stays (Waking) until
	// the control plane is Ready again.
	waking hibernateStage = "waking"
	// drainingWorkers: the control plane serves while the pools drain and delete their
	// servers (they count as zero: controllers/workerpool).
	drainingWorkers hibernateStage = "workers"
	// finalBackup: the control plane serves until a backup newer than the hibernation's
	// start is written.
	finalBackup hibernateStage = "backup"
	// stopping: the controllers and apiservers are scaled to zero, then etcd; stopped: no
	// control-plane pod is left.
	stopping hibernateStage = "stopping"
	stopped  hibernateStage = "stopped"
)

// hibernation is what the hibernation phase decided for this reconcile.
type hibernation struct {
	stage hibernateStage
	// since is when the hibernation began: its final backup must be newer.
	since time.Time
	// down are the components rendered with no replica.
	down map[controlplane.Component]bool
	// condition is the Hibernated condition's (no reason: absent, once decided).
	condition check
	decided   bool
}

// serving: the control plane runs (awake, waking, or hibernating but not stopping yet).
func (h hibernation) serving() bool { return h.stage != stopping && h.stage != stopped }

// hibernatingPoll looks again at pods that are going away (pods are not watched).
const hibernatingPoll = 5 * time.Second

// reconcileHibernation decides, from spec.hibernated and what runs, which step of hibernating
// (or waking) the tenant is at. Only the control plane's own workloads and the pools'
// status are read: a stopped tenant is never dialled.
func (r *Reconciler) reconcileHibernation(ctx context.Context, s *scope) (bool, error) {
	tc := s.tc
	prev := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.HibernatedCondition)
	h := &s.o.hibernation
	h.decided = true
	if !tc.Spec.Hibernated {
		if prev != nil {
			h.stage = waking
			h.condition = check{reason: v1alpha1.WakingReason, message: "spec.hibernated was cleared: etcd, the apiservers and the controllers start; the WorkerPools make their servers once the control plane is Ready"}
		}
		return false, nil
	}
	h.since = time.Now().Truncate(time.Second)
	if prev != nil && prev.Status == metav1.ConditionFalse && prev.Reason != v1alpha1.WakingReason {
		h.since = prev.LastTransitionTime.Time
	}
	// The autoscaler goes first: it must not resize the pools being drained.
	s.autoscaledPools = nil
	h.down = map[controlplane.Component]bool{controlplane.Autoscaler: true}

	api, err := r.workload(ctx, s, controlplane.APIServer)
	if err != nil {
		return true, err
	}
	if api.exists && api.replicas > 0 {
		pools, err := r.poolsWithServers(ctx, tc)
		if err != nil {
			return true, err
		}
		switch {
		case len(pools) > 0:
			h.stage = drainingWorkers
			h.condition = check{reason: v1alpha1.WaitingForWorkersReason, message: "draining the nodes and deleting the servers of WorkerPools " + strings.Join(pools, ", ") + " before the control plane stops"}
			return false, nil
		case r.wantsFinalBackup(tc, h.since):
			h.stage = finalBackup
			h.condition = check{reason: v1alpha1.WaitingForBackupReason, message: "taking the final etcd backup before the control plane stops"}
			return false, nil
		}
	}
	// Stopping: controllers and apiservers now, etcd once no apiserver pod is left.
	h.stage = stopping
	for _, c := range controlplane.Registry {
		if c.Component != controlplane.Etcd {
			h.down[c.Component] = true
		}
	}
	if api.pods > 0 {
		h.condition = check{reason: v1alpha1.ScalingDownReason, message: "the apiservers and controllers are stopping; etcd stops after them"}
		return false, nil
	}
	h.down[controlplane.Etcd] = true
	left, err := r.controlPlanePods(ctx, s)
	if err != nil {
		return true, err
	}
	if len(left) > 0 {
		h.condition = check{reason: v1alpha1.ScalingDownReason, message: "waiting for pods " + strings.Join(left, ", ") + " to stop"}
		s.requeueAfter(hibernatingPoll)
		return false, nil
	}
	h.stage = stopped
	h.condition = check{ok: true, reason: v1alpha1.HibernatedReason, message: "no control-plane pod and no worker runs; etcd's volumes, the certificates and the endpoint are kept"}
	return false, nil
}

// hibernatingMessage is Ready's, and every component's, while the control plane is down.
const hibernatingMessage = "the tenant hibernates (spec.hibernated): its control plane is scaled to zero; set spec.hibernated to false to wake it"

// poolsWithServers names the tenant's WorkerPools whose status counts a server.
func (r *Reconciler) poolsWithServers(ctx context.Context, tc *v1alpha1.TenantCluster) ([]string, error) {
	list := &v1alpha1.WorkerPoolList{}
	if err := r.Client.List(ctx, list, client.InNamespace(tc.Namespace)); err != nil {
		return nil, fmt.Errorf("list WorkerPools of %s: %w", tc.Name, err)
	}
	var out []string
	for _, p := range list.Items {
		if p.Spec.ClusterName == tc.Name && p.Status.Replicas > 0 {
			out = append(out, fmt.Sprintf("%s (%d)", p.Name, p.Status.Replicas))
		}
	}
	slices.Sort(out)
	return out, nil
}

// wantsFinalBackup: backups are configured (and not skipped by the annotation deletions use
// too) and none was written since the hibernation began.
func (r *Reconciler) wantsFinalBackup(tc *v1alpha1.TenantCluster, since time.Time) bool {
	if tc.Spec.ControlPlane.Etcd.Backup == nil || r.Backups == nil || tc.Annotations[SkipFinalBackupAnnotation] == "true" {
		return false
	}
	b := tc.Status.Backup
	return b == nil || b.LastSuccessfulTime == nil || !b.LastSuccessfulTime.After(since)
}

// controlPlanePods names the tenant's pods left in the control-plane namespace (live: the
// manager caches no pods).
func (r *Reconciler) controlPlanePods(ctx context.Context, s *scope) ([]string, error) {
	pods := &corev1.PodList{}
	if err := r.apiReader().List(ctx, pods, client.InNamespace(s.namespace()), client.MatchingLabels{controlplane.LabelTenantCluster: s.tc.Name}); err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", s.tc.Name, err)
	}
	var out []string
	for _, p := range pods.Items {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out, nil
}

// poolEmptied: a pool's last server is gone, which a hibernating tenant waits for.
func poolEmptied(oldPool, newPool *v1alpha1.WorkerPool) bool {
	return oldPool.Status.Replicas > 0 && newPool.Status.Replicas == 0
}

// held is the render's Held: the components waiting for their dependencies and those the
// hibernation scales to zero.
func (h hibernation) held(waiting map[controlplane.Component]bool) map[controlplane.Component]bool {
	if len(h.down) == 0 {
		return waiting
	}
	out := make(map[controlplane.Component]bool, len(waiting)+len(h.down))
	for c, v := range waiting {
		out[c] = v
	}
	for c := range h.down {
		out[c] = true
	}
	return out
}

// noteFinalBackup puts why the final backup cannot be taken, from the BackedUp check, on
// the Hibernated condition.
func (h *hibernation) noteFinalBackup(c check) {
	if h.stage != finalBackup || c.ok || c.reason == "" || c.reason == v1alpha1.BackupPendingReason {
		return
	}
	h.condition = check{reason: c.reason, message: "the final backup before hibernation cannot be taken (set annotation " +
		SkipFinalBackupAnnotation + "=true to hibernate without it): " + c.message}
}
