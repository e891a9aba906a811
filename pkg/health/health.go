// Package health holds pure readiness checks of the objects a tenant control plane is made
// of: they read an object's status and say whether it serves, and if not, why, in words a
// person can act on. No client, no side effects (Gardener's health checks are the model).
package health

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
)

// Deployment is available when the controller has seen the latest spec, every replica runs
// the latest template and at least one replica is available (kube-apiserver, controller
// manager and scheduler all serve with one; a rollout keeps serving).
func Deployment(d *appsv1.Deployment) (bool, string) {
	if d == nil {
		return false, "Deployment does not exist yet"
	}
	want := ptr.Deref(d.Spec.Replicas, 1)
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		return false, fmt.Sprintf("Deployment %s: waiting for the controller to observe generation %d", d.Name, d.Generation)
	case s.AvailableReplicas == 0:
		return false, fmt.Sprintf("Deployment %s: 0 of %d replicas available", d.Name, want)
	case s.UpdatedReplicas < want:
		return false, fmt.Sprintf("Deployment %s: rolling out, %d of %d replicas updated", d.Name, s.UpdatedReplicas, want)
	}
	// Fewer available than wanted still serves: it is a degraded, not a failed, component.
	return true, fmt.Sprintf("Deployment %s: %d of %d replicas available", d.Name, s.AvailableReplicas, want)
}

// StatefulSet (etcd) is available when a quorum of members is ready on the current
// revision's spec: fewer members than a quorum cannot serve writes.
func StatefulSet(s *appsv1.StatefulSet) (bool, string) {
	if s == nil {
		return false, "StatefulSet does not exist yet"
	}
	want := ptr.Deref(s.Spec.Replicas, 1)
	quorum := want/2 + 1
	st := s.Status
	switch {
	case st.ObservedGeneration < s.Generation:
		return false, fmt.Sprintf("StatefulSet %s: waiting for the controller to observe generation %d", s.Name, s.Generation)
	case st.ReadyReplicas < quorum:
		return false, fmt.Sprintf("StatefulSet %s: %d of %d members ready, a quorum needs %d", s.Name, st.ReadyReplicas, want, quorum)
	}
	return true, fmt.Sprintf("StatefulSet %s: %d of %d members ready", s.Name, st.ReadyReplicas, want)
}
