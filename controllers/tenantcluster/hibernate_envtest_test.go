//go:build envtest

package tenantcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// TestHibernationStopsInOrderAndWakes: spec.hibernated first waits for the tenant's pools to
// have no server, then for a final backup, then scales the controllers and apiservers to
// zero, etcd after them, and says Hibernated with no periodic write; spec.version is refused
// meanwhile; clearing it wakes the tenant back to Ready. The WorkerPool controller does not
// run here: the test writes the pool's status as it would.
func TestHibernationStopsInOrderAndWakes(t *testing.T) {
	ctx := context.Background()
	tc, _ := backupTenant(t, "sleepy")
	cpns := controlplane.NamespaceOf(tc)
	playDeployments(t, cpns)
	waitFor(t, tc, "Ready with its first backup", func(tc *v1alpha1.TenantCluster) bool {
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition) && tc.Status.Backup != nil
	})
	firstBackup := tc.Status.Backup.LastBackup
	pool := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: tc.Namespace, Name: "workers"},
		Spec: v1alpha1.WorkerPoolSpec{
			ClusterName: tc.Name, Flavor: "m1.small", Image: "ubuntu-22.04", NetworkID: "5d0e8a4c-7f3b-4c2a-9e1d-6b5a4c3d2e1f",
			CredentialsSecretRef: corev1.LocalObjectReference{Name: "customer-cloud"}, Replicas: ptr.To[int32](2),
		},
	}
	if err := k8sClient.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	setPoolReplicas(t, pool, 2)

	setHibernated(t, tc, true)
	waitFor(t, tc, "hibernation waits for the pool's servers", func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.HibernatedCondition)
		return c.Reason == v1alpha1.WaitingForWorkersReason && strings.Contains(c.Message, "workers (2)")
	})
	if tc.Status.Phase != v1alpha1.TenantClusterHibernating || !meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition) {
		t.Errorf("phase %s, Ready %+v while the workers drain; want Hibernating and still Ready", tc.Status.Phase, condition(tc, v1alpha1.ReadyCondition))
	}
	api := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: controlplane.APIServer.ObjectName(tc.Name)}}
	if n, _ := replicasOf(t, ctx, api); n == 0 {
		t.Fatal("the apiserver stopped before the pool's servers were gone")
	}
	// A version change is refused while it hibernates, naming the field.
	err := k8sClient.Patch(ctx, tc.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"version":"`+versions.Supported[0]+`"}}`)))
	if err == nil || !strings.Contains(err.Error(), "spec.version cannot change while the tenant hibernates") {
		t.Errorf("a version change while hibernating: %v", err)
	}

	setPoolReplicas(t, pool, 0)
	waitFor(t, tc, "the controllers and apiservers stop after the final backup", func(tc *v1alpha1.TenantCluster) bool {
		return condition(tc, v1alpha1.HibernatedCondition).Reason == v1alpha1.ScalingDownReason
	})
	hibernating := condition(tc, v1alpha1.HibernatedCondition).LastTransitionTime
	if b := tc.Status.Backup; b == nil || b.LastBackup == firstBackup || b.LastSuccessfulTime.Before(&hibernating) {
		t.Errorf("status.backup %+v: want a backup written since the hibernation began at %s", b, hibernating)
	}
	for _, c := range []controlplane.Component{controlplane.APIServer, controlplane.ControllerManager, controlplane.Scheduler} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: c.ObjectName(tc.Name)}}
		eventually(t, string(c)+" scaled to zero", time.Minute, func(ctx context.Context) bool {
			n, ok := replicasOf(t, ctx, d)
			return ok && n == 0
		})
	}
	// etcd goes once the apiservers' pods are gone (the player wrote their status).
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: controlplane.Etcd.ObjectName(tc.Name)}}
	eventually(t, "etcd scaled to zero", time.Minute, func(ctx context.Context) bool {
		n, ok := replicasOf(t, ctx, sts)
		return ok && n == 0
	})
	setStatefulSetStopped(t, ctx, client.ObjectKeyFromObject(sts))
	waitFor(t, tc, "Hibernated", func(tc *v1alpha1.TenantCluster) bool {
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.HibernatedCondition)
	})
	ready := condition(tc, v1alpha1.ReadyCondition)
	backedUp := condition(tc, v1alpha1.BackedUpCondition)
	if tc.Status.Phase != v1alpha1.TenantClusterHibernated || ready.Status != metav1.ConditionFalse || ready.Reason != v1alpha1.HibernatedReason ||
		backedUp.Status != metav1.ConditionTrue || backedUp.Reason != v1alpha1.HibernatedReason {
		t.Errorf("phase %s, Ready %+v, BackedUp %+v; want Hibernated, False/Hibernated, True/Hibernated", tc.Status.Phase, ready, backedUp)
	}
	if c := condition(tc, v1alpha1.APIServerAvailableCondition); c.Reason != v1alpha1.HibernatedReason {
		t.Errorf("APIServerAvailable %+v, want reason Hibernated", c)
	}
	// The endpoint's Service stays; nothing is written while it sleeps.
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: controlplane.APIServer.ObjectName(tc.Name)}, &corev1.Service{}); err != nil {
		t.Errorf("the apiserver Service of a hibernated tenant: %v", err)
	}
	time.Sleep(time.Second) // reconciles queued before the last status write settle
	before := resourceVersions(t, tc.Namespace, cpns)
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	snap := tc.DeepCopy()
	time.Sleep(3 * time.Second)
	if after := resourceVersions(t, tc.Namespace, cpns); !equalMaps(before, after) {
		_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc)
		t.Errorf("a hibernated tenant is written to: %v, then %v\nstatus before %+v\nafter %+v", before, after, snap.Status, tc.Status)
	}

	setHibernated(t, tc, false)
	waitFor(t, tc, "waking", func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.Phase == v1alpha1.TenantClusterWaking && condition(tc, v1alpha1.HibernatedCondition).Reason == v1alpha1.WakingReason
	})
	// etcd and the apiserver come back first; the controllers once the apiserver answers.
	startAPIServer(t, ctx, tc)
	waitFor(t, tc, "awake and Ready", func(tc *v1alpha1.TenantCluster) bool {
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition) && tc.Status.Phase == v1alpha1.TenantClusterReady
	})
	if c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.HibernatedCondition); c != nil {
		t.Errorf("condition Hibernated on an awake tenant: %+v", c)
	}
}

// setHibernated sets spec.hibernated.
func setHibernated(t *testing.T, tc *v1alpha1.TenantCluster, on bool) {
	t.Helper()
	patch := []byte(`{"spec":{"hibernated":false}}`)
	if on {
		patch = []byte(`{"spec":{"hibernated":true}}`)
	}
	if err := k8sClient.Patch(context.Background(), tc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
}

// setPoolReplicas writes the count of servers the WorkerPool controller would.
func setPoolReplicas(t *testing.T, p *v1alpha1.WorkerPool, n int32) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(p), p); err != nil {
			return err
		}
		p.Status.Replicas = n
		return k8sClient.Status().Update(context.Background(), p)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setStatefulSetStopped plays the StatefulSet controller for a StatefulSet scaled to zero.
func setStatefulSetStopped(t *testing.T, ctx context.Context, key client.ObjectKey) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sts := &appsv1.StatefulSet{}
		if err := k8sClient.Get(ctx, key, sts); err != nil {
			return err
		}
		sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation}
		return k8sClient.Status().Update(ctx, sts)
	})
	if err != nil {
		t.Fatal(err)
	}
}
