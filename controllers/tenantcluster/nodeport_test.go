//go:build envtest

package tenantcluster_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// A NodePort endpoint, once published, stays on its node whatever order the seed's nodes
// are listed in and whatever nodes come; it moves only when its node is gone, with an event.
func TestNodePortEndpointStaysOnItsNode(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tc := small(ns, "steady")
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(ctx, tc) })
	waitFor(t, tc, "endpoint published", func(tc *v1alpha1.TenantCluster) bool { return tc.Status.Endpoint != "" })
	first := tc.Status.Endpoint
	if !strings.HasPrefix(first, "https://"+nodeAddress+":") {
		t.Fatalf("status.endpoint %q, want the seed node's %s", first, nodeAddress)
	}

	// Ready nodes whose names sort before the seed's, created in random order: each
	// creation is a node event that reconciles the tenant.
	names := []string{"node-a", "node-b", "node-c", "node-d"}
	rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for _, name := range names {
		ip := fmt.Sprintf("192.0.2.%d", 11+int(name[len(name)-1]-'a'))
		if err := createNode(ctx, name, ip, true); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8sClient.Delete(ctx, nodeNamed(name)) })
	}
	// The published node going NotReady is no reason to move either: it may come back.
	seed := &corev1.Node{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: seedNode}, seed); err != nil {
		t.Fatal(err)
	}
	if err := setNodeStatus(ctx, seed, nodeAddress, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: seedNode}, seed); err == nil {
			_ = setNodeStatus(ctx, seed, nodeAddress, true)
		} else {
			_ = createNode(ctx, seedNode, nodeAddress, true)
		}
	})
	// Nothing to wait for when it is right: watch it for a few seconds of node events.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return tc.Status.Endpoint != first, nil
	})
	if err == nil {
		t.Fatalf("status.endpoint moved from %s to %s while its node still exists", first, tc.Status.Endpoint)
	}

	// Its node gone, it moves to the first Ready node by name, and says so.
	if err := k8sClient.Delete(ctx, seed); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "endpoint moved to node-a", func(tc *v1alpha1.TenantCluster) bool {
		return strings.HasPrefix(tc.Status.Endpoint, "https://192.0.2.11:")
	})
	eventually(t, "an EndpointMoved event", 30*time.Second, func(ctx context.Context) bool {
		return hasEvent(ctx, tc, "EndpointMoved")
	})
}

// hasEvent reports whether an event with reason was recorded about the object.
func hasEvent(ctx context.Context, obj client.Object, reason string) bool {
	list := &eventsv1.EventList{}
	if err := k8sClient.List(ctx, list, client.InNamespace(obj.GetNamespace())); err != nil {
		return false
	}
	return slices.ContainsFunc(list.Items, func(e eventsv1.Event) bool {
		return e.Reason == reason && e.Regarding.UID == obj.GetUID()
	})
}

func nodeNamed(name string) *corev1.Node {
	n := &corev1.Node{}
	n.Name = name
	return n
}
