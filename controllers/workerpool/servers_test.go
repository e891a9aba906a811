package workerpool

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

func TestServerNames(t *testing.T) {
	for _, c := range []struct {
		pool, name string
		index      int
		ok         bool
	}{
		{"acme-pool-a", "acme-pool-a-0", 0, true},
		{"acme-pool-a", "acme-pool-a-12", 12, true},
		{"acme-pool-a", "acme-pool-a-012", 0, false}, // not a name the pool gives
		{"acme-pool-a", "acme-pool-a-", 0, false},
		{"acme-pool-a", "acme-pool-a-x", 0, false},
		{"acme-pool-a", "acme-pool-b-1", 0, false},
		{"acme", "acme-pool-a-1", 0, false}, // another pool's server whose name starts alike
		{"acme", "acme--1", 0, false},
	} {
		i, ok := serverIndex(c.pool, c.name)
		if i != c.index || ok != c.ok {
			t.Errorf("serverIndex(%q, %q) = %d, %v; want %d, %v", c.pool, c.name, i, ok, c.index, c.ok)
		}
		if c.ok && ServerName(c.pool, c.index) != c.name {
			t.Errorf("ServerName(%q, %d) = %q, want %q", c.pool, c.index, ServerName(c.pool, c.index), c.name)
		}
	}
}

func TestNewServerNames(t *testing.T) {
	for _, c := range []struct {
		name     string
		existing []string
		n        int
		want     []string
	}{
		{"empty pool", nil, 2, []string{"p-0", "p-1"}},
		{"fills the gaps first", []string{"p-0", "p-2", "p-5"}, 3, []string{"p-1", "p-3", "p-4"}},
		{"a lost server's name comes back", []string{"p-0", "p-2"}, 1, []string{"p-1"}},
		{"foreign names take no index", []string{"p-x", "other-0"}, 1, []string{"p-0"}},
		{"nothing to create", []string{"p-0"}, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := newServerNames("p", c.existing, c.n); !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestZoneSpread(t *testing.T) {
	servers := func(zones ...string) []openstack.Server {
		var out []openstack.Server
		for _, z := range zones {
			out = append(out, openstack.Server{AvailabilityZone: z})
		}
		return out
	}
	for _, c := range []struct {
		name     string
		zones    []string
		existing []openstack.Server
		n        int
		want     []string
	}{
		{"no zones: Nova chooses", nil, nil, 2, []string{"", ""}},
		{"round-robin from empty", []string{"az1", "az2", "az3"}, nil, 5, []string{"az1", "az2", "az3", "az1", "az2"}},
		{"fills the emptiest zone", []string{"az1", "az2"}, servers("az1", "az1", "az2"), 3, []string{"az2", "az1", "az2"}},
		{"servers in zones no longer listed do not count", []string{"az2", "az3"}, servers("az1", "az1", "az2"), 2, []string{"az3", "az2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			z := newZoneSpread(c.zones, c.existing)
			var got []string
			for range c.n {
				got = append(got, z.next())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func node(name string, ready bool, annotations map[string]string) *corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}},
	}
}

func TestChooseForRemoval(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(name string, age int, status string, n *corev1.Node) *member {
		return &member{Server: openstack.Server{Name: name, Status: status, Created: t0.Add(time.Duration(age) * time.Hour)}, node: n}
	}
	ready := func(name string) *corev1.Node { return node(name, true, nil) }
	draining := map[string]string{DrainStartedAnnotation: "2026-01-01T00:00:00Z"}
	asked := map[string]string{DeleteMachineAnnotation: "true"}
	for _, c := range []struct {
		name    string
		members []*member
		n       int
		want    []string
	}{
		{"oldest of the Ready", []*member{mk("p-0", 2, statusActive, ready("p-0")), mk("p-1", 1, statusActive, ready("p-1")), mk("p-2", 3, statusActive, ready("p-2"))}, 1, []string{"p-1"}},
		{"NotReady before older Ready", []*member{mk("p-0", 1, statusActive, ready("p-0")), mk("p-1", 5, statusActive, node("p-1", false, nil))}, 1, []string{"p-1"}},
		{"never joined and BUILD count as NotReady", []*member{mk("p-0", 1, statusActive, ready("p-0")), mk("p-1", 9, statusBuild, nil), mk("p-2", 8, statusActive, nil)}, 2, []string{"p-2", "p-1"}},
		{"a drain under way goes first", []*member{mk("p-0", 1, statusActive, node("p-0", false, nil)), mk("p-1", 9, statusActive, node("p-1", true, draining))}, 1, []string{"p-1"}},
		{"a Node asking to go before NotReady and older ones", []*member{mk("p-0", 1, statusActive, node("p-0", false, nil)), mk("p-1", 0, statusActive, ready("p-1")), mk("p-2", 9, statusActive, node("p-2", true, asked))}, 2, []string{"p-2", "p-0"}},
		{"a drain under way before a Node asking to go", []*member{mk("p-0", 1, statusActive, node("p-0", true, asked)), mk("p-1", 9, statusActive, node("p-1", true, draining))}, 1, []string{"p-1"}},
		{"same age: by name", []*member{mk("p-1", 1, statusActive, ready("p-1")), mk("p-0", 1, statusActive, ready("p-0"))}, 1, []string{"p-0"}},
		{"none", []*member{mk("p-0", 1, statusActive, ready("p-0"))}, 0, nil},
		{"more than there are", []*member{mk("p-0", 1, statusActive, ready("p-0"))}, 3, []string{"p-0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, m := range chooseForRemoval(c.members, c.n) {
				got = append(got, m.Name)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestServerGroupName(t *testing.T) {
	got := serverGroupName("acme-pool-a", "6a1c0f8e-2d3b-4c5a-9e8f-7d6c5b4a3e2d")
	if got != "kubeseed-acme-pool-a-6a1c0f8e-2d3b-4c5a-9e8f-7d6c5b4a3e2d" {
		t.Errorf("server group name %q", got)
	}
}

// A server still listed under a name its replacement carries (Nova slow to delete it, or a
// restarted manager) is deleted in Nova only; the newest keeps the name and its Node.
func TestDropDuplicates(t *testing.T) {
	ctx := t.Context()
	f := openstack.NewFake()
	wp := &v1alpha1.WorkerPool{ObjectMeta: metav1.ObjectMeta{Name: "pool", UID: "uid"}}
	now := time.Now()
	old := &member{Server: openstack.Server{ID: "old", Name: "pool-2", Created: now.Add(-time.Hour)}}
	repl := &member{Server: openstack.Server{ID: "new", Name: "pool-2", Created: now}}
	other := &member{Server: openstack.Server{ID: "x", Name: "pool-0", Created: now.Add(-2 * time.Hour)}}
	r := &Reconciler{}
	got := r.dropDuplicates(ctx, f, wp, []*member{old, other, repl}, now)
	if len(got) != 2 || !slices.Contains(got, repl) || !slices.Contains(got, other) {
		t.Fatalf("kept %v, want the replacement and the other server", got)
	}
	if !slices.Contains(f.Calls(), "DeleteServer") {
		t.Error("the older server was not deleted in Nova")
	}
	if !r.recentlyDeleted(wp, "old", now) {
		t.Error("the older server's deletion is not remembered")
	}
}
