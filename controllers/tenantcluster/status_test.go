package tenantcluster

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

func allOK() observed {
	ok := check{ok: true, reason: v1alpha1.AvailableReason, message: "fine"}
	o := newObserved()
	o.endpoint = "https://192.0.2.2:30443"
	for _, c := range controlplane.Conditions() {
		if c.Ready {
			o.checks[c.Type] = ok
		}
	}
	return o
}

func TestSetStatus(t *testing.T) {
	now := metav1.Now()
	cases := []struct {
		name          string
		statusVersion string
		deleting      bool
		mutate        func(*observed)
		wantPhase     v1alpha1.TenantClusterPhase
		wantReady     metav1.ConditionStatus
		wantReason    string
		wantInMessage string
	}{
		{name: "everything available", wantPhase: v1alpha1.TenantClusterReady, wantReady: metav1.ConditionTrue, wantReason: v1alpha1.AvailableReason},
		{
			name: "first creation waits for certificates",
			mutate: func(o *observed) {
				o.checks[v1alpha1.CertificatesReadyCondition] = check{reason: v1alpha1.WaitingForCertificatesReason, message: "2 of 12 issued"}
			},
			wantPhase: v1alpha1.TenantClusterProvisioning, wantReady: metav1.ConditionFalse,
			wantReason: v1alpha1.NotReadyReason, wantInMessage: "CertificatesReady: 2 of 12 issued",
		},
		{
			name: "was ready, apiserver down", statusVersion: "v1.36.3",
			mutate: func(o *observed) {
				o.checks[v1alpha1.APIServerAvailableCondition] = check{message: "0 of 2 replicas available"}
			},
			wantPhase: v1alpha1.TenantClusterDegraded, wantReady: metav1.ConditionFalse,
			wantReason: v1alpha1.NotReadyReason, wantInMessage: "APIServerAvailable: 0 of 2",
		},
		{
			name: "upgrade in progress", statusVersion: "v1.35.4",
			mutate:    func(o *observed) { o.checks[v1alpha1.APIServerAvailableCondition] = check{message: "rolling out"} },
			wantPhase: v1alpha1.TenantClusterUpgrading, wantReady: metav1.ConditionFalse, wantReason: v1alpha1.NotReadyReason,
		},
		{
			name: "invalid spec",
			mutate: func(o *observed) {
				o.invalid = "spec.controlPlane.apiServer.extraArgs: etcd-servers is managed by kubeseed"
				o.checks[v1alpha1.EtcdAvailableCondition] = check{}
			},
			wantPhase: v1alpha1.TenantClusterProvisioning, wantReady: metav1.ConditionFalse,
			wantReason: v1alpha1.InvalidSpecReason, wantInMessage: "etcd-servers is managed",
		},
		{name: "deleting", deleting: true, wantPhase: v1alpha1.TenantClusterDeleting, wantReady: metav1.ConditionTrue, wantReason: v1alpha1.AvailableReason},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
			tc.Spec.Version = "v1.36.3"
			tc.Status.Version = c.statusVersion
			if c.deleting {
				tc.DeletionTimestamp = &now
			}
			o := allOK()
			if c.mutate != nil {
				c.mutate(&o)
			}
			setStatus(tc, o)
			ready := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition)
			if tc.Status.Phase != c.wantPhase || ready == nil || ready.Status != c.wantReady || ready.Reason != c.wantReason {
				t.Fatalf("phase %s, Ready %+v; want %s, %s/%s", tc.Status.Phase, ready, c.wantPhase, c.wantReady, c.wantReason)
			}
			if !strings.Contains(ready.Message, c.wantInMessage) {
				t.Errorf("Ready message %q does not contain %q", ready.Message, c.wantInMessage)
			}
			if ready.ObservedGeneration != 3 {
				t.Errorf("Ready observedGeneration %d, want 3", ready.ObservedGeneration)
			}
			for _, ct := range controlplane.Conditions() {
				if ct.Ready && meta.FindStatusCondition(tc.Status.Conditions, ct.Type) == nil {
					t.Errorf("condition %s missing: conditions are set from the first visit", ct.Type)
				}
			}
		})
	}
}

// TestSetStatusIsStable: the same observation twice leaves the status identical, so a
// reconcile with nothing to do writes nothing.
func TestSetStatusIsStable(t *testing.T) {
	tc := &v1alpha1.TenantCluster{}
	tc.Spec.Version = "v1.36.3"
	setStatus(tc, allOK())
	first := tc.Status.DeepCopy()
	setStatus(tc, allOK())
	if !equalStatus(first, &tc.Status) {
		t.Errorf("status changed on an identical observation:\n%+v\n%+v", first, tc.Status)
	}
}

// TestTenantConditionsStayOutOfReady: TenantBootstrapped and AddonsReady are reported, but
// Ready means the control plane serves; a reconcile that did not reach the tenant leaves
// them as they were.
func TestTenantConditionsStayOutOfReady(t *testing.T) {
	tc := &v1alpha1.TenantCluster{Spec: v1alpha1.TenantClusterSpec{Version: "v1.36.3"}}
	o := allOK()
	o.checks[v1alpha1.TenantBootstrappedCondition] = check{reason: v1alpha1.TenantUnreachableReason, message: "dial tcp: i/o timeout"}
	o.checks[v1alpha1.AddonsReadyCondition] = check{reason: v1alpha1.WaitingForNodesReason, message: "no Ready node"}
	setStatus(tc, o)
	if !meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition) || tc.Status.Phase != v1alpha1.TenantClusterReady {
		t.Errorf("Ready is held back by the tenant's inside: %+v", tc.Status)
	}
	for typ, reason := range map[string]string{
		v1alpha1.TenantBootstrappedCondition: v1alpha1.TenantUnreachableReason,
		v1alpha1.AddonsReadyCondition:        v1alpha1.WaitingForNodesReason,
	} {
		c := meta.FindStatusCondition(tc.Status.Conditions, typ)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason {
			t.Errorf("%s = %+v, want False/%s", typ, c, reason)
		}
	}
	// A later reconcile that failed before reaching the tenant: the conditions stay.
	setStatus(tc, allOK())
	if c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.AddonsReadyCondition); c == nil || c.Reason != v1alpha1.WaitingForNodesReason {
		t.Errorf("AddonsReady changed without an observation: %+v", c)
	}
}

// TestUpgradeStatus: an upgrade shows in phase Upgrading and the UpToDate condition at each
// stage, status.version moves only once every component runs spec.version, and an upgrade
// that cannot progress says why while the tenant stays Ready.
func TestUpgradeStatus(t *testing.T) {
	const old, target = "v1.35.4", "v1.36.3"
	plan := func(stage controlplane.UpgradeStage) controlplane.UpgradePlan {
		return controlplane.UpgradePlan{Stage: stage, Message: "stage " + string(stage)}
	}
	cases := []struct {
		name          string
		statusVersion string
		addons        string // status.addons.kubernetesVersion; empty: none pinned
		mutate        func(*observed)
		wantPhase     v1alpha1.TenantClusterPhase
		wantVersion   string
		wantUpToDate  metav1.ConditionStatus // empty: no condition
		wantReason    string
	}{
		{name: "a new tenant reports no upgrade", mutate: func(o *observed) { o.upgrade = plan(controlplane.UpgradeDone) },
			wantPhase: v1alpha1.TenantClusterReady, wantVersion: target, wantUpToDate: metav1.ConditionTrue, wantReason: v1alpha1.UpToDateReason},
		{name: "a new tenant still rolling out is Provisioning", mutate: func(o *observed) {
			o.upgrade = plan(controlplane.UpgradeControllers)
			o.checks[v1alpha1.SchedulerAvailableCondition] = check{message: "0 of 2"}
		}, wantPhase: v1alpha1.TenantClusterProvisioning},
		{name: "settled", statusVersion: target, addons: target, mutate: func(o *observed) { o.upgrade = plan(controlplane.UpgradeDone) },
			wantPhase: v1alpha1.TenantClusterReady, wantVersion: target, wantUpToDate: metav1.ConditionTrue, wantReason: v1alpha1.UpToDateReason},
		{name: "apiservers rolling, every component serving", statusVersion: old, addons: old, mutate: func(o *observed) { o.upgrade = plan(controlplane.UpgradeAPIServers) },
			wantPhase: v1alpha1.TenantClusterUpgrading, wantVersion: old, wantUpToDate: metav1.ConditionFalse, wantReason: v1alpha1.UpgradingAPIServersReason},
		{name: "controllers rolling", statusVersion: old, addons: old, mutate: func(o *observed) { o.upgrade = plan(controlplane.UpgradeControllers) },
			wantPhase: v1alpha1.TenantClusterUpgrading, wantVersion: old, wantUpToDate: metav1.ConditionFalse, wantReason: v1alpha1.UpgradingControllersReason},
		{name: "control plane done, addons not re-pinned yet", statusVersion: old, addons: old, mutate: func(o *observed) { o.upgrade = plan(controlplane.UpgradeDone) },
			wantPhase: v1alpha1.TenantClusterUpgrading, wantVersion: target, wantUpToDate: metav1.ConditionFalse, wantReason: v1alpha1.UpgradingAddonsReason},
		{name: "addons re-pinned in this reconcile", statusVersion: target, addons: old, mutate: func(o *observed) {
			o.upgrade = plan(controlplane.UpgradeDone)
			o.addons = &v1alpha1.AddonVersions{KubernetesVersion: target}
		}, wantPhase: v1alpha1.TenantClusterReady, wantVersion: target, wantUpToDate: metav1.ConditionTrue, wantReason: v1alpha1.UpToDateReason},
		{name: "waiting for a rollout slot is no upgrade of the tenant's", statusVersion: target, addons: target, mutate: func(o *observed) {
			o.upgrade = plan(controlplane.UpgradeDone)
			o.rolloutWait = check{reason: v1alpha1.WaitingForRolloutReason, message: "5 tenants roll at a time"}
		}, wantPhase: v1alpha1.TenantClusterReady, wantVersion: target, wantUpToDate: metav1.ConditionFalse, wantReason: v1alpha1.WaitingForRolloutReason},
		{name: "stalled: the new apiserver cannot be scheduled", statusVersion: old, addons: old, mutate: func(o *observed) {
			o.upgrade = plan(controlplane.UpgradeAPIServers)
			o.upgradeStalled = check{reason: v1alpha1.UnschedulableReason, message: "0/1 nodes are available: 1 Insufficient cpu"}
		}, wantPhase: v1alpha1.TenantClusterUpgrading, wantVersion: old, wantUpToDate: metav1.ConditionFalse, wantReason: v1alpha1.UnschedulableReason},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
			tc.Spec.Version, tc.Status.Version = target, c.statusVersion
			if c.addons != "" {
				tc.Status.Addons = &v1alpha1.AddonVersions{KubernetesVersion: c.addons}
			}
			o := allOK()
			c.mutate(&o)
			setStatus(tc, o)
			if tc.Status.Phase != c.wantPhase || tc.Status.Version != c.wantVersion {
				t.Errorf("phase %s, version %q; want %s, %q", tc.Status.Phase, tc.Status.Version, c.wantPhase, c.wantVersion)
			}
			got := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.UpToDateCondition)
			switch {
			case c.wantUpToDate == "" && got != nil:
				t.Errorf("UpToDate %+v, want none", got)
			case c.wantUpToDate != "" && (got == nil || got.Status != c.wantUpToDate || got.Reason != c.wantReason):
				t.Errorf("UpToDate %+v, want %s %s", got, c.wantUpToDate, c.wantReason)
			}
			if ready := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition); c.wantPhase == v1alpha1.TenantClusterUpgrading && ready.Status != metav1.ConditionTrue {
				t.Errorf("Ready %+v while upgrading: the tenant serves", ready)
			}
		})
	}
}
