package workerpool

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// Defaults of spec.healthCheck, as the API's: a pool whose stored spec lacks a field gets
// the same behaviour.
const (
	defaultNodeStartupTimeout = 10 * time.Minute
	defaultUnhealthyTimeout   = 5 * time.Minute
)

var defaultMaxUnhealthy = intstr.FromString("40%")

// sickness says why m must be replaced at now ("" when it need not): an ACTIVE server
// whose Node has not registered NodeStartupTimeout after the server was made, or a Node
// Ready=False or Unknown (or with no Ready condition) for UnhealthyTimeout. A Node being
// drained is on its way out already.
func sickness(m *member, hc v1alpha1.HealthCheckSpec, now time.Time) string {
	startup := defaultNodeStartupTimeout
	if hc.NodeStartupTimeout != nil {
		startup = hc.NodeStartupTimeout.Duration
	}
	unhealthy := defaultUnhealthyTimeout
	if hc.UnhealthyTimeout != nil {
		unhealthy = hc.UnhealthyTimeout.Duration
	}
	switch {
	case m.Status != statusActive || m.draining():
		return ""
	case m.node == nil:
		if startup > 0 && !m.Created.IsZero() && now.Sub(m.Created) > startup {
			return fmt.Sprintf("ACTIVE but its Node has not registered %s after the server was made (spec.healthCheck.nodeStartupTimeout)", startup)
		}
		return ""
	case unhealthy <= 0:
		return ""
	}
	since, status := m.node.CreationTimestamp.Time, corev1.ConditionUnknown
	for _, c := range m.node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			since, status = c.LastTransitionTime.Time, c.Status
		}
	}
	if status == corev1.ConditionTrue || since.IsZero() || now.Sub(since) <= unhealthy {
		return ""
	}
	// A time, not an age: the message lands in a condition, which must not change (and be
	// written) at every reconcile.
	return fmt.Sprintf("its Node has been Ready=%s since %s, more than %s (spec.healthCheck.unhealthyTimeout)", status, since.UTC().Format(time.RFC3339), unhealthy)
}

// maxUnhealthy is how many sick servers may be replaced at once: spec.healthCheck's count,
// or its percentage of desired rounded up (so that a pool of two may heal one).
func maxUnhealthy(hc v1alpha1.HealthCheckSpec, desired int) int {
	v := defaultMaxUnhealthy
	if hc.MaxUnhealthy != nil {
		v = *hc.MaxUnhealthy
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, desired, true)
	if err != nil {
		return 0 // the API refuses what cannot be read: heal nothing rather than guess
	}
	return n
}

// checkHealth marks the sick members of the pass for replacement, or, when more than
// maxUnhealthy are sick, or Nodes are NotReady while no Node of the whole tenant is Ready,
// marks none and returns the check NodesReady reports: so many sick at once points at
// something servers do not cause (the network, the tenant), and replacing them would make
// it worse. A server without a Node of the pool is not taken for one that never joined
// while a Node of its name exists (its pool label removed by hand).
func (r *Reconciler) checkHealth(ctx context.Context, p *pass) (*check, error) {
	var sick []*member
	notReady := 0
	for _, m := range p.members {
		why := sickness(m, p.wp.Spec.HealthCheck, p.now)
		if why == "" {
			continue
		}
		if m.node == nil {
			n := &corev1.Node{}
			if err := p.tenant.client.Get(ctx, client.ObjectKey{Name: m.Name}, n); err == nil {
				continue
			} else if !apierrors.IsNotFound(err) {
				return nil, tenantErr(fmt.Errorf("get Node %s: %w", m.Name, err))
			}
		} else {
			notReady++
		}
		m.sick = why
		sick = append(sick, m)
	}
	hold := func(msg string) *check {
		for _, m := range sick {
			m.sick = ""
		}
		return &check{reason: v1alpha1.TooManyUnhealthyReason, message: msg}
	}
	if notReady > 0 {
		nodes := &corev1.NodeList{}
		if err := p.tenant.client.List(ctx, nodes); err != nil {
			return nil, tenantErr(fmt.Errorf("list the tenant's Nodes: %w", err))
		}
		if !slices.ContainsFunc(nodes.Items, func(n corev1.Node) bool { return nodeIsReady(&n) }) {
			return hold(fmt.Sprintf("no Node of the tenant is Ready (%d listed): NotReady Nodes are not replaced, the cause is likely the network or the tenant; %s",
				len(nodes.Items), describeMembers(sick, func(m *member) string { return m.Name + " (" + m.sick + ")" }))), nil
		}
	}
	if most := maxUnhealthy(p.wp.Spec.HealthCheck, p.desired); len(sick) > most {
		return hold(fmt.Sprintf("%d servers are unhealthy, more than spec.healthCheck.maxUnhealthy allows (%d): none is replaced; %s",
			len(sick), most, describeMembers(sick, func(m *member) string { return m.Name + " (" + m.sick + ")" }))), nil
	}
	return nil, nil
}
