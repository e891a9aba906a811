//go:build e2e

package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

// testPoolHealth unplugs machines of a pool of three (their kubelets stop reaching the
// tenant: NotReady, as a frozen VM): two at once are more than maxUnhealthy allows, so
// nothing is replaced and the pool says why; with one plugged back in, the other is
// replaced after the (shortened) unhealthyTimeout.
func testPoolHealth(t *testing.T, ctx context.Context, host seed.MachineHost, pool *v1alpha1.WorkerPool, tenant kubernetes.Interface, customer *openstack.Clients) {
	nodes := poolNodes(t, ctx, tenant, pool.Name)
	if len(nodes) != 3 {
		t.Fatalf("want a pool of 3 nodes, have %v", nodes)
	}
	patch := client.MergeFrom(pool.DeepCopy())
	pool.Spec.HealthCheck = v1alpha1.HealthCheckSpec{
		UnhealthyTimeout: &metav1.Duration{Duration: 15 * time.Second},
		MaxUnhealthy:     ptr.To(intstr.FromInt32(1)),
	}
	if err := kube.Patch(ctx, pool, patch); err != nil {
		t.Fatal(err)
	}
	frozen, thawed := nodes[0], nodes[1]
	for _, n := range []string{frozen, thawed} {
		if err := host.SetMachineConnected(ctx, n, false); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = host.SetMachineConnected(context.Background(), n, true) })
	}
	start := time.Now()
	waitNodeReadyStatus(t, ctx, tenant, frozen, false)
	waitNodeReadyStatus(t, ctx, tenant, thawed, false)
	t.Logf("2 machines unplugged: both Nodes NotReady after %.1fs", time.Since(start).Seconds())

	// Too many at once: held, and the pool names the reason.
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
			return false, nil
		}
		c := meta.FindStatusCondition(pool.Status.Conditions, v1alpha1.NodesReadyCondition)
		return c != nil && c.Reason == v1alpha1.TooManyUnhealthyReason, nil
	})
	if err != nil {
		t.Fatalf("NodesReady never %s with 2 of 3 unhealthy and maxUnhealthy 1: %+v", v1alpha1.TooManyUnhealthyReason, pool.Status.Conditions)
	}
	c := meta.FindStatusCondition(pool.Status.Conditions, v1alpha1.NodesReadyCondition)
	t.Logf("NodesReady=%s %s: %s", c.Status, c.Reason, c.Message)
	if !strings.Contains(c.Message, "maxUnhealthy") {
		t.Errorf("the condition does not say why nothing is replaced: %s", c.Message)
	}
	// Held for longer than the timeout: no server of the pool goes and none is made.
	time.Sleep(20 * time.Second)
	if got := poolServerNames(t, ctx, customer, pool); !slices.Equal(got, nodes) {
		t.Fatalf("servers changed while remediation was held: %v, were %v", got, nodes)
	}

	// One back: a single sick server is within maxUnhealthy and is replaced.
	if err := host.SetMachineConnected(ctx, thawed, true); err != nil {
		t.Fatal(err)
	}
	waitNodeReadyStatus(t, ctx, tenant, thawed, true)
	start = time.Now()
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 6*time.Minute, true, func(ctx context.Context) (bool, error) {
		got := poolServerNames(t, ctx, customer, pool)
		return len(got) == 3 && !slices.Contains(got, frozen), nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("server %s (Node NotReady) not replaced: servers %v", frozen, poolServerNames(t, ctx, customer, pool))
	}
	after := waitPool(t, ctx, pool, tenant, 3)
	t.Logf("NotReady → replacement Ready and the sick server gone: %.1fs (unhealthyTimeout 15s)", time.Since(start).Seconds())
	if slices.Contains(after, frozen) || !slices.Contains(after, thawed) {
		t.Errorf("nodes after remediation %v: want %s gone and %s kept", after, frozen, thawed)
	}
	events, err := clients.EventsV1().Events(pool.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events.Items, func(e eventsv1.Event) bool {
		return e.Reason == "ServerRemediated" && e.Regarding.Name == pool.Name && strings.Contains(e.Note, frozen)
	}) {
		t.Errorf("no ServerRemediated event naming %s", frozen)
	}
}

// poolServerNames lists the pool's servers in Nova, sorted.
func poolServerNames(t *testing.T, ctx context.Context, customer *openstack.Clients, pool *v1alpha1.WorkerPool) []string {
	t.Helper()
	list, err := customer.Compute.ListServers(ctx, openstack.PoolTag(string(pool.UID)))
	if err != nil {
		t.Logf("list servers: %v", err)
		return nil
	}
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

// waitNodeReadyStatus waits for a Node's Ready condition to be True (ready) or not.
func waitNodeReadyStatus(t *testing.T, ctx context.Context, tenant kubernetes.Interface, name string, ready bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		return err == nil && nodeIsReady(n) == ready, nil
	})
	if err != nil {
		t.Fatalf("Node %s not Ready=%v within 3m", name, ready)
	}
}
