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
