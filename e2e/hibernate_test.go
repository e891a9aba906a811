//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// testHibernation hibernates a tenant with a joined pool: its servers go first, then every
// control-plane pod, etcd's volumes staying; woken, the tenant's objects are there and the
// pool's servers join again as new nodes through the same endpoint.
func testHibernation(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, pool *v1alpha1.WorkerPool, tenant kubernetes.Interface) {
	if err := kube.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
		t.Fatal(err)
	}
	replicas := ptr.Deref(pool.Spec.Replicas, 1)
	marker := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "before-hibernation"}, Data: map[string]string{"kept": "yes"}}
	if _, err := tenant.CoreV1().ConfigMaps("default").Create(ctx, marker, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	setHibernated(t, ctx, tc, true)
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 6*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return tc.Status.Phase == v1alpha1.TenantClusterHibernated, nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("not Hibernated within 6m: phase %s, Hibernated %+v", tc.Status.Phase, meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.HibernatedCondition))
	}
	t.Logf("hibernated %.1fs after spec.hibernated was set (pool of %d drained first)", time.Since(start).Seconds(), replicas)
	cpns := tc.Status.ControlPlaneNamespace
	pods, err := clients.CoreV1().Pods(cpns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		t.Errorf("pod %s still in the control-plane namespace of a hibernated tenant (%s)", p.Name, p.Status.Phase)
	}
	pvcs, err := clients.CoreV1().PersistentVolumeClaims(cpns).List(ctx, metav1.ListOptions{})
	if err != nil || len(pvcs.Items) == 0 {
		t.Errorf("etcd's PersistentVolumeClaims of a hibernated tenant: %d, %v", len(pvcs.Items), err)
	}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
		t.Fatal(err)
	}
	if pool.Status.Replicas != 0 || ptr.Deref(pool.Spec.Replicas, 1) != replicas {
		t.Errorf("pool while hibernated: %d servers, spec.replicas %d; want 0 and %d kept", pool.Status.Replicas, ptr.Deref(pool.Spec.Replicas, 1), replicas)
	}

	woken := time.Now()
	setHibernated(t, ctx, tc, false)
	waitTenantReady(t, ctx, tc)
	t.Logf("Ready %.1fs after spec.hibernated was cleared", time.Since(woken).Seconds())
	got, err := tenant.CoreV1().ConfigMaps("default").Get(ctx, marker.Name, metav1.GetOptions{})
	if err != nil || got.Data["kept"] != "yes" {
		t.Errorf("ConfigMap written before the hibernation: %+v, %v", got, err)
	}
	for _, n := range waitPool(t, ctx, pool, tenant, replicas) {
		node, err := tenant.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if node.CreationTimestamp.Time.Before(woken.Truncate(time.Second)) {
			t.Errorf("node %s registered at %s, before the wake: not a new server's", n, node.CreationTimestamp)
		}
	}
	t.Logf("the pool's %d nodes Ready again %.1fs after the wake", replicas, time.Since(woken).Seconds())
}

func setHibernated(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, on bool) {
	t.Helper()
	patch := `{"spec":{"hibernated":false}}`
	if on {
		patch = `{"spec":{"hibernated":true}}`
	}
	if err := kube.Patch(ctx, tc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}
