package reconcileutil

import (
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/handler"
)

func TestPollIsLowPriority(t *testing.T) {
	for _, tt := range []struct {
		d            time.Duration
		wantRequeue  time.Duration
		wantPriority *int
	}{
		{d: 0},
		{d: 30 * time.Second, wantRequeue: 30 * time.Second, wantPriority: new(handler.LowPriority)},
	} {
		got := Poll(tt.d)
		if got.RequeueAfter != tt.wantRequeue || (got.Priority == nil) != (tt.wantPriority == nil) ||
			(got.Priority != nil && *got.Priority != *tt.wantPriority) {
			t.Errorf("Poll(%v) = %+v, want RequeueAfter %v at priority %v", tt.d, got, tt.wantRequeue, tt.wantPriority)
		}
	}
}
