package workerpool

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

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
	return fmt.Sprintf("its Node has been Ready=%s for %s, more than %s (spec.healthCheck.unhealthyTimeout)", status, now.Sub(since).Round(time.Second), unhealthy)
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
// maxUnhealthy are sick, marks none and returns the check NodesReady reports: too many
// sick at once points at something servers do not cause (the network, the tenant), and
// replacing them would make it worse.
func checkHealth(p *pass) *check {
	var sick []*member
	for _, m := range p.members {
		if why := sickness(m, p.wp.Spec.HealthCheck, p.now); why != "" {
			m.sick = why
			sick = append(sick, m)
		}
	}
	if most := maxUnhealthy(p.wp.Spec.HealthCheck, p.desired); len(sick) > most {
		for _, m := range sick {
			m.sick = ""
		}
		return &check{reason: v1alpha1.TooManyUnhealthyReason, message: fmt.Sprintf(
			"%d servers are unhealthy, more than spec.healthCheck.maxUnhealthy allows (%d): none is replaced; %s",
			len(sick), most, describeMembers(sick, func(m *member) string { return m.Name + " (" + sickness(m, p.wp.Spec.HealthCheck, p.now) + ")" }))}
	}
	return nil
}
