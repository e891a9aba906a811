package tenantcluster

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// check is what one phase of a reconcile observed about one condition.
type check struct {
	ok      bool
	reason  string
	message string
}

// observed is everything a reconcile saw; conditions and phase are a pure function of it.
type observed struct {
	invalid string // a spec that cannot be realised; empty when fine
	// blocked is a cause that stops the whole control plane before any component (its
	// namespace cannot be had); it is the reason of every component not ready.
	blocked      check
	namespace    string // the control-plane namespace, once made
	endpoint     string // the published URL, once known
	certificates check
	etcd         check
	apiServer    check
	controllers  check // kube-controller-manager
	scheduler    check
	endpointOK   check

	// bootstrapped and addons describe the inside of the tenant; they are not part of
	// Ready. Zero (no reason) when the reconcile did not get as far: the condition stays.
	bootstrapped check
	addons       check
	tunnel       check

	// etcdMembership is what growing etcd saw and did; holdControllers says the
	// controller-manager and scheduler wait for the kube-apiserver.
	etcdMembership  etcdMembership
	holdControllers bool
	// holdAPIServer: the first kube-apiserver waits for every certificate.
	holdAPIServer bool
}

// conditionOrder lists the component conditions the Ready summary is made of, in the order
// a control plane comes up.
var conditionOrder = []string{
	v1alpha1.EndpointReadyCondition,
	v1alpha1.CertificatesReadyCondition,
	v1alpha1.EtcdAvailableCondition,
	v1alpha1.APIServerAvailableCondition,
	v1alpha1.ControllerManagerAvailableCondition,
	v1alpha1.SchedulerAvailableCondition,
}

func (o *observed) byCondition() map[string]check {
	return map[string]check{
		v1alpha1.EndpointReadyCondition:              o.endpointOK,
		v1alpha1.CertificatesReadyCondition:          o.certificates,
		v1alpha1.EtcdAvailableCondition:              o.etcd,
		v1alpha1.APIServerAvailableCondition:         o.apiServer,
		v1alpha1.ControllerManagerAvailableCondition: o.controllers,
		v1alpha1.SchedulerAvailableCondition:         o.scheduler,
	}
}

// setStatus writes conditions, phase, endpoint and version from what was observed. It only
// changes LastTransitionTime when a condition's status changes, so an unchanged control plane
// yields an unchanged status and the reconcile writes nothing.
func setStatus(tc *v1alpha1.TenantCluster, o observed) {
	gen := tc.Generation
	set := func(t string, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&tc.Status.Conditions, metav1.Condition{
			Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen,
		})
	}
	checks := o.byCondition()
	var notReady []string
	for _, t := range conditionOrder {
		c := checks[t]
		if c.reason == "" {
			c.reason = v1alpha1.ProgressingReason
		}
		if o.invalid != "" && !c.ok {
			c.reason, c.message = v1alpha1.InvalidSpecReason, o.invalid
		}
		if o.blocked.reason != "" && !c.ok {
			c.reason, c.message = o.blocked.reason, o.blocked.message
		}
		set(t, c.ok, c.reason, c.message)
		if !c.ok {
			notReady = append(notReady, fmt.Sprintf("%s: %s", t, c.message))
		}
	}
	switch {
	case o.invalid != "":
		set(v1alpha1.ReadyCondition, false, v1alpha1.InvalidSpecReason, o.invalid)
	case o.blocked.reason != "":
		set(v1alpha1.ReadyCondition, false, o.blocked.reason, o.blocked.message)
	case len(notReady) > 0:
		set(v1alpha1.ReadyCondition, false, v1alpha1.NotReadyReason, strings.Join(notReady, "; "))
	default:
		set(v1alpha1.ReadyCondition, true, v1alpha1.AvailableReason, "every control-plane component is available")
	}
	// The inside of the tenant: reported, never part of Ready, which means the control
	// plane serves (workers and addons are the customer's side of the cluster).
	for _, c := range []struct {
		t string
		c check
	}{{v1alpha1.TenantBootstrappedCondition, o.bootstrapped}, {v1alpha1.AddonsReadyCondition, o.addons}, {v1alpha1.TunnelReadyCondition, o.tunnel}} {
		if c.c.reason != "" {
			set(c.t, c.c.ok, c.c.reason, c.c.message)
		}
	}
	if o.endpoint != "" {
		tc.Status.Endpoint = o.endpoint
	}
	if o.namespace != "" {
		tc.Status.ControlPlaneNamespace = o.namespace
	}
	ready := len(notReady) == 0 && o.invalid == ""
	tc.Status.Phase = phase(tc, ready)
	if ready {
		tc.Status.Version = tc.Spec.Version
	}
}

// phase is the one-word summary Magnum maps to its cluster status.
func phase(tc *v1alpha1.TenantCluster, ready bool) v1alpha1.TenantClusterPhase {
	switch {
	case !tc.DeletionTimestamp.IsZero():
		return v1alpha1.TenantClusterDeleting
	case ready:
		return v1alpha1.TenantClusterReady
	case tc.Status.Version == "":
		// Never been Ready: still being created.
		return v1alpha1.TenantClusterProvisioning
	case tc.Status.Version != tc.Spec.Version:
		return v1alpha1.TenantClusterUpgrading
	default:
		return v1alpha1.TenantClusterDegraded
	}
}

// setPaused marks a paused TenantCluster without touching its component conditions.
func setPaused(tc *v1alpha1.TenantCluster) {
	meta.SetStatusCondition(&tc.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ReadyCondition, Status: metav1.ConditionUnknown, Reason: v1alpha1.PausedReason,
		Message: "spec.paused is true: kubeseed leaves this control plane as it is", ObservedGeneration: tc.Generation,
	})
}

// equalStatus compares two statuses, the condition timestamps included.
func equalStatus(a, b *v1alpha1.TenantClusterStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}
