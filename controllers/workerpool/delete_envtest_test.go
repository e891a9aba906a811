//go:build envtest

package workerpool_test

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/workerpool"
)

// TestPoolsDeletedTogetherReleaseTheirSecret: two pools sharing a credentials Secret,
// deleted at once (as their TenantCluster's deletion does), each used to keep the Secret
// for the other, and neither released it: the namespace never finished terminating.
func TestPoolsDeletedTogetherReleaseTheirSecret(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	a, b := w.pool("twin-a", 1), w.pool("twin-b", 1)
	create(t, a)
	create(t, b)
	w.fakeKubelets(t, a.Name)
	w.fakeKubelets(t, b.Name)
	waitPool(t, a, time.Minute, "twin-a joined", readyWith(1))
	waitPool(t, b, time.Minute, "twin-b joined", readyWith(1))

	for _, wp := range []*v1alpha1.WorkerPool{a, b} {
		if err := k8sClient.Delete(ctx, wp); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "both pools gone", func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(a), &v1alpha1.WorkerPool{})) &&
			apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), &v1alpha1.WorkerPool{}))
	})
	secret := &corev1.Secret{}
	eventually(t, 10*time.Second, "the credentials Secret released", func() bool {
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "openstack"}, secret)
		return err == nil && !slices.Contains(secret.Finalizers, workerpool.CredentialsFinalizer)
	})
}
