package tenantcluster

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestHibernationStatus: each step of hibernating and waking gives the phase, Ready and the
// Hibernated condition a person reads.
func TestHibernationStatus(t *testing.T) {
	stoppedChecks := func(o *observed) {
		for _, c := range controlplane.Registry {
			o.checks[c.Condition] = check{reason: v1alpha1.HibernatedReason, message: "scaled to zero: the tenant hibernates"}
		}
		o.blocked = check{reason: v1alpha1.HibernatedReason, message: hibernatingMessage}
	}
	for _, c := range []struct {
		name       string
		hibernated bool
		had        bool // the status had a Hibernated condition
		h          hibernation
		mutate     func(*observed)
		phase      v1alpha1.TenantClusterPhase
		ready      string // Ready's reason
		hib        string // Hibernated's reason; "" absent
	}{{
		name: "awake", h: hibernation{decided: true},
		phase: v1alpha1.TenantClusterReady, ready: v1alpha1.AvailableReason,
	}, {
		name: "draining the pools: still Ready", hibernated: true,
		h:     hibernation{decided: true, stage: drainingWorkers, condition: check{reason: v1alpha1.WaitingForWorkersReason, message: "draining"}},
		phase: v1alpha1.TenantClusterHibernating, ready: v1alpha1.AvailableReason, hib: v1alpha1.WaitingForWorkersReason,
	}, {
		name: "stopping", hibernated: true,
		h:      hibernation{decided: true, stage: stopping, condition: check{reason: v1alpha1.ScalingDownReason, message: "stopping"}},
		mutate: stoppedChecks,
		phase:  v1alpha1.TenantClusterHibernating, ready: v1alpha1.HibernatedReason, hib: v1alpha1.ScalingDownReason,
	}, {
		name: "hibernated", hibernated: true,
		h:      hibernation{decided: true, stage: stopped, condition: check{ok: true, reason: v1alpha1.HibernatedReason, message: "nothing runs"}},
		mutate: stoppedChecks,
		phase:  v1alpha1.TenantClusterHibernated, ready: v1alpha1.HibernatedReason, hib: v1alpha1.HibernatedReason,
	}, {
		name: "waking", had: true,
		h: hibernation{decided: true, stage: waking, condition: check{reason: v1alpha1.WakingReason, message: "waking"}},
		mutate: func(o *observed) {
			o.checks[v1alpha1.APIServerAvailableCondition] = check{reason: v1alpha1.ProgressingReason, message: "0 of 1"}
		},
		phase: v1alpha1.TenantClusterWaking, ready: v1alpha1.NotReadyReason, hib: v1alpha1.WakingReason,
	}, {
		name: "woken: Ready, the condition goes", had: true,
		h:     hibernation{decided: true, stage: waking, condition: check{reason: v1alpha1.WakingReason, message: "waking"}},
		phase: v1alpha1.TenantClusterReady, ready: v1alpha1.AvailableReason,
	}, {
		name: "a reconcile that stopped before deciding keeps the condition", had: true, hibernated: true,
		mutate: func(o *observed) {
			o.blocked = check{reason: v1alpha1.WaitingForNamespaceReason, message: "old namespace"}
		},
		phase: v1alpha1.TenantClusterHibernating, ready: v1alpha1.WaitingForNamespaceReason, hib: v1alpha1.ScalingDownReason,
	}} {
		t.Run(c.name, func(t *testing.T) {
			tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
			tc.Spec.Version, tc.Status.Version, tc.Spec.Hibernated = "v1.36.3", "v1.36.3", c.hibernated
			if c.had {
				meta.SetStatusCondition(&tc.Status.Conditions, metav1.Condition{Type: v1alpha1.HibernatedCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.ScalingDownReason})
			}
			o := allOK()
			o.hibernation = c.h
			if c.mutate != nil {
				c.mutate(&o)
			}
			setStatus(tc, o)
			ready := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition)
			if tc.Status.Phase != c.phase || ready.Reason != c.ready {
				t.Errorf("phase %s, Ready reason %s; want %s, %s", tc.Status.Phase, ready.Reason, c.phase, c.ready)
			}
			hib := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.HibernatedCondition)
			switch {
			case c.hib == "" && hib != nil:
				t.Errorf("Hibernated %+v, want none", hib)
			case c.hib != "" && (hib == nil || hib.Reason != c.hib):
				t.Errorf("Hibernated %+v, want reason %s", hib, c.hib)
			}
		})
	}
}
