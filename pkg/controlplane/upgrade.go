package controlplane

import (
	"fmt"
	"strings"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// Rollout is what a component's workload shows of its version: the version its pod
// template runs (ImageVersion of its container's image; empty when the workload does not
// exist) and whether every replica runs that template and is available.
type Rollout struct {
	Version   string
	RolledOut bool
}

// UpgradeStage is where a control plane is on its way to spec.version.
type UpgradeStage string

const (
	// UpgradeDone means every component runs the target version.
	UpgradeDone UpgradeStage = "Done"
	// UpgradeAPIServers means the kube-apiservers roll to the target; the controllers wait.
	UpgradeAPIServers UpgradeStage = "APIServers"
	// UpgradeControllers means every apiserver runs the target; the controllers roll to it.
	UpgradeControllers UpgradeStage = "Controllers"
	// UpgradeWaitingForBackup means nothing has moved yet: every component stays at the
	// version it runs until a backup taken at that version is written.
	UpgradeWaitingForBackup UpgradeStage = "WaitingForBackup"
)

// UpgradePlan is what PlanUpgrade decides.
type UpgradePlan struct {
	Stage UpgradeStage
	// ControllersVersion is Inputs.ControllersVersion: the version kube-controller-manager
	// and kube-scheduler are rendered at.
	ControllersVersion string
	// APIServerVersion is Inputs.APIServerVersion: empty renders kube-apiserver at the
	// target.
	APIServerVersion string
	// Rolling is the component whose rollout the stage waits for; empty when Done.
	Rolling Component
	// Message says where the upgrade is, for the UpToDate condition.
	Message string
}

// PlanUpgrade stages a control plane from current (status.version: what every component
// ran last) towards target, as kubeadm and HyperShift do and the version skew policy
// requires: the kube-apiservers first; kube-controller-manager and kube-scheduler, which must
// never be newer than an apiserver they reach, keep the version they run until every
// apiserver runs target and none of an older one is left; then they roll. With no upgrade
// under way (current empty: a control plane never Ready yet, or equal to target) everything
// renders at target, and a rollout for another reason (a renewed certificate, a drained seed
// node) is no upgrade. It is pure: the controller reads the workloads and renders what it
// returns.
func PlanUpgrade(current, target string, apiServer, controllerManager, scheduler Rollout) UpgradePlan {
	if current == "" || current == target {
		return UpgradePlan{Stage: UpgradeDone, ControllersVersion: target, Message: "every control-plane component runs " + target}
	}
	running := controllerManager.Version
	if running == "" {
		running = scheduler.Version
	}
	apiDone := apiServer.Version == target && apiServer.RolledOut
	if running != "" && running != target && !apiDone {
		return UpgradePlan{
			Stage: UpgradeAPIServers, ControllersVersion: running, Rolling: APIServer,
			Message: fmt.Sprintf("kube-apiserver rolls to %s; kube-controller-manager and kube-scheduler stay at %s until every apiserver runs %s", target, running, target),
		}
	}
	if !apiDone {
		return UpgradePlan{Stage: UpgradeAPIServers, ControllersVersion: target, Rolling: APIServer,
			Message: fmt.Sprintf("kube-apiserver rolls out at %s", target)}
	}
	for _, c := range []struct {
		component Component
		rollout   Rollout
	}{{ControllerManager, controllerManager}, {Scheduler, scheduler}} {
		if c.rollout.Version != target || !c.rollout.RolledOut {
			return UpgradePlan{Stage: UpgradeControllers, ControllersVersion: target, Rolling: c.component,
				Message: fmt.Sprintf("every kube-apiserver runs %s; %s rolls to it", target, c.component)}
		}
	}
	return UpgradePlan{Stage: UpgradeDone, ControllersVersion: target, Message: "every control-plane component runs " + target}
}

// WaitForBackup holds an upgrade that has not begun (every component still rendered at
// current) at current until a pre-upgrade backup is written. One under way goes on, even
// towards a target raised since: holding it at current would roll components back.
// why says what the backup waits for.
func (p UpgradePlan) WaitForBackup(current, target string, why string, components ...Rollout) UpgradePlan {
	if p.Stage != UpgradeAPIServers {
		return p
	}
	for _, c := range components {
		if c.Version != "" && c.Version != current {
			return p
		}
	}
	return UpgradePlan{Stage: UpgradeWaitingForBackup, APIServerVersion: current, ControllersVersion: current,
		Message: fmt.Sprintf("the upgrade to %s waits for a backup of etcd at %s (spec.controlPlane.etcd.backup): %s", target, current, why)}
}

// Reason is the UpToDate condition's reason for the stage.
func (s UpgradeStage) Reason() string {
	switch s {
	case UpgradeAPIServers:
		return v1alpha1.UpgradingAPIServersReason
	case UpgradeControllers:
		return v1alpha1.UpgradingControllersReason
	case UpgradeWaitingForBackup:
		return v1alpha1.WaitingForBackupReason
	default:
		return v1alpha1.UpToDateReason
	}
}

// ImageVersion is the tag of image when it is a Kubernetes version (vX.Y.Z), else empty.
func ImageVersion(image string) string {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	tag := image[i+1:]
	if _, err := versions.Parse(tag); err != nil {
		return ""
	}
	return tag
}
