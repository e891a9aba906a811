// Package reconcileutil holds what every kubeseed reconciler does the same way.
package reconcileutil

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PatchStatus is the deferred half of Cluster API's reconcile skeleton: a status that did
// not change is not written (a no-op reconcile makes no writes); one that did is patched
// once, as a merge patch from before, and transitioned is called after the write succeeded
// (events are for changes the API server took). NotFound is no error, and no event: the
// finalizer was just removed and the object is gone. It returns reterr joined with the patch's error.
// opts are the merge patch's: with client.MergeFromWithOptimisticLock a status computed from a
// stale cached copy is refused (a conflict, retried by the requeue) instead of overwriting a
// newer one.
func PatchStatus(ctx context.Context, c client.Client, before, after client.Object, unchanged bool, reterr error, transitioned func(), opts ...client.MergeFromOption) error {
	if unchanged {
		return reterr
	}
	switch err := c.Status().Patch(ctx, after, client.MergeFromWithOptions(before, opts...)); {
	case apierrors.IsNotFound(err):
		return reterr
	case err != nil:
		return errors.Join(reterr, fmt.Errorf("patch status: %w", err))
	}
	transitioned()
	return reterr
}
