//go:build envtest

package tenantcluster_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// A TenantCluster being deleted deletes its WorkerPools and waits until they are gone: their
// servers drain through its control plane. The WorkerPool controller does not run here; a
// test finalizer stands for it.
func TestDeletionWaitsForWorkerPools(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tc := small(ns, "pools")
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	const hold = "test.kubeseed.io/draining"
	pool := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pool-a", Finalizers: []string{hold}},
		Spec: v1alpha1.WorkerPoolSpec{
			ClusterName: tc.Name, Flavor: "m1.small", Image: "ubuntu-22.04", NetworkID: "5d0e8a4c-7f3b-4c2a-9e1d-6b5a4c3d2e1f",
			CredentialsSecretRef: corev1.LocalObjectReference{Name: "customer-cloud"},
		},
	}
	other := pool.DeepCopy()
	other.Name, other.Spec.ClusterName, other.Finalizers = "other", "another-cluster", nil
	for _, p := range []*v1alpha1.WorkerPool{pool, other} {
		if err := k8sClient.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, tc, "finalizer", func(tc *v1alpha1.TenantCluster) bool { return len(tc.Finalizers) > 0 })
	if err := k8sClient.Delete(ctx, tc); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
			return false, nil
		}
		return !pool.DeletionTimestamp.IsZero(), nil
	})
	if err != nil {
		t.Fatal("the tenant's WorkerPool was not deleted")
	}
	time.Sleep(2 * time.Second)
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatalf("the TenantCluster went while its WorkerPool remained: %v", err)
	}
	if tc.Status.Phase != v1alpha1.TenantClusterDeleting {
		t.Errorf("phase %s, want Deleting", tc.Status.Phase)
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(other), other); err != nil || !other.DeletionTimestamp.IsZero() {
		t.Errorf("another cluster's WorkerPool was touched: %v, %v", err, other.DeletionTimestamp)
	}

	pool.Finalizers = nil
	if err := k8sClient.Update(ctx, pool); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc)), nil
	})
	if err != nil {
		t.Fatal("TenantCluster not gone after its WorkerPool went")
	}
}
