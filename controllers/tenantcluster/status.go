package tenantcluster

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
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
	blocked   check
	namespace string // the control-plane namespace, once made
	endpoint  string // the published URL, once known
	// kubeconfigSecret names the published admin kubeconfig, once written; octavia is the
	// customer's load balancer, once it exists; addons the versions pinned in the tenant.
	kubeconfigSecret string
	octavia          *v1alpha1.OctaviaEndpointStatus
	addons           *v1alpha1.AddonVersions
	// backup is a backup written since the status last recorded one.
	backup *v1alpha1.EtcdBackupStatus

	// checks are by condition type (controlplane.Conditions). A condition that counts
	// towards Ready and was not observed is Progressing; one that does not (the inside of
	// the tenant) is left as it was when the reconcile did not get as far.
	checks map[string]check
	// absent are the conditions of optional components this render leaves out: removed.
	absent map[string]bool

	// etcdMembership is what growing etcd saw and did; held are the components rendered
	// with no replica, waiting for what their registry row's Hold names.
	etcdMembership etcdMembership
	held           map[controlplane.Component]bool

	// upgrade is where the control plane is on its way to spec.version (zero: not
	// observed); upgradeStalled, when set, is why the rollout it waits for cannot progress.
	upgrade        controlplane.UpgradePlan
	upgradeStalled check
	// rolloutWait, when set, is why this render was not applied: it waits for a rollout
	// slot (rollouts.go).
	rolloutWait check
	// hibernation is where spec.hibernated has the tenant (hibernate.go).
	hibernation hibernation
	// restore is where spec.restore has the tenant (restore.go).
	restore restoration
}

func newObserved() observed {
	return observed{checks: map[string]check{}, absent: map[string]bool{}, held: map[controlplane.Component]bool{}}
}

// setStatus writes conditions, phase, endpoint and version from what was observed. It only
// changes LastTransitionTime when a condition's status changes, so an unchanged control plane
// yields an unchanged status and the reconcile writes nothing. It is the only writer of
// status besides setPaused and setDeletionStatus.
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
	if h := o.hibernation; h.condition.reason != "" {
		o.checks[v1alpha1.HibernatedCondition] = h.condition
	} else if h.decided {
		o.absent[v1alpha1.HibernatedCondition] = true
	}
	var notReady []string
	for _, spec := range controlplane.Conditions() {
		c := o.checks[spec.Type]
		if !spec.Ready {
			// The inside of the tenant: reported, never part of Ready, which means the
			// control plane serves (workers and addons are the customer's side).
			if c.reason != "" {
				set(spec.Type, c.ok, c.reason, c.message)
			} else if o.absent[spec.Type] {
				meta.RemoveStatusCondition(&tc.Status.Conditions, spec.Type)
			}
			continue
		}
		if c.reason == "" {
			c.reason = v1alpha1.ProgressingReason
		}
		if o.invalid != "" && !c.ok {
			c.reason, c.message = v1alpha1.InvalidSpecReason, o.invalid
		}
		if o.blocked.reason != "" && !c.ok {
			c.reason, c.message = o.blocked.reason, o.blocked.message
		}
		set(spec.Type, c.ok, c.reason, c.message)
		if !c.ok {
			notReady = append(notReady, fmt.Sprintf("%s: %s", spec.Type, c.message))
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
	if o.endpoint != "" {
		tc.Status.Endpoint = o.endpoint
	}
	if o.namespace != "" {
		tc.Status.ControlPlaneNamespace = o.namespace
	}
	if o.kubeconfigSecret != "" {
		tc.Status.KubeconfigSecretRef = &corev1.LocalObjectReference{Name: o.kubeconfigSecret}
	}
	if o.octavia != nil {
		tc.Status.Octavia = o.octavia
	}
	if o.addons != nil {
		tc.Status.Addons = o.addons
	}
	if o.backup != nil {
		tc.Status.Backup = o.backup
	}
	if o.restore.begin != nil {
		tc.Status.Restoring = o.restore.begin.DeepCopy()
	}
	if o.restore.status != nil {
		tc.Status.Restoring = nil
		tc.Status.Restore = o.restore.status
	}
	ready := len(notReady) == 0 && o.invalid == "" && o.blocked.reason == ""
	// The version moves once every component runs it, not when the apiservers alone do.
	if ready && (o.upgrade.Stage == "" || o.upgrade.Stage == controlplane.UpgradeDone) {
		tc.Status.Version = tc.Spec.Version
	}
	upgrading := false
	if c := upToDate(tc, o); c != nil {
		set(v1alpha1.UpToDateCondition, c.ok, c.reason, c.message)
		// Waiting for a rollout slot is the operator's business, not an upgrade of the
		// tenant's: Magnum would read Upgrading as UPDATE_IN_PROGRESS.
		upgrading = !c.ok && c.reason != v1alpha1.WaitingForRolloutReason
	}
	if ready && o.hibernation.stage == waking {
		meta.RemoveStatusCondition(&tc.Status.Conditions, v1alpha1.HibernatedCondition) // awake
	}
	tc.Status.Phase = phase(tc, ready, upgrading, o.hibernation.stage)
}

// phase is the one-word summary Magnum maps to its cluster status.
func phase(tc *v1alpha1.TenantCluster, ready, upgrading bool, hibernation hibernateStage) v1alpha1.TenantClusterPhase {
	switch {
	case !tc.DeletionTimestamp.IsZero():
		return v1alpha1.TenantClusterDeleting
	case hibernation == stopped:
		return v1alpha1.TenantClusterHibernated
	case tc.Spec.Hibernated:
		return v1alpha1.TenantClusterHibernating
	case hibernation == waking && !ready:
		return v1alpha1.TenantClusterWaking
	case ready && upgrading:
		// Serving, on the way to spec.version: Magnum's UPDATE_IN_PROGRESS until done.
		return v1alpha1.TenantClusterUpgrading
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

// setDeletionStatus is the status of a TenantCluster being deleted: phase Deleting, and on
// EndpointReady and Ready what the deletion waits for, when something blocks it.
func setDeletionStatus(tc *v1alpha1.TenantCluster, blocked check) {
	tc.Status.Phase = v1alpha1.TenantClusterDeleting
	if blocked.reason == "" {
		return
	}
	for _, t := range []string{v1alpha1.EndpointReadyCondition, v1alpha1.ReadyCondition} {
		meta.SetStatusCondition(&tc.Status.Conditions, metav1.Condition{
			Type: t, Status: metav1.ConditionFalse, Reason: blocked.reason, Message: blocked.message, ObservedGeneration: tc.Generation,
		})
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
