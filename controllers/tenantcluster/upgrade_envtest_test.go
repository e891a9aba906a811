//go:build envtest

package tenantcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// TestUpgradeWaitsForItsBackup: with backups configured, a raised spec.version first takes a
// backup at the version the tenant runs. Until it is written nothing rolls (the apiserver
// Deployment keeps its image) and UpToDate says WaitingForBackup; then the apiservers roll.
func TestUpgradeWaitsForItsBackup(t *testing.T) {
	ctx := context.Background()
	older := versions.Supported[len(versions.Supported)-2]
	tc, _ := backupTenantWith(t, "upgraded", nil, func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = older })
	ns := controlplane.NamespaceOf(tc)
	playDeployments(t, ns)
	waitFor(t, tc, "Ready at its version, with its first backup", func(tc *v1alpha1.TenantCluster) bool {
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition) && tc.Status.Version == older &&
			tc.Status.Backup != nil && tc.Status.Backup.LastSuccessfulTime != nil
	})
	apiImage := func() string {
		d := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controlplane.APIServer.ObjectName(tc.Name)}, d); err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == string(controlplane.APIServer) {
				return c.Image
			}
		}
		t.Fatalf("no %s container in %s", controlplane.APIServer, d.Name)
		return ""
	}

	// The pre-upgrade backup hangs in its snapshot until the gate opens.
	endpoint := controlplane.EtcdClientURL(tc.Name, ns)
	gate := make(chan struct{})
	snapshotGates.Store(endpoint, gate)
	t.Cleanup(func() { snapshotGates.Delete(endpoint) })
	patch := []byte(`{"spec":{"version":"` + versions.Default + `"}}`)
	if err := k8sClient.Patch(ctx, tc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "the upgrade waits for its backup", func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.UpToDateCondition)
		return c.Reason == v1alpha1.WaitingForBackupReason && c.ObservedGeneration == tc.Generation
	})
	c := condition(tc, v1alpha1.UpToDateCondition)
	for _, want := range []string{versions.Default, older, tenantcluster.SkipPreUpgradeBackupAnnotation} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("UpToDate message %q does not name %s", c.Message, want)
		}
	}
	if tc.Status.Phase != v1alpha1.TenantClusterUpgrading || tc.Status.Version != older {
		t.Errorf("phase %s, status.version %s while the upgrade waits; want Upgrading, %s", tc.Status.Phase, tc.Status.Version, older)
	}
	time.Sleep(2 * time.Second) // a few reconciles: still nothing rolls
	if img := apiImage(); !strings.HasSuffix(img, ":"+older) {
		t.Fatalf("kube-apiserver image %s before the pre-upgrade backup, want %s", img, older)
	}

	close(gate)
	waitFor(t, tc, "the backup recorded at the upgrade's generation", func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.Backup != nil && tc.Status.Backup.Generation == tc.Generation
	})
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return strings.HasSuffix(apiImage(), ":"+versions.Default), nil
	})
	if err != nil {
		t.Fatalf("kube-apiserver image %s after the pre-upgrade backup, want %s", apiImage(), versions.Default)
	}
}
