package workerpool

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// check is what one part of a reconcile observed about one condition. The zero check
// (no reason) was not observed: its condition is Unknown.
type check struct {
	ok      bool
	reason  string
	message string
}

// observed is everything a reconcile saw; the status is a pure function of it.
type observed struct {
	servers check
	nodes   check
	// counted is false when Nova could not be read, nodesCounted when the tenant could
	// not: the counts stay as they were.
	counted, nodesCounted bool
	replicas, ready       int32
	deleting              bool
	// version is the pool's version, updated the servers of its current template, rollout
	// the Progressing condition (nil: not observed, left as it was).
	version string
	updated int32
	rollout *check
	// allocatable is status.nodeAllocatable when allocatableKnown (nodeAllocatable).
	allocatable      corev1.ResourceList
	allocatableKnown bool
	// requeue is when a deletion looks again.
	requeue time.Duration
}

// Selector is status.selector of a pool: its Nodes in the tenant.
func Selector(pool string) string { return PoolLabel + "=" + pool }

// maxConditionMessage bounds a condition's message (the API allows 32768 bytes).
const maxConditionMessage = 4096

// setStatus writes the counts and the ServersReady, NodesReady and Ready conditions.
// LastTransitionTime changes only when a condition's status does, so an unchanged pool
// yields an unchanged status and the reconcile writes nothing.
func setStatus(wp *v1alpha1.WorkerPool, o observed) {
	gen := wp.Generation
	set := func(t string, c check) {
		status := metav1.ConditionFalse
		switch {
		case c.ok:
			status = metav1.ConditionTrue
		case c.reason == "":
			status, c.reason, c.message = metav1.ConditionUnknown, v1alpha1.ProgressingReason, "not observed yet"
		}
		// Parts of messages come from the customer's cloud (faults, names): cleaned and
		// bounded, so that no message can make the status patch fail.
		meta.SetStatusCondition(&wp.Status.Conditions, metav1.Condition{
			Type: t, Status: status, Reason: c.reason, Message: openstack.CleanMessage(c.message, maxConditionMessage), ObservedGeneration: gen,
		})
	}
	wp.Status.Selector = Selector(wp.Name)
	if o.counted {
		wp.Status.Replicas = o.replicas
	}
	if o.nodesCounted {
		wp.Status.ReadyReplicas = o.ready
	}
	if o.version != "" {
		wp.Status.Version = o.version
	}
	if o.allocatableKnown {
		wp.Status.NodeAllocatable = o.allocatable
	}
	if o.rollout != nil {
		wp.Status.UpdatedReplicas = o.updated
		status := metav1.ConditionFalse
		if o.rollout.ok {
			status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&wp.Status.Conditions, metav1.Condition{
			Type: v1alpha1.ProgressingCondition, Status: status, Reason: o.rollout.reason,
			Message: openstack.CleanMessage(o.rollout.message, maxConditionMessage), ObservedGeneration: gen,
		})
	}
	set(v1alpha1.ServersReadyCondition, o.servers)
	set(v1alpha1.NodesReadyCondition, o.nodes)
	set(v1alpha1.ReadyCondition, summary(o))
}

// summary is the Ready condition: True when both others are, else the reason of the first
// that is not (ServersReady, then NodesReady) and both messages.
func summary(o observed) check {
	if o.deleting {
		return check{reason: v1alpha1.DeletingReason, message: "the WorkerPool is being deleted: " + o.servers.message}
	}
	if o.servers.ok && o.nodes.ok {
		return check{ok: true, reason: v1alpha1.AvailableReason, message: o.nodes.message}
	}
	var parts []string
	reason := ""
	for _, c := range []struct {
		t string
		c check
	}{{v1alpha1.ServersReadyCondition, o.servers}, {v1alpha1.NodesReadyCondition, o.nodes}} {
		if c.c.ok {
			continue
		}
		r := c.c.reason
		if r == "" {
			r = v1alpha1.ProgressingReason
		}
		if reason == "" {
			reason = r
		}
		msg := c.c.message
		if msg == "" {
			msg = "not observed yet"
		}
		parts = append(parts, fmt.Sprintf("%s: %s", c.t, msg))
	}
	return check{reason: reason, message: strings.Join(parts, "; ")}
}

// serversCheck is ServersReady from the pool's servers (failed ones already replaced),
// those being removed, the desired count and whether a rolling update is under way (its
// surge and removals are no scaling).
func serversCheck(desired int, members, removing []*member, rolling bool, floor int) check {
	var active int
	var notActive []*member
	for _, m := range members {
		if m.Status == statusActive {
			active++
		} else {
			notActive = append(notActive, m)
		}
	}
	status := func(m *member) string { return m.Name + " (" + m.Status + ")" }
	switch {
	case rolling && active >= floor:
		return check{ok: true, reason: v1alpha1.AvailableReason, message: fmt.Sprintf("%d servers ACTIVE for %d replicas, while servers are replaced (rolling update or health check)", active, desired)}
	case rolling:
		return check{reason: v1alpha1.RollingUpdateReason, message: fmt.Sprintf("%d of %d servers ACTIVE, while servers are replaced (rolling update or health check): fewer than the %d spec.strategy keeps", active, desired, floor)}
	case len(removing) > 0:
		return check{reason: v1alpha1.ScalingReason, message: fmt.Sprintf("scaling down to %d: removing %s", desired,
			describeMembers(removing, func(m *member) string {
				if m.draining() {
					return m.Name + " (draining its Node)"
				}
				return m.Name
			}))}
	case len(members) > desired:
		return check{reason: v1alpha1.ScalingReason, message: fmt.Sprintf("%d servers for %d replicas: the surplus is removed once the TenantCluster can be reached", len(members), desired)}
	case len(members) < desired:
		return check{reason: v1alpha1.ProgressingReason, message: fmt.Sprintf("%d of %d servers exist", len(members), desired)}
	case len(notActive) > 0:
		return check{reason: v1alpha1.ProgressingReason, message: fmt.Sprintf("%d of %d servers ACTIVE; not yet: %s",
			active, desired, describeMembers(notActive, status))}
	}
	return check{ok: true, reason: v1alpha1.AvailableReason, message: fmt.Sprintf("%d of %d servers ACTIVE", active, desired)}
}

// nodesCheck is NodesReady: how many of the pool's servers have a Ready Node; need is how
// many must (desired, less maxUnavailable in a rolling update).
func nodesCheck(desired, need int, members []*member) check {
	var ready int
	var waiting []*member
	for _, m := range members {
		if m.nodeReady() {
			ready++
		} else {
			waiting = append(waiting, m)
		}
	}
	if ready >= need {
		return check{ok: true, reason: v1alpha1.AvailableReason, message: fmt.Sprintf("%d of %d Nodes Ready", ready, desired)}
	}
	msg := fmt.Sprintf("%d of %d Nodes Ready", ready, desired)
	if len(waiting) > 0 {
		msg += "; waiting for " + describeMembers(waiting, func(m *member) string {
			switch {
			case m.node != nil:
				return m.Name + " (Node NotReady)"
			case m.Status != statusActive:
				return m.Name + " (server " + m.Status + ")"
			default:
				return m.Name + " (no Node yet: joining)"
			}
		})
	}
	return check{reason: v1alpha1.WaitingForNodesReason, message: msg}
}

// warningReasons are reasons someone must act on.
var warningReasons = map[string]bool{
	v1alpha1.TenantUnreachableReason:       true,
	v1alpha1.QuotaExceededReason:           true,
	v1alpha1.CloudCredentialsInvalidReason: true,
	v1alpha1.CloudUnavailableReason:        true,
	v1alpha1.AuthURLNotAllowedReason:       true,
	v1alpha1.ProvisioningFailedReason:      true,
	v1alpha1.InvalidSpecReason:             true,
	v1alpha1.VersionSkewReason:             true,
	v1alpha1.TooManyUnhealthyReason:        true,
}
