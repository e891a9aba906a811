package tenantcluster

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/tenantaccess"
)

// reconcileUpgrade stages the control plane towards spec.version (controlplane.PlanUpgrade:
// apiservers first, then the controllers) and, when the rollout it waits for cannot
// progress, names why: the old pods keep serving meanwhile (maxUnavailable 0).
func (r *Reconciler) reconcileUpgrade(ctx context.Context, s *scope) (bool, error) {
	var rollouts [3]controlplane.Rollout
	for i, c := range []controlplane.Component{controlplane.APIServer, controlplane.ControllerManager, controlplane.Scheduler} {
		ro, err := r.rollout(ctx, s, c)
		if err != nil {
			return true, err
		}
		rollouts[i] = ro
	}
	plan := controlplane.PlanUpgrade(s.tc.Status.Version, s.tc.Spec.Version, rollouts[0], rollouts[1], rollouts[2])
	if r.awaitsPreUpgradeBackup(s.tc) {
		plan = plan.WaitForBackup(s.tc.Status.Version, s.tc.Spec.Version,
			"condition BackedUp says how it goes; annotation "+SkipPreUpgradeBackupAnnotation+"=true upgrades without it", rollouts[:]...)
	}
	if plan.Stage == controlplane.UpgradeDone {
		r.removedAPIs.Delete(s.tc.UID)
	} else if plan.ControllersVersion != s.tc.Spec.Version {
		// An upgrade under way, the controllers still at the old version.
		if removed := r.checkRemovedAPIs(ctx, s); len(removed) > 0 {
			plan.Message += fmt.Sprintf("; clients of this tenant used APIs %s no longer serves: %s", s.tc.Spec.Version, strings.Join(removed, ", "))
		}
	}
	s.o.upgrade = plan
	if plan.Stage != controlplane.UpgradeDone && plan.Rolling != "" {
		// Only while a rollout is under way: a live list of the component's pods.
		if reason, msg, ok := r.podsCause(ctx, s, plan.Rolling); !ok {
			s.o.upgradeStalled = check{reason: reason, message: fmt.Sprintf("the upgrade to %s cannot progress: %s %s; the tenant keeps serving on what runs", s.tc.Spec.Version, plan.Rolling, msg)}
		}
	}
	return false, nil
}

// SkipPreUpgradeBackupAnnotation set to "true" on a TenantCluster lets an upgrade begin
// without the backup spec.controlPlane.etcd.backup otherwise takes first.
const SkipPreUpgradeBackupAnnotation = "kubeseed.io/skip-pre-upgrade-backup"

// awaitsPreUpgradeBackup says whether an upgrade must wait for a backup: with backups
// configured, none was written since the TenantCluster's spec last changed (the change that
// asked for the upgrade, or a later one). A backup that just ended counts before its status
// is written.
func (r *Reconciler) awaitsPreUpgradeBackup(tc *v1alpha1.TenantCluster) bool {
	return tc.Annotations[SkipPreUpgradeBackupAnnotation] != "true" && r.awaitsBackupOfSpec(tc)
}

// awaitsBackupOfSpec says whether, with backups configured, no backup was written since the
// TenantCluster's spec last changed: what a change that replaces data (an upgrade, an
// in-place restore) waits for. A backup that just ended counts before its status is written.
func (r *Reconciler) awaitsBackupOfSpec(tc *v1alpha1.TenantCluster) bool {
	if tc.Spec.ControlPlane.Etcd.Backup == nil || r.Backups == nil {
		return false
	}
	if b := tc.Status.Backup; b != nil && b.LastSuccessfulTime != nil && b.Generation >= tc.Generation {
		return false
	}
	res, finished, _ := r.Backups.State(tc.Namespace + "/" + tc.Name)
	return !finished || res.Err != nil || res.Manifest.TenantUID != string(tc.UID) || res.Generation < tc.Generation
}

// removedAPIsCheck is what checkRemovedAPIs found for an upgrade to target.
type removedAPIsCheck struct {
	target string
	apis   []string
}

// checkRemovedAPIs reads, once per upgrade, which APIs the tenant's clients requested that
// spec.version removes (the apiservers' apiserver_requested_deprecated_apis, counted since
// each started), warns with an event when there are any, and remembers them for the
// UpToDate message. An apiserver that does not answer within a few seconds is asked again
// at the next reconcile; once the apiservers have rolled, the gauge is gone with them.
func (r *Reconciler) checkRemovedAPIs(ctx context.Context, s *scope) []string {
	target := s.tc.Spec.Version
	if v, ok := r.removedAPIs.Load(s.tc.UID); ok && v.(removedAPIsCheck).target == target {
		return v.(removedAPIsCheck).apis
	}
	if s.adminKubeconfig == nil {
		return nil
	}
	cfg, err := tenantaccess.Config(s.tc, s.adminKubeconfig)
	if err != nil {
		return nil
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	apis, err := controlplane.RemovedAPIs(resp.Body, target)
	if err != nil {
		return nil
	}
	r.removedAPIs.Store(s.tc.UID, removedAPIsCheck{target: target, apis: apis})
	if len(apis) > 0 {
		r.Recorder.Eventf(s.tc, nil, corev1.EventTypeWarning, "RemovedAPIsInUse", "Upgrade",
			"clients of this tenant requested APIs that %s no longer serves: %s; they fail after the upgrade", target, strings.Join(apis, ", "))
	}
	return apis
}

// rollout reads the version a component's Deployment runs and whether it is rolled out:
// the controller saw its latest spec, and every replica runs it and is available.
func (r *Reconciler) rollout(ctx context.Context, s *scope, c controlplane.Component) (controlplane.Rollout, error) {
	d, err := getOptional[appsv1.Deployment](ctx, r, s.namespace(), c.ObjectName(s.tc.Name))
	if err != nil || d == nil {
		return controlplane.Rollout{}, err
	}
	spec, _ := controlplane.Lookup(c)
	var ro controlplane.Rollout
	for _, ctr := range d.Spec.Template.Spec.Containers {
		if ctr.Name == spec.Container {
			ro.Version = controlplane.ImageVersion(ctr.Image)
		}
	}
	want := ptr.Deref(d.Spec.Replicas, 1)
	st := d.Status
	ro.RolledOut = st.ObservedGeneration == d.Generation && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want
	return ro, nil
}

// upToDate is the UpToDate condition: where an upgrade is, or that there is none. A tenant
// never Ready has none to report (nil).
func upToDate(tc *v1alpha1.TenantCluster, o observed) *check {
	if tc.Status.Version == "" {
		return nil
	}
	target := tc.Spec.Version
	switch {
	case o.rolloutWait.reason != "":
		c := o.rolloutWait
		return &c
	case o.upgradeStalled.reason != "":
		c := o.upgradeStalled
		return &c
	case o.upgrade.Stage != "" && o.upgrade.Stage != controlplane.UpgradeDone:
		return &check{reason: o.upgrade.Stage.Reason(), message: o.upgrade.Message}
	}
	addons := o.addons
	if addons == nil {
		addons = tc.Status.Addons
	}
	if tc.Status.Version != target || (addons != nil && addons.KubernetesVersion != target) {
		return &check{reason: v1alpha1.UpgradingAddonsReason, message: "the control plane runs " + target + "; the tenant's kubeadm configuration, kube-proxy and CoreDNS follow"}
	}
	return &check{ok: true, reason: v1alpha1.UpToDateReason, message: "the control plane and addons run " + target}
}
