package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/health"
)

// conditionOrder is the order describe lists conditions in (non-True ones first): the
// registry's (bring-up order) with the Ready summary after the conditions it is made of.
func conditionOrder() []string {
	var ready, inside []string
	for _, c := range controlplane.Conditions() {
		if c.Ready {
			ready = append(ready, c.Type)
		} else {
			inside = append(inside, c.Type)
		}
	}
	return slices.Concat(ready, []string{v1alpha1.ReadyCondition}, inside)
}

// readyConditions are the conditions the Ready summary is made of.
func readyConditions() []string {
	var out []string
	for _, c := range controlplane.Conditions() {
		if c.Ready {
			out = append(out, c.Type)
		}
	}
	return out
}

// tenantState is everything describe reads about one tenant.
type tenantState struct {
	tc           *v1alpha1.TenantCluster
	pools        []v1alpha1.WorkerPool
	pods         []corev1.Pod
	deployments  map[string]*appsv1.Deployment // by name
	statefulSets map[string]*appsv1.StatefulSet
	events       []corev1.Event
	// certificates are the tenant's cert-manager Certificates that are not Ready: "name:
	// reason: message". Nil when they were not looked at.
	certificates []string
}

// report is what describe prints, computed from a tenantState alone.
type report struct {
	summary    string
	conditions []metav1.Condition
	components []componentReport
	// culprit is the component most likely to hold the tenant back: the first one in
	// bring-up order whose pods show a problem, else the first not available once the
	// endpoint and certificates are there; "" when none.
	culprit controlplane.Component
	events  []corev1.Event
}

type componentReport struct {
	component controlplane.Component
	condition *metav1.Condition
	workload  string // Kind/name
	found     bool   // the workload exists
	desired   int32
	ready     int32
	pods      []podReport
	state     string
	optional  bool // not part of Ready (the autoscaler): never the culprit of a tenant not Ready
}

// States of a component in a report.
const (
	stateOK           = "ok"
	stateFailing      = "failing"       // a pod shows a problem
	stateNotAvailable = "not available" // the condition is not True, the pods show nothing
	stateWaiting      = "waiting"       // held back for another component or the certificates
	stateUnknown      = "unknown"       // no condition yet
)

func componentState(cr componentReport) string {
	for _, p := range cr.pods {
		if len(p.problems) > 0 && !p.terminating {
			return stateFailing
		}
	}
	switch c := cr.condition; {
	case c == nil:
		return stateUnknown
	case c.Status == metav1.ConditionTrue:
		return stateOK
	case c.Reason == v1alpha1.WaitingForDependencyReason || c.Reason == v1alpha1.WaitingForCertificatesReason:
		return stateWaiting
	default:
		return stateNotAvailable
	}
}

type podReport struct {
	name     string
	phase    corev1.PodPhase
	ready    int // ready containers
	total    int
	restarts int32
	// problems are what is wrong with the pod, one line each; empty for a healthy pod.
	problems []string
	// logs are the containers worth reading the logs of; previous: read the last
	// terminated instance, since the current one has not started (a crash loop).
	logs []logRef
	// describe: no container of the pod ever started (not scheduled, image pulls, config
	// errors); its events say why.
	describe bool
	// terminating: the pod is being deleted (the old pod of a finished rollout); what is
	// wrong with it goes with it, so it does not make its component failing.
	terminating bool
}

type logRef struct {
	container string
	previous  bool
}

// diagnose turns what was read into a report.
func diagnose(s *tenantState, now time.Time) *report {
	tc := s.tc
	r := &report{conditions: sortConditions(tc.Status.Conditions)}
	for _, ci := range controlplane.Registry {
		cr := componentReport{component: ci.Component, condition: meta.FindStatusCondition(tc.Status.Conditions, ci.Condition), optional: ci.Optional}
		name := ci.Component.ObjectName(tc.Name)
		cr.workload = string(ci.Workload) + "/" + name
		switch ci.Workload {
		case controlplane.StatefulSet:
			if sts := s.statefulSets[name]; sts != nil {
				cr.found, cr.desired, cr.ready = true, ptrOr(sts.Spec.Replicas, 1), sts.Status.ReadyReplicas
			}
		default:
			if d := s.deployments[name]; d != nil {
				cr.found, cr.desired, cr.ready = true, ptrOr(d.Spec.Replicas, 1), d.Status.ReadyReplicas
			}
		}
		for i := range s.pods {
			p := &s.pods[i]
			if p.Labels[controlplane.LabelComponent] == string(ci.Component) {
				cr.pods = append(cr.pods, podDiagnosis(p, now))
			}
		}
		if cr.optional && !cr.found && cr.condition == nil && len(cr.pods) == 0 {
			continue // a component this tenant does not run
		}
		slices.SortFunc(cr.pods, func(a, b podReport) int { return strings.Compare(a.name, b.name) })
		cr.state = componentState(cr)
		r.components = append(r.components, cr)
	}
	// A failing component whose condition is not True first: one that serves with a past
	// restart is less likely the cause than one the controller reports down.
	for _, serving := range []bool{false, true} {
		for _, cr := range r.components {
			up := cr.condition != nil && cr.condition.Status == metav1.ConditionTrue
			if r.culprit == "" && cr.state == stateFailing && !cr.optional && up == serving {
				r.culprit = cr.component
			}
		}
	}
	// Before the endpoint and the certificates, every component waits for them.
	if r.culprit == "" && meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.EndpointReadyCondition) &&
		meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.CertificatesReadyCondition) {
		for _, cr := range r.components {
			if cr.state == stateNotAvailable && !cr.optional {
				r.culprit = cr.component
				break
			}
		}
	}
	r.summary = summarize(s, r)
	r.events = tenantEvents(s)
	return r
}

// summarize is the one line that says why the tenant is, or is not, Ready.
func summarize(s *tenantState, r *report) string {
	tc := s.tc
	ready := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition)
	switch {
	case !tc.DeletionTimestamp.IsZero():
		return "Being deleted: kubeseed removes its certificates, then the rest goes with it."
	case tc.Spec.Paused:
		return "Paused: spec.paused is true, kubeseed leaves this control plane as it is (conditions may be stale)."
	case tc.Status.Phase == v1alpha1.TenantClusterHibernated:
		return "Hibernated: no control-plane pod and no worker runs; etcd's volumes, the certificates and the endpoint are kept. Set spec.hibernated to false to wake it."
	case tc.Spec.Hibernated:
		msg := "the controller has not acted on it yet"
		if c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.HibernatedCondition); c != nil {
			msg = c.Reason + ": " + c.Message
		}
		return "Hibernating (spec.hibernated): " + msg
	case ready != nil && ready.Reason == v1alpha1.InvalidSpecReason:
		return "The spec cannot be realised, change it: " + ready.Message
	}
	for _, cr := range r.components {
		if cr.component == r.culprit && cr.state == stateFailing {
			if ready != nil && ready.Status == metav1.ConditionTrue {
				// A rollout that cannot finish: the old pods still serve.
				return fmt.Sprintf("Ready (the old pods serve), but %s is failing: %s", cr.component, componentWhy(cr))
			}
			return fmt.Sprintf("%s is failing: %s", cr.component, componentWhy(cr))
		}
	}
	if ready != nil && ready.Status == metav1.ConditionTrue {
		var inside []string
		for _, c := range r.conditions {
			if c.Status != metav1.ConditionTrue && slices.Contains([]string{v1alpha1.TenantBootstrappedCondition, v1alpha1.AddonsReadyCondition, v1alpha1.TunnelReadyCondition}, c.Type) {
				inside = append(inside, fmt.Sprintf("%s (%s)", c.Type, c.Reason))
			}
		}
		if len(inside) > 0 {
			return "Ready: the control plane serves. Not yet inside the tenant: " + strings.Join(inside, ", ") + "."
		}
		return "Ready: the control plane serves."
	}
	if ready == nil {
		return "No status yet: the kubeseed operator has not reconciled this TenantCluster (is it running? kubectl -n kubeseed-system get pods)."
	}
	for _, c := range r.conditions {
		if c.Status == metav1.ConditionTrue || c.Type == v1alpha1.ReadyCondition || !slices.Contains(readyConditions(), c.Type) {
			continue
		}
		switch c.Type {
		case v1alpha1.EndpointReadyCondition:
			return "Waiting for the endpoint: " + orNone(c.Message)
		case v1alpha1.CertificatesReadyCondition:
			msg := "Waiting for cert-manager to issue the certificates"
			if len(s.certificates) > 0 {
				msg += fmt.Sprintf(" (%d not Ready)", len(s.certificates))
			}
			return msg + ": " + orNone(c.Message)
		}
		for _, cr := range r.components {
			if cr.condition != nil && cr.condition.Type == c.Type {
				return fmt.Sprintf("%s is %s: %s", cr.component, cr.state, componentWhy(cr))
			}
		}
	}
	return "Not Ready: " + ready.Message
}

// componentWhy says in a few words what is wrong with a failing component.
func componentWhy(cr componentReport) string {
	for _, p := range cr.pods {
		if len(p.problems) > 0 && !p.terminating {
			return fmt.Sprintf("pod %s: %s", p.name, p.problems[0])
		}
	}
	if cr.condition != nil {
		return fmt.Sprintf("%s=%s (%s): %s", cr.condition.Type, cr.condition.Status, cr.condition.Reason, cr.condition.Message)
	}
	return "no condition reported"
}

// podDiagnosis looks at one pod (pkg/health, which the controller's conditions use too).
func podDiagnosis(p *corev1.Pod, now time.Time) podReport {
	h := health.Pod(p, now)
	r := podReport{name: h.Name, phase: h.Phase, ready: h.Ready, total: h.Total, restarts: h.Restarts, problems: h.Problems, describe: h.Describe,
		terminating: p.DeletionTimestamp != nil}
	for _, l := range h.Logs {
		r.logs = append(r.logs, logRef{container: l.Container, previous: l.Previous})
	}
	return r
}

// sortConditions puts the conditions that are not True first, each group in conditionOrder
// (types it does not know last, by name).
func sortConditions(conds []metav1.Condition) []metav1.Condition {
	out := slices.Clone(conds)
	order := conditionOrder()
	rank := func(c metav1.Condition) int {
		i := slices.Index(order, c.Type)
		if i < 0 {
			i = len(order)
		}
		if c.Status == metav1.ConditionTrue {
			i += len(order) + 1
		}
		return i
	}
	slices.SortStableFunc(out, func(a, b metav1.Condition) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a.Type, b.Type)
	})
	return out
}

// tenantEvents keeps the events about the tenant and the objects made for it (its pods,
// workloads, Services and etcd volumes), newest first.
func tenantEvents(s *tenantState) []corev1.Event {
	name := s.tc.Name
	var prefixes []string
	for _, ci := range controlplane.Registry {
		prefixes = append(prefixes, ci.Component.ObjectName(name))
	}
	prefixes = append(prefixes, "data-"+controlplane.Etcd.ObjectName(name)+"-")
	var out []corev1.Event
	for _, e := range s.events {
		o := e.InvolvedObject
		ours := o.Kind == "TenantCluster" && o.Name == name && (o.UID == "" || o.UID == s.tc.UID)
		for _, p := range prefixes {
			ours = ours || (o.Kind != "TenantCluster" && (o.Name == p || strings.HasPrefix(o.Name, p+"-") || strings.HasSuffix(p, "-") && strings.HasPrefix(o.Name, p)))
		}
		if ours {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b corev1.Event) int { return eventTime(b).Compare(eventTime(a)) })
	return out
}

// eventTime is when an event last happened, whichever API wrote it.
func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	default:
		return e.CreationTimestamp.Time
	}
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
