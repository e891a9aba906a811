package tenantcluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// rolloutSlots bounds how many tenants roll their control planes at once because a new
// kubeseed release (or a changed operator setting) renders them differently: a fleet is
// re-rendered gradually, never all at once. Memory of the leader; a restart starts empty.
type rolloutSlots struct {
	mu      sync.Mutex
	holders map[types.UID]time.Time // when each took its slot
	waiting map[types.UID]bool
}

// rolloutSlotTimeout frees the slot of a tenant whose rollout does not finish (a component
// that never becomes available), so that a few broken tenants cannot stall a fleet.
const rolloutSlotTimeout = 10 * time.Minute

// acquire gives uid a slot when one of max is free (or it holds one); max 0 means no bound.
func (s *rolloutSlots) acquire(uid types.UID, max int, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holders == nil {
		s.holders, s.waiting = map[types.UID]time.Time{}, map[types.UID]bool{}
	}
	if _, ok := s.holders[uid]; ok {
		return true
	}
	// A holder that never finished (and never came back to release: paused, stuck in an
	// earlier phase) gives its slot up after the timeout.
	for h, since := range s.holders {
		if now.Sub(since) >= rolloutSlotTimeout {
			delete(s.holders, h)
		}
	}
	if max <= 0 || len(s.holders) < max {
		s.holders[uid] = now
		delete(s.waiting, uid)
		return true
	}
	s.waiting[uid] = true
	return false
}

// notWaiting forgets that uid waited: it needs no slot any more.
func (s *rolloutSlots) notWaiting(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waiting, uid)
}

// heldSince is when uid took its slot; zero when it holds none.
func (s *rolloutSlots) heldSince(uid types.UID) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holders[uid]
}

// release frees uid's slot, if it holds one, and forgets that it waited.
func (s *rolloutSlots) release(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.holders, uid)
	delete(s.waiting, uid)
}

func (s *rolloutSlots) holds(uid types.UID) bool { return !s.heldSince(uid).IsZero() }

// counts is how many hold a slot and how many wait for one.
func (s *rolloutSlots) counts() (holding, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.holders), len(s.waiting)
}

// release is the kubeseed release stamped on what this manager renders.
func (r *Reconciler) release() string {
	if r.Release != "" {
		return r.Release
	}
	return versions.Kubeseed
}

// awaitRolloutSlot decides whether a render may be applied now: one that would roll
// workloads another release rendered, while the tenant's spec is unchanged, needs one of
// the MaxConcurrentRollouts slots; without one, nothing is applied and the UpToDate
// condition says the tenant waits its turn. A change of the tenant's own spec never waits.
func (r *Reconciler) awaitRolloutSlot(ctx context.Context, s *scope, desired map[string]controlplane.Stamp) (bool, error) {
	tc := s.tc
	if tc.Generation != tc.Status.ObservedGeneration || r.rollouts.holds(tc.UID) {
		return true, nil
	}
	live := map[string]controlplane.Stamp{}
	for _, c := range controlplane.Registry {
		name := c.Component.ObjectName(tc.Name)
		if _, ok := desired[name]; !ok {
			// Only rendered components can roll; reading one left out would cost a live
			// GET every reconcile (getOptional asks the API about what the cache lacks).
			continue
		}
		var obj interface {
			GetAnnotations() map[string]string
		}
		switch c.Workload {
		case controlplane.StatefulSet:
			sts, err := getOptional[appsv1.StatefulSet](ctx, r, s.namespace(), name)
			if err != nil || sts == nil {
				if err != nil {
					return false, err
				}
				continue
			}
			obj = sts
		default:
			d, err := getOptional[appsv1.Deployment](ctx, r, s.namespace(), name)
			if err != nil || d == nil {
				if err != nil {
					return false, err
				}
				continue
			}
			obj = d
		}
		a := obj.GetAnnotations()
		live[name] = controlplane.Stamp{Release: a[controlplane.ReleaseAnnotation], Hash: a[controlplane.TemplateHashAnnotation]}
	}
	rolls := controlplane.OperatorRollouts(live, desired, r.release())
	if len(rolls) == 0 {
		r.rollouts.notWaiting(tc.UID)
	}
	if len(rolls) == 0 || r.rollouts.acquire(tc.UID, r.MaxConcurrentRollouts, time.Now()) {
		if len(rolls) > 0 {
			r.Recorder.Eventf(tc, nil, "Normal", "RolloutStarted", "Reconcile",
				"kubeseed %s renders %s anew: rolling them (at most %d tenants at a time)", r.release(), strings.Join(rolls, ", "), r.MaxConcurrentRollouts)
		}
		return true, nil
	}
	holding, waiting := r.rollouts.counts()
	s.o.rolloutWait = check{reason: v1alpha1.WaitingForRolloutReason, message: fmt.Sprintf(
		"kubeseed %s renders %s anew; %d tenants roll at a time and %d do now (%d waiting): this one rolls when a slot frees",
		r.release(), strings.Join(rolls, ", "), r.MaxConcurrentRollouts, holding, waiting)}
	s.requeueAfter(requeueWhileProgressing)
	return false, nil
}

// releaseRolloutSlot frees the tenant's slot once every component's workload carries this
// render (its stamp) and is rolled out, as the cache shows it, or rolloutSlotTimeout after
// it took it. Availability alone is not enough: right after the apply the cache may still
// show the old, available workload.
func (r *Reconciler) releaseRolloutSlot(ctx context.Context, s *scope) error {
	since := r.rollouts.heldSince(s.tc.UID)
	if since.IsZero() {
		return nil
	}
	if time.Since(since) >= rolloutSlotTimeout {
		r.rollouts.release(s.tc.UID)
		r.Recorder.Eventf(s.tc, nil, "Warning", "RolloutSlotTimedOut", "Reconcile",
			"the control plane has not finished rolling out %s after it began: its rollout slot goes to the next tenant", rolloutSlotTimeout)
		return nil
	}
	for _, c := range controlplane.Registry {
		name := c.Component.ObjectName(s.tc.Name)
		if _, rendered := s.stamps[name]; !rendered {
			continue // an optional component left out: nothing of it rolls
		}
		var stamp string
		var done bool
		switch c.Workload {
		case controlplane.StatefulSet:
			sts, err := getOptional[appsv1.StatefulSet](ctx, r, s.namespace(), name)
			if err != nil || sts == nil {
				return err
			}
			st, want := sts.Status, ptr.Deref(sts.Spec.Replicas, 1)
			stamp = sts.Annotations[controlplane.TemplateHashAnnotation]
			done = st.ObservedGeneration == sts.Generation && st.UpdatedReplicas == want && st.ReadyReplicas == want && st.CurrentRevision == st.UpdateRevision
		default:
			d, err := getOptional[appsv1.Deployment](ctx, r, s.namespace(), name)
			if err != nil || d == nil {
				return err
			}
			st, want := d.Status, ptr.Deref(d.Spec.Replicas, 1)
			stamp = d.Annotations[controlplane.TemplateHashAnnotation]
			done = st.ObservedGeneration == d.Generation && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want
		}
		if stamp != s.stamps[name].Hash || !done {
			return nil
		}
	}
	r.rollouts.release(s.tc.UID)
	r.Recorder.Eventf(s.tc, nil, "Normal", "RolloutFinished", "Reconcile",
		"the control plane rolled out kubeseed %s's render: its rollout slot goes to the next tenant", r.release())
	return nil
}
