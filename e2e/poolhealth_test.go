//go:build e2e

package e2e

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/e2e/dataplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

// bootFaults makes the harness boot a machine whose user_data fails before `kubeadm join`
// (a broken image, a join that cannot reach the apiserver): its server is ACTIVE in Nova
// and its Node never registers.
type bootFaults struct {
	mu     sync.Mutex
	armed  bool
	broken []string // servers booted with the failing user_data
}

// install is a startDataPlane option: it wraps the harness's Prelude.
func (f *bootFaults) install(h *dataplane.Harness) {
	prev := h.Prelude
	h.Prelude = func(name string, n int) string {
		var out string
		if prev != nil {
			out = prev(name, n)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.armed {
			return out
		}
		f.armed = false
		f.broken = append(f.broken, name)
		// The machine runs its bootstrap with `sh -e`: this stops it before the join.
		return out + "\necho 'e2e: this server's user_data fails before joining' >&2\nexit 1\n"
	}
}

// breakNext makes the next machine booted fail its user_data.
func (f *bootFaults) breakNext() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = true
}

// lastBroken is the server last booted with the failing user_data ("" when none).
func (f *bootFaults) lastBroken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.broken) == 0 {
		return ""
	}
	return f.broken[len(f.broken)-1]
}

// startupTimeout is the shortened spec.healthCheck.nodeStartupTimeout of testPoolStartup:
// above the time a good server takes from its creation to its Node registering (about 30 s
// here), or its replacement would be replaced in turn.
const startupTimeout = 45 * time.Second

// testPoolStartup scales the pool to n with the next machine booted failing its user_data:
// its server is replaced once its Node has not registered nodeStartupTimeout after it was
// made, not before, and the pool reaches n Ready Nodes. The scale-up the test makes anyway
// carries the fault, so the check costs about the timeout, not a server more.
func testPoolStartup(t *testing.T, ctx context.Context, faults *bootFaults, pool *v1alpha1.WorkerPool, tenant kubernetes.Interface, customer *openstack.Clients, n int32) {
	original := refreshPool(t, ctx, pool).Spec.HealthCheck
	t.Cleanup(func() { restoreHealthCheck(t, pool, original) })
	setHealthCheck(t, ctx, pool, v1alpha1.HealthCheckSpec{NodeStartupTimeout: &metav1.Duration{Duration: startupTimeout}})
	before := poolServers(t, ctx, customer, pool)
	faults.breakNext()
	scaleTo(t, ctx, pool, n)

	var broken string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(context.Context) (bool, error) {
		broken = faults.lastBroken()
		return broken != "", nil
	})
	if err != nil {
		t.Fatalf("the harness booted no new server within 3m of scaling to %d", n)
	}
	var brokenID string
	for id, name := range poolServers(t, ctx, customer, pool) {
		if name == broken && before[id] == "" {
			brokenID = id
		}
	}
	if brokenID == "" {
		t.Fatalf("server %s, booted with a failing user_data, is not a new server of the pool", broken)
	}
	srv, err := customer.Compute.GetServer(ctx, brokenID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server %s (%s) booted with a user_data that fails before joining", broken, brokenID)

	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 6*time.Minute, true, func(ctx context.Context) (bool, error) {
		got := poolServers(t, ctx, customer, pool)
		return len(got) == int(n) && got[brokenID] == "", nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("server %s (its Node never registered) not replaced: servers %v", broken, poolServers(t, ctx, customer, pool))
	}
	gone := time.Since(srv.Created)
	waitPool(t, ctx, pool, tenant, n)
	t.Logf("a server that never joins: deleted %.1fs after it was made (nodeStartupTimeout %s), the pool at %d Ready Nodes %.1fs after",
		gone.Seconds(), startupTimeout, n, time.Since(srv.Created).Seconds())
	e := remediation(t, ctx, pool, broken, brokenID)
	if e == nil {
		t.Fatalf("no ServerRemediated event naming %s", broken)
	}
	if !strings.Contains(e.Note, "nodeStartupTimeout") {
		t.Errorf("the ServerRemediated event does not give the startup timeout as the reason: %s", e.Note)
	}
	// Not before its time: the server had its whole nodeStartupTimeout to join.
	if at := eventTime(e); at.Sub(srv.Created) < startupTimeout {
		t.Errorf("server %s remediated %.1fs after it was made, before nodeStartupTimeout (%s)", broken, at.Sub(srv.Created).Seconds(), startupTimeout)
	}
}

// unhealthyTimeout is the shortened spec.healthCheck.unhealthyTimeout of testPoolHealth.
const unhealthyTimeout = 15 * time.Second

// testPoolHealth unplugs machines of a pool of three (their kubelets stop reaching the
// tenant: NotReady, as a frozen VM): two at once are more than maxUnhealthy allows, so
// nothing is replaced and the pool says why; with one plugged back in, the other is
// replaced after the (shortened) unhealthyTimeout.
func testPoolHealth(t *testing.T, ctx context.Context, host seed.MachineHost, pool *v1alpha1.WorkerPool, tenant kubernetes.Interface, customer *openstack.Clients) {
	nodes := poolNodes(t, ctx, tenant, pool.Name)
	if len(nodes) != 3 {
		t.Fatalf("want a pool of 3 nodes, have %v", nodes)
	}
	original := refreshPool(t, ctx, pool).Spec.HealthCheck
	t.Cleanup(func() { restoreHealthCheck(t, pool, original) })
	servers := poolServers(t, ctx, customer, pool)
	// The two Nodes go NotReady seconds apart (each when its own last heartbeat is older
	// than the tenant's node-monitor grace period): with the short timeout set now, or as
	// soon as both are NotReady, the first would be sick alone for a while, within
	// maxUnhealthy, and rightly replaced (the surge server of 07fa93c). So an hour while
	// they go, and the short timeout only once both have been NotReady for longer than it.
	setHealthCheck(t, ctx, pool, v1alpha1.HealthCheckSpec{
		UnhealthyTimeout: &metav1.Duration{Duration: time.Hour},
		MaxUnhealthy:     ptr.To(intstr.FromInt32(1)),
	})
	frozen, thawed := nodes[0], nodes[1]
	var frozenID string
	for id, name := range servers {
		if name == frozen {
			frozenID = id
		}
	}
	if frozenID == "" || len(servers) != 3 {
		t.Fatalf("servers of the pool %v: want 3, among them %s", servers, frozen)
	}
	start := time.Now()
	for i, n := range []string{frozen, thawed} {
		if i > 0 {
			// Apart on purpose, as they went in CI (11 s): the hold must not depend on
			// both Nodes turning NotReady in the same second.
			time.Sleep(10 * time.Second)
		}
		if err := host.SetMachineConnected(ctx, n, false); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = host.SetMachineConnected(context.Background(), n, true) })
	}
	first := waitNodeReadyStatus(t, ctx, tenant, frozen, false)
	since := waitNodeReadyStatus(t, ctx, tenant, thawed, false)
	t.Logf("2 machines unplugged 10s apart: both Nodes NotReady %.1fs after the first was unplugged, their transitions %.0fs apart",
		time.Since(start).Seconds(), since.Sub(first).Seconds())
	if first.After(since) {
		since = first
	}
	// Both sick from the first pass that sees the short timeout: the later Node's
	// transition is older than it (a second more: the transition time has whole seconds).
	time.Sleep(time.Until(since.Add(unhealthyTimeout + time.Second)))
	setHealthCheck(t, ctx, pool, v1alpha1.HealthCheckSpec{
		UnhealthyTimeout: &metav1.Duration{Duration: unhealthyTimeout},
		MaxUnhealthy:     ptr.To(intstr.FromInt32(1)),
	})

	// Too many at once: held, and the pool names the reason and the servers.
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		c := meta.FindStatusCondition(refreshPool(t, ctx, pool).Status.Conditions, v1alpha1.NodesReadyCondition)
		return c != nil && c.Reason == v1alpha1.TooManyUnhealthyReason, nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("NodesReady never %s with 2 of 3 unhealthy and maxUnhealthy 1: %+v", v1alpha1.TooManyUnhealthyReason, pool.Status.Conditions)
	}
	c := meta.FindStatusCondition(pool.Status.Conditions, v1alpha1.NodesReadyCondition)
	t.Logf("NodesReady=%s %s: %s", c.Status, c.Reason, c.Message)
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "maxUnhealthy") ||
		!strings.Contains(c.Message, frozen) || !strings.Contains(c.Message, thawed) {
		t.Errorf("NodesReady does not say that %s and %s are too many to replace: %s %s", frozen, thawed, c.Status, c.Message)
	}
	// Held for more than a reconcile of a pool with NotReady Nodes (10 s): no server of
	// the pool goes and none is made.
	for end := time.Now().Add(12 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Second) {
		if got := poolServers(t, ctx, customer, pool); got != nil && !maps.Equal(got, servers) {
			dumpManagerLogs(t)
			t.Fatalf("servers changed while remediation was held: %v, were %v", got, servers)
		}
	}

	// One back: a single sick server is within maxUnhealthy and is replaced.
	if err := host.SetMachineConnected(ctx, thawed, true); err != nil {
		t.Fatal(err)
	}
	waitNodeReadyStatus(t, ctx, tenant, thawed, true)
	start = time.Now()
	var got map[string]string
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 6*time.Minute, true, func(ctx context.Context) (bool, error) {
		got = poolServers(t, ctx, customer, pool)
		return len(got) == 3 && got[frozenID] == "", nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("server %s (Node NotReady) not replaced: servers %v", frozen, got)
	}
	after := waitPool(t, ctx, pool, tenant, 3)
	t.Logf("one NotReady Node within maxUnhealthy: a replacement Ready and the sick server deleted %.1fs after the other was Ready again (unhealthyTimeout %s long past)",
		time.Since(start).Seconds(), unhealthyTimeout)
	for id := range servers {
		if id != frozenID && got[id] == "" {
			t.Errorf("server %s (%s) went too, only %s was sick", servers[id], id, frozen)
		}
	}
	if slices.Contains(after, frozen) || !slices.Contains(after, thawed) {
		t.Errorf("nodes after remediation %v: want %s gone and %s kept", after, frozen, thawed)
	}
	if e := remediation(t, ctx, pool, frozen, frozenID); e == nil {
		t.Errorf("no ServerRemediated event naming %s", frozen)
	} else if !strings.Contains(e.Note, "unhealthyTimeout") {
		t.Errorf("the ServerRemediated event does not give the unhealthy timeout as the reason: %s", e.Note)
	}
}

// refreshPool reads the pool again into pool and returns it.
func refreshPool(t *testing.T, ctx context.Context, pool *v1alpha1.WorkerPool) *v1alpha1.WorkerPool {
	t.Helper()
	if err := kube.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
		t.Logf("get WorkerPool %s: %v", pool.Name, err)
	}
	return pool
}

// setHealthCheck replaces the pool's spec.healthCheck (fields left out get their defaults).
func setHealthCheck(t *testing.T, ctx context.Context, pool *v1alpha1.WorkerPool, hc v1alpha1.HealthCheckSpec) {
	t.Helper()
	patch := client.MergeFrom(pool.DeepCopy())
	pool.Spec.HealthCheck = hc
	if err := kube.Patch(ctx, pool, patch); err != nil {
		t.Fatalf("set spec.healthCheck: %v", err)
	}
}

// restoreHealthCheck puts back the pool's spec.healthCheck when a check ends, so that the
// shortened timeouts do not reach the next subtests' servers.
func restoreHealthCheck(t *testing.T, pool *v1alpha1.WorkerPool, hc v1alpha1.HealthCheckSpec) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	refreshPool(t, ctx, pool)
	patch := client.MergeFrom(pool.DeepCopy())
	pool.Spec.HealthCheck = hc
	if err := kube.Patch(ctx, pool, patch); err != nil {
		t.Errorf("restore spec.healthCheck: %v", err)
	}
}

// remediation is the pool's ServerRemediated event naming server and its ID (names are
// reused by replacements), nil when there is none.
func remediation(t *testing.T, ctx context.Context, pool *v1alpha1.WorkerPool, server, id string) *eventsv1.Event {
	t.Helper()
	events, err := clients.EventsV1().Events(pool.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range events.Items {
		if e.Reason == "ServerRemediated" && e.Type == corev1.EventTypeWarning && e.Regarding.Name == pool.Name &&
			strings.Contains(e.Note, "server "+server+" ("+id+")") {
			t.Logf("event %s %s: %s", e.Type, e.Reason, e.Note)
			return &events.Items[i]
		}
	}
	return nil
}

// eventTime is when the event happened (events.k8s.io's eventTime, else the series' or
// the deprecated fields').
func eventTime(e *eventsv1.Event) time.Time {
	switch {
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.DeprecatedFirstTimestamp.IsZero():
		return e.DeprecatedFirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// poolServers lists the pool's servers in Nova: names by ID.
func poolServers(t *testing.T, ctx context.Context, customer *openstack.Clients, pool *v1alpha1.WorkerPool) map[string]string {
	t.Helper()
	list, err := customer.Compute.ListServers(ctx, openstack.PoolTag(string(pool.UID)))
	if err != nil {
		t.Logf("list servers: %v", err)
		return nil
	}
	out := map[string]string{}
	for _, s := range list {
		out[s.ID] = s.Name
	}
	return out
}

// waitNodeReadyStatus waits for a Node's Ready condition to be True (ready) or not, and
// returns when it last changed.
func waitNodeReadyStatus(t *testing.T, ctx context.Context, tenant kubernetes.Interface, name string, ready bool) time.Time {
	t.Helper()
	var since time.Time
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil || nodeIsReady(n) != ready {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				since = c.LastTransitionTime.Time
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("Node %s not Ready=%v within 3m", name, ready)
	}
	return since
}
