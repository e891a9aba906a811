package controlplane

import (
	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// The registry is the one description of a tenant's control-plane components and of the
// TenantCluster's conditions. The controller's observation, hold logic, status and events,
// `kubeseed describe` and the metrics read it: adding a component is a chart template, a row
// here and its values, never a new special case elsewhere.

// Workload is the kind of a component's workload in the seed.
type Workload string

// Workloads the chart renders.
const (
	StatefulSet Workload = "StatefulSet"
	Deployment  Workload = "Deployment"
)

// Hold is what a component waits for, rendered with no replica, before it first runs.
type Hold string

const (
	// HoldNone means the component runs as soon as it is rendered.
	HoldNone Hold = ""
	// HoldForSecrets makes the first pod wait until the Secrets it mounts exist (each Secret
	// that appears would otherwise replace it, at seconds of CPU each), but no longer:
	// etcd's volume is provisioned with its first pod, the longest step of a bring-up.
	HoldForSecrets Hold = "Secrets"
	// HoldForCertificates makes the first pod wait until every certificate is issued, for the
	// same reason. The kube-apiserver is not held for etcd as well: started with etcd, its
	// etcd client backs off and finds etcd up to 4 s late, but a pod started only once etcd
	// is ready was measured a second slower still (docs/performance.md).
	HoldForCertificates Hold = "Certificates"
	// HoldForAPIServer makes it wait until the kube-apiserver has had an available replica once
	// (started earlier, it crash-loops). Once it has replicas it keeps them.
	HoldForAPIServer Hold = "APIServer"
)

// ComponentSpec is a row of the registry.
type ComponentSpec struct {
	Component Component
	// Workload is the kind of the object named Component.ObjectName(cluster).
	Workload Workload
	// Condition is the TenantCluster condition that reports the component.
	Condition string
	// Hold is what the component waits for before its first replica.
	Hold Hold
	// Container is the component's main container: the one whose logs explain it.
	Container string
	// Optional components are rendered only when the tenant needs them (Inputs.Autoscaler):
	// their condition is not part of Ready, and is removed while they are not rendered.
	Optional bool
}

// Registry lists the components in the order a control plane comes up: the first failing
// one is the likeliest cause of the others.
var Registry = []ComponentSpec{
	{Component: Etcd, Workload: StatefulSet, Condition: v1alpha1.EtcdAvailableCondition, Hold: HoldForSecrets, Container: string(Etcd)},
	{Component: APIServer, Workload: Deployment, Condition: v1alpha1.APIServerAvailableCondition, Hold: HoldForCertificates, Container: string(APIServer)},
	{Component: ControllerManager, Workload: Deployment, Condition: v1alpha1.ControllerManagerAvailableCondition, Hold: HoldForAPIServer, Container: string(ControllerManager)},
	{Component: Scheduler, Workload: Deployment, Condition: v1alpha1.SchedulerAvailableCondition, Hold: HoldForAPIServer, Container: string(Scheduler)},
	{Component: Autoscaler, Workload: Deployment, Condition: v1alpha1.AutoscalerAvailableCondition, Hold: HoldForAPIServer, Container: string(Autoscaler), Optional: true},
}

// Components lists the components every control plane runs, in the registry's order: its
// rows but the optional ones.
func Components() []Component {
	out := make([]Component, 0, len(Registry))
	for _, c := range Registry {
		if !c.Optional {
			out = append(out, c.Component)
		}
	}
	return out
}

// Lookup is the registry row of c; ok is false for a component it does not hold.
func Lookup(c Component) (ComponentSpec, bool) {
	for _, s := range Registry {
		if s.Component == c {
			return s, true
		}
	}
	return ComponentSpec{}, false
}

// ConditionSpec describes one condition type of a TenantCluster.
type ConditionSpec struct {
	Type string
	// Ready: the condition is part of the Ready summary (the control plane serves). The
	// others describe the inside of the tenant, which needs the customer's workers.
	Ready bool
	// Events: a change of its status or reason is worth an event on the TenantCluster.
	Events bool
}

// Conditions lists every condition but Ready, in the order describe shows them and Ready's
// message names them: the bring-up order, then the inside of the tenant, then the optional
// components'. The components' conditions come from the Registry, in its order.
func Conditions() []ConditionSpec {
	out := []ConditionSpec{
		{Type: v1alpha1.EndpointReadyCondition, Ready: true, Events: true},
		{Type: v1alpha1.CertificatesReadyCondition, Ready: true},
	}
	var optional []ConditionSpec
	for _, c := range Registry {
		if c.Optional {
			// Not Ready's business: the control plane serves without it.
			optional = append(optional, ConditionSpec{Type: c.Condition, Events: true})
			continue
		}
		out = append(out, ConditionSpec{Type: c.Condition, Ready: true})
	}
	out = append(out,
		ConditionSpec{Type: v1alpha1.TenantBootstrappedCondition, Events: true},
		ConditionSpec{Type: v1alpha1.AddonsReadyCondition, Events: true},
		ConditionSpec{Type: v1alpha1.TunnelReadyCondition},
		ConditionSpec{Type: v1alpha1.UpToDateCondition, Events: true},
		ConditionSpec{Type: v1alpha1.BackedUpCondition},
		ConditionSpec{Type: v1alpha1.HibernatedCondition, Events: true},
	)
	return append(out, optional...)
}
