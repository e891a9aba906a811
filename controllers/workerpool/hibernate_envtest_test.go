//go:build envtest

package workerpool_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// TestHibernatingTenantEmptiesItsPools: while its TenantCluster hibernates, a pool counts as
// zero (its Nodes drained and deleted with their servers) without its spec.replicas
// changing; with the control plane down it says so; woken, it makes its servers again. The
// TenantCluster controller does not run here: the test writes its status as it would.
func TestHibernatingTenantEmptiesItsPools(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	wp := w.pool("sleep", 2)
	create(t, wp)
	w.fakeKubelets(t, wp.Name)
	waitPool(t, wp, time.Minute, "two servers joined", readyWith(2))

	patchTenant(t, w.tc, `{"spec":{"hibernated":true}}`)
	waitPool(t, wp, time.Minute, "no server left", func(wp *v1alpha1.WorkerPool) bool { return wp.Status.Replicas == 0 })
	if got := poolServers(t, w.cloud, wp); len(got) != 0 {
		t.Errorf("servers %v left in a hibernating tenant's pool", names(got))
	}
	if nodes := poolNodes(t, wp.Name); len(nodes) != 0 {
		t.Errorf("%d Nodes left in the tenant", len(nodes))
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(wp), wp); err != nil {
		t.Fatal(err)
	}
	if r := ptr.Deref(wp.Spec.Replicas, 0); r != 2 {
		t.Errorf("spec.replicas %d after hibernation, want 2 kept for the wake", r)
	}

	// The control plane goes down: the pool says why it has no server.
	setTenantReady(t, w.tc, false)
	waitPool(t, wp, time.Minute, "ServersReady says the tenant hibernates", func(wp *v1alpha1.WorkerPool) bool {
		c := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ServersReadyCondition)
		return c != nil && c.Reason == v1alpha1.HibernatedReason && strings.Contains(c.Message, "spec.replicas 2 is kept")
	})

	patchTenant(t, w.tc, `{"spec":{"hibernated":false}}`)
	setTenantReady(t, w.tc, true)
	waitPool(t, wp, time.Minute, "woken: two servers joined again", readyWith(2))
}

func patchTenant(t *testing.T, tc *v1alpha1.TenantCluster, patch string) {
	t.Helper()
	if err := k8sClient.Patch(context.Background(), tc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// setTenantReady writes Ready as the TenantCluster controller would.
func setTenantReady(t *testing.T, tc *v1alpha1.TenantCluster, ready bool) {
	t.Helper()
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	c := metav1.Condition{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.AvailableReason}
	if !ready {
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.HibernatedReason
	}
	meta.SetStatusCondition(&tc.Status.Conditions, c)
	if err := k8sClient.Status().Update(context.Background(), tc); err != nil {
		t.Fatal(err)
	}
}
