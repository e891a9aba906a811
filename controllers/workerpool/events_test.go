package workerpool

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// TestTransitionsAreSeparateSeries: client-go's event library merges events of one object,
// type, reason and action into one series and keeps the first message only; a pool whose
// servers, Nodes and readiness turn True at once has three conditions with reason Available.
func TestTransitionsAreSeparateSeries(t *testing.T) {
	var before, after v1alpha1.WorkerPool
	for _, typ := range []string{v1alpha1.ServersReadyCondition, v1alpha1.NodesReadyCondition, v1alpha1.ReadyCondition} {
		before.Status.Conditions = append(before.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: v1alpha1.ProgressingReason})
		after.Status.Conditions = append(after.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: v1alpha1.AvailableReason})
	}
	rec := events.NewFakeRecorder(10)
	rec.Verbose = true // "type reason action note…"
	(&Reconciler{Recorder: rec}).recordTransitions(&before, &after)
	close(rec.Events)
	series, n := map[string]string{}, 0
	for e := range rec.Events {
		n++
		key := strings.Join(strings.SplitN(e, " ", 4)[:3], " ")
		if first, dup := series[key]; dup {
			t.Errorf("events %q and %q are one series to the event library (same type, reason and action)", first, e)
		}
		series[key] = e
	}
	if n != 3 {
		t.Errorf("%d events, want 3", n)
	}
}
