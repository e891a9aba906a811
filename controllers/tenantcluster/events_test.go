package tenantcluster

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// TestTransitionsAreSeparateSeries: client-go's event library merges events of one object,
// type, reason and action into one series and keeps the first message only. Conditions
// turning True in one reconcile share the reason Available, so each must have its own
// action, or a user reads "AddonsReady=True" twice and never "Ready=True".
func TestTransitionsAreSeparateSeries(t *testing.T) {
	cond := func(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: "m"}
	}
	for _, tc := range []struct {
		name       string
		before     []metav1.Condition
		after      []metav1.Condition
		wantEvents int
	}{
		{"a tenant that turns Ready", []metav1.Condition{
			cond(v1alpha1.AddonsReadyCondition, metav1.ConditionFalse, v1alpha1.ProgressingReason),
			cond(v1alpha1.TenantBootstrappedCondition, metav1.ConditionFalse, v1alpha1.ProgressingReason),
			cond(v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.NotReadyReason),
		}, []metav1.Condition{
			cond(v1alpha1.AddonsReadyCondition, metav1.ConditionTrue, v1alpha1.AvailableReason),
			cond(v1alpha1.TenantBootstrappedCondition, metav1.ConditionTrue, v1alpha1.AvailableReason),
			cond(v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.AvailableReason),
		}, 3},
		{"nothing moves", []metav1.Condition{cond(v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.AvailableReason)},
			[]metav1.Condition{cond(v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.AvailableReason)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, after := &v1alpha1.TenantCluster{}, &v1alpha1.TenantCluster{}
			before.Status.Conditions, after.Status.Conditions = tc.before, tc.after
			rec := events.NewFakeRecorder(10)
			rec.Verbose = true // "type reason action note…"
			(&Reconciler{Recorder: rec}).recordTransitions(before, after)
			close(rec.Events)
			series := map[string]string{}
			n := 0
			for e := range rec.Events {
				n++
				f := strings.SplitN(e, " ", 4)
				key := strings.Join(f[:3], " ")
				if first, dup := series[key]; dup {
					t.Errorf("events %q and %q are one series to the event library (same type, reason and action)", first, e)
				}
				series[key] = e
			}
			if n != tc.wantEvents {
				t.Errorf("%d events, want %d", n, tc.wantEvents)
			}
		})
	}
}
