//go:build envtest

package workerpool_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/workerpool"
)

// TestDeleteMachineRequest: the Node that asks to go (kubeseed.io/delete-machine) is the
// one a scale-down removes, not the one the default order would pick; its server waits for
// its volumes to detach after its pods are gone, then goes, with no drain timeout.
func TestDeleteMachineRequest(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	wp := w.pool("pick", 2)
	create(t, wp)
	w.fakeKubelets(t, wp.Name)
	waitPool(t, wp, time.Minute, "two servers joined", readyWith(2))
	before := poolServers(t, w.cloud, wp)

	// pick-1 asks to go and has a volume attached (as the attach-detach controller says).
	node := &corev1.Node{}
	if err := tenantClient.Get(ctx, client.ObjectKey{Name: "pick-1"}, node); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(node.DeepCopy())
	node.Annotations = map[string]string{workerpool.DeleteMachineAnnotation: "true"}
	if err := tenantClient.Patch(ctx, node, patch); err != nil {
		t.Fatal(err)
	}
	node.Status.VolumesAttached = []corev1.AttachedVolume{{Name: "kubernetes.io/csi/cinder.csi.openstack.org^vol-1", DevicePath: ""}}
	if err := tenantClient.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}

	wp.Spec.Replicas = ptr.To[int32](1)
	if err := k8sClient.Update(ctx, wp); err != nil {
		t.Fatal(err)
	}
	waitPool(t, wp, 30*time.Second, "ServersReady names pick-1 as the one going", func(wp *v1alpha1.WorkerPool) bool {
		c := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ServersReadyCondition)
		return c != nil && strings.Contains(c.Message, "removing pick-1 (draining its Node)")
	})
	time.Sleep(2 * time.Second) // a few reconciles: the attached volume holds the server
	if got := names(poolServers(t, w.cloud, wp)); len(got) != 2 {
		t.Fatalf("servers %v: pick-1 went with a volume still attached", got)
	}
	if err := tenantClient.Get(ctx, client.ObjectKey{Name: "pick-1"}, node); err != nil {
		t.Fatal(err)
	}
	node.Status.VolumesAttached = nil
	if err := tenantClient.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	waitPool(t, wp, 30*time.Second, "scaled down once the volume detached", readyWith(1))
	after := poolServers(t, w.cloud, wp)
	if len(after) != 1 || after[0].ID != before[0].ID {
		t.Fatalf("servers left %v, want pick-0 (%s): pick-1 asked to go", names(after), before[0].ID)
	}
	if hasEventQuickly(t, wp, "DrainTimedOut") {
		t.Error("the drain timed out: the server should have gone once its volume detached")
	}
}

// hasEventQuickly looks once for an event of reason about wp.
func hasEventQuickly(t *testing.T, wp *v1alpha1.WorkerPool, reason string) bool {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := k8sClient.List(context.Background(), list, client.InNamespace(wp.Namespace)); err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(list.Items, func(e eventsv1.Event) bool { return e.Regarding.UID == wp.UID && e.Reason == reason })
}
