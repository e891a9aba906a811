package controlplane_test

import (
	"strings"
	"testing"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

func TestPlanUpgrade(t *testing.T) {
	const old, target = "v1.35.4", "v1.36.3"
	at := func(v string, done bool) controlplane.Rollout {
		return controlplane.Rollout{Version: v, RolledOut: done}
	}
	none := controlplane.Rollout{}
	for _, tc := range []struct {
		name           string
		current        string
		api, cm, sched controlplane.Rollout
		stage          controlplane.UpgradeStage
		controllers    string
		rolling        controlplane.Component
	}{
		{"a new control plane is no upgrade: everything at the target", "", none, none, none, controlplane.UpgradeDone, target, ""},
		{"a control plane never Ready is no upgrade, even two minors on", "", at("v1.34.4", true), at("v1.34.4", true), at("v1.34.4", true), controlplane.UpgradeDone, target, ""},
		{"settled", target, at(target, true), at(target, true), at(target, true), controlplane.UpgradeDone, target, ""},
		{"a rollout at the same version (a renewed certificate) is no upgrade", target, at(target, false), at(target, true), at(target, false), controlplane.UpgradeDone, target, ""},
		{"spec raised: the apiservers go first, the controllers stay", old, at(old, true), at(old, true), at(old, true), controlplane.UpgradeAPIServers, old, controlplane.APIServer},
		{"apiservers rendered at the target but still rolling: the controllers stay", old, at(target, false), at(old, true), at(old, true), controlplane.UpgradeAPIServers, old, controlplane.APIServer},
		{"every apiserver at the target: the controllers roll", old, at(target, true), at(old, true), at(old, true), controlplane.UpgradeControllers, target, controlplane.ControllerManager},
		{"the controller-manager rolled, the scheduler still rolling", old, at(target, true), at(target, true), at(target, false), controlplane.UpgradeControllers, target, controlplane.Scheduler},
		{"controllers rendered at the target keep it if an apiserver rolls again", old, at(target, false), at(target, true), at(target, true), controlplane.UpgradeAPIServers, target, controlplane.APIServer},
		{"a scheduler alone tells the running version", old, at(old, true), none, at(old, true), controlplane.UpgradeAPIServers, old, controlplane.APIServer},
		{"every component rolled out at the target", old, at(target, true), at(target, true), at(target, true), controlplane.UpgradeDone, target, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := controlplane.PlanUpgrade(tc.current, target, tc.api, tc.cm, tc.sched)
			if p.Stage != tc.stage || p.ControllersVersion != tc.controllers || p.Rolling != tc.rolling || p.Message == "" {
				t.Errorf("plan %+v, want stage %s, controllers at %s, waiting for %q", p, tc.stage, tc.controllers, tc.rolling)
			}
		})
	}
}

func TestWaitForBackup(t *testing.T) {
	const old, target = "v1.35.4", "v1.36.3"
	at := func(v string, done bool) controlplane.Rollout {
		return controlplane.Rollout{Version: v, RolledOut: done}
	}
	for _, tc := range []struct {
		name        string
		current     string
		api, cm     controlplane.Rollout
		held        bool
		stage       controlplane.UpgradeStage
		apiVersion  string
		controllers string
	}{
		{"no upgrade: nothing to wait for", "", at(target, true), at(target, true), false, controlplane.UpgradeDone, "", target},
		{"settled", target, at(target, true), at(target, true), false, controlplane.UpgradeDone, "", target},
		{"spec raised, nothing moved: everything stays", old, at(old, true), at(old, true), true, controlplane.UpgradeWaitingForBackup, old, old},
		{"the apiservers already roll: the upgrade goes on", old, at(target, false), at(old, true), false, controlplane.UpgradeAPIServers, "", old},
		{"the controllers roll: the upgrade goes on", old, at(target, true), at(old, true), false, controlplane.UpgradeControllers, "", target},
		// status.version is still old while everything runs 1.36.3; the target was raised
		// to 1.36.4 since: holding at status.version would roll a 1.36 apiserver back.
		{"a target raised during an upgrade: it goes on", old, at("v1.36.2", true), at("v1.36.2", true), false, controlplane.UpgradeAPIServers, "", "v1.36.2"},
		{"the controllers alone moved (an apiserver rolling again): it goes on", old, at(old, false), at(target, true), false, controlplane.UpgradeAPIServers, "", target},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := controlplane.PlanUpgrade(tc.current, target, tc.api, tc.cm, tc.cm).WaitForBackup(tc.current, target, "the backup runs", tc.api, tc.cm, tc.cm)
			if p.Stage != tc.stage || p.APIServerVersion != tc.apiVersion || p.ControllersVersion != tc.controllers || p.Rolling != "" != (p.Stage == controlplane.UpgradeAPIServers || p.Stage == controlplane.UpgradeControllers) {
				t.Errorf("plan %+v, want stage %s, apiserver at %q, controllers at %s", p, tc.stage, tc.apiVersion, tc.controllers)
			}
			if tc.held && (!strings.Contains(p.Message, "the backup runs") || p.Stage.Reason() != v1alpha1.WaitingForBackupReason) {
				t.Errorf("held plan %+v: reason %s, message without the cause", p, p.Stage.Reason())
			}
		})
	}
}

func TestImageVersion(t *testing.T) {
	for image, want := range map[string]string{
		"registry.k8s.io/kube-apiserver:v1.36.3":             "v1.36.3",
		"mirror.example.com:5000/k8s/kube-scheduler:v1.35.4": "v1.35.4",
		"mirror.example.com:5000/k8s/kube-scheduler":         "",
		"registry.k8s.io/etcd:3.6.16-0":                      "",
		"kube-apiserver":                                     "",
	} {
		if got := controlplane.ImageVersion(image); got != want {
			t.Errorf("ImageVersion(%s) = %q, want %q", image, got, want)
		}
	}
}
