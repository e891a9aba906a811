package reconcileutil

import (
	"time"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/handler"
)

// Poll is the result of a reconcile that looks again after d only because nothing reports
// what it waits for (a tenant's inside, a cloud): at low priority. controller-runtime's
// priority queue gives the objects of its initial list, every object when the manager
// starts, low priority; polls at normal priority would keep a busy manager from ever
// reconciling those (seen with 250 tenants: 66 never reconciled). Changes that events
// report still go first. Zero d: no requeue.
func Poll(d time.Duration) ctrl.Result {
	if d <= 0 {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: d, Priority: ptr.To(handler.LowPriority)}
}
