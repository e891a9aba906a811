package workerpool

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

func names(ms []*member) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return strings.Join(out, ",")
}

// TestPlanServers walks rolling updates pass by pass, as the reconciler sees them: what is
// created, what removed, and that availability never drops below desired-maxUnavailable.
func TestPlanServers(t *testing.T) {
	surge1 := v1alpha1.RolloutStrategy{MaxSurge: ptr.To[int32](1), MaxUnavailable: ptr.To[int32](0)}
	unavail1 := v1alpha1.RolloutStrategy{MaxSurge: ptr.To[int32](0), MaxUnavailable: ptr.To[int32](1)}
	for _, c := range []struct {
		name     string
		desired  int
		strategy v1alpha1.RolloutStrategy
		members  []*member
		create   int
		remove   string
		rolling  bool
	}{
		{"steady", 2, surge1, members("p-0:ACTIVE:ready", "p-1:ACTIVE:ready"), 0, "", false},
		{"scale up", 3, surge1, members("p-0:ACTIVE:ready"), 2, "", false},
		{"scale down: not ready first", 1, surge1, members("p-0:ACTIVE:ready", "p-1:ACTIVE:notready"), 0, "p-1", false},
		{"rollout starts with a surge", 2, surge1, members("p-0:ACTIVE:ready:old", "p-1:ACTIVE:ready:old"), 1, "", true},
		{"the new server joins: nothing removed", 2, surge1, members("p-0:ACTIVE:ready:old", "p-1:ACTIVE:ready:old", "p-2:ACTIVE:none"), 0, "", true},
		{"the new Node is Ready: one old goes", 2, surge1, members("p-0:ACTIVE:ready:old", "p-1:ACTIVE:ready:old", "p-2:ACTIVE:ready"), 0, "p-0", true},
		{"its drain goes on, the other waits", 2, surge1, members("p-0:ACTIVE:draining:old", "p-1:ACTIVE:ready:old", "p-2:ACTIVE:ready"), 0, "p-0", true},
		{"the old one deleted: the next surge", 2, surge1, members("p-1:ACTIVE:ready:old", "p-2:ACTIVE:ready"), 1, "", true},
		{"last old one goes", 2, surge1, members("p-1:ACTIVE:ready:old", "p-2:ACTIVE:ready", "p-0:ACTIVE:ready"), 0, "p-1", true},
		{"done", 2, surge1, members("p-2:ACTIVE:ready", "p-0:ACTIVE:ready"), 0, "", false},
		{"maxUnavailable 1: remove first", 2, unavail1, members("p-0:ACTIVE:ready:old", "p-1:ACTIVE:ready:old"), 0, "p-0", true},
		{"maxUnavailable 1: then replace", 2, unavail1, members("p-0:ACTIVE:draining:old", "p-1:ACTIVE:ready:old"), 0, "p-0", true},
		{"maxUnavailable 1: refill", 2, unavail1, members("p-1:ACTIVE:ready:old"), 1, "", true},
		{"an old server that is not Ready waits for its replacement", 2, surge1, members("p-0:ACTIVE:notready:old", "p-1:ACTIVE:ready:old"), 1, "", true},
		{"then it goes before a Ready one", 2, surge1, members("p-0:ACTIVE:notready:old", "p-1:ACTIVE:ready:old", "p-2:ACTIVE:ready"), 0, "p-0", true},
		{"every Node NotReady at once: nothing goes", 3, surge1, members("p-0:ACTIVE:notready:old", "p-1:ACTIVE:notready:old", "p-2:ACTIVE:notready:old"), 1, "", true},
		{"scaled down with a new server in BUILD: an old one goes", 2, surge1, members("p-0:ACTIVE:ready:old", "p-1:ACTIVE:ready:old", "p-2:ACTIVE:ready:old", "p-3:BUILD:none"), 0, "p-0", true},
		{"scaled to 0 during a rollout", 0, surge1, members("p-0:ACTIVE:ready:old", "p-1:ACTIVE:ready:old"), 0, "p-0,p-1", true},
		{"a Node asking to go goes first", 2, surge1, deleteRequested(members("p-0:ACTIVE:ready:old", "p-1:ACTIVE:ready:old", "p-2:ACTIVE:ready"), "p-1"), 0, "p-1", true},
		{"scaled down during a rollout: old ones first", 1, surge1, members("p-0:ACTIVE:ready:old", "p-1:ACTIVE:ready:old", "p-2:ACTIVE:ready"), 0, "p-0,p-1", true},
		{"scaled up during a rollout: new servers only", 4, surge1, members("p-0:ACTIVE:ready:old", "p-1:ACTIVE:ready:old"), 3, "", true},
		{"unset is the defaults: surge 1", 1, v1alpha1.RolloutStrategy{}, members("p-0:ACTIVE:ready:old"), 1, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := 0
			for _, m := range c.members {
				if m.available() {
					before++
				}
			}
			got := planServers(c.desired, c.strategy, c.members)
			if got.create != c.create || names(got.remove) != c.remove || got.rolling != c.rolling {
				t.Fatalf("plan: create %d, remove [%s], rolling %v; want create %d, remove [%s], rolling %v",
					got.create, names(got.remove), got.rolling, c.create, c.remove, c.rolling)
			}
			after := before
			for _, m := range got.remove {
				if m.available() {
					after--
				}
			}
			// A rollout (not a scale-down) never takes availability below the floor.
			scaleDown := len(c.members) > c.desired+int(ptr.Deref(c.strategy.MaxSurge, 1))
			if floor := c.desired - int(ptr.Deref(c.strategy.MaxUnavailable, 0)); c.rolling && !scaleDown && after < min(floor, before) {
				t.Errorf("availability drops to %d, below %d", after, floor)
			}
		})
	}
}

func TestPoolVersion(t *testing.T) {
	tc := func(status, spec string) *v1alpha1.TenantCluster {
		c := &v1alpha1.TenantCluster{}
		c.Name, c.Status.Version, c.Spec.Version = "acme", status, spec
		return c
	}
	pool := func(spec, status string) *v1alpha1.WorkerPool {
		wp := &v1alpha1.WorkerPool{}
		wp.Spec.Version, wp.Status.Version = spec, status
		return wp
	}
	for _, c := range []struct {
		name   string
		wp     *v1alpha1.WorkerPool
		tc     *v1alpha1.TenantCluster
		want   string
		reason string
		msg    string
	}{
		{"unset: the control plane's", pool("", ""), tc("v1.36.3", "v1.36.3"), "v1.36.3", "", ""},
		{"unset: the version it started with", pool("", "v1.35.4"), tc("v1.36.3", "v1.36.3"), "v1.35.4", "", ""},
		{"a control plane not up yet: its spec", pool("", ""), tc("", "v1.35.4"), "v1.35.4", "", ""},
		{"spec wins", pool("v1.36.3", "v1.35.4"), tc("v1.36.3", "v1.36.3"), "v1.36.3", "", ""},
		{"older by one is fine", pool("v1.35.4", ""), tc("v1.36.3", "v1.36.3"), "v1.35.4", "", ""},
		{"newer than the control plane", pool("v1.36.3", ""), tc("v1.35.4", "v1.36.3"), "", v1alpha1.VersionSkewReason, "spec.version v1.36.3 is newer than the control plane's v1.35.4"},
		{"more than three minors older", pool("", "v1.32.1"), tc("v1.36.3", "v1.36.3"), "", v1alpha1.VersionSkewReason, "more than 3 minors older than the control plane's v1.36.3"},
		{"a newer patch is within the skew", pool("v1.36.4", ""), tc("v1.36.3", "v1.36.3"), "v1.36.4", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, chk := poolVersion(c.wp, c.tc)
			if got != c.want || chk.ok != (c.reason == "") || chk.reason != c.reason || !strings.Contains(chk.message, c.msg) {
				t.Errorf("got %q %+v, want %q reason %q message containing %q", got, chk, c.want, c.reason, c.msg)
			}
		})
	}
}

// TestTemplateHash: every server-shaping field changes the hash; what is not one does not.
func TestTemplateHash(t *testing.T) {
	base := func() *v1alpha1.WorkerPool {
		wp := &v1alpha1.WorkerPool{}
		wp.Name = "pool"
		wp.Spec = v1alpha1.WorkerPoolSpec{Image: "img", Flavor: "m1", Kubelet: v1alpha1.KubeletSpec{
			KubeReserved: map[string]resource.Quantity{"cpu": resource.MustParse("100m"), "memory": resource.MustParse("1Gi")}}}
		return wp
	}
	h0 := TemplateHash(base(), "v1.35.4")
	if len(h0) != 10 || h0 != TemplateHash(base(), "v1.35.4") {
		t.Fatalf("hash %q is not 10 hex digits or not stable", h0)
	}
	for _, c := range []struct {
		name    string
		mutate  func(*v1alpha1.WorkerPool)
		version string
		changes bool
	}{
		{"version", func(*v1alpha1.WorkerPool) {}, "v1.36.3", true},
		{"image", func(wp *v1alpha1.WorkerPool) { wp.Spec.Image = "img2" }, "v1.35.4", true},
		{"flavor", func(wp *v1alpha1.WorkerPool) { wp.Spec.Flavor = "m2" }, "v1.35.4", true},
		{"kubelet", func(wp *v1alpha1.WorkerPool) {
			wp.Spec.Kubelet.EvictionHard = map[string]v1alpha1.EvictionThreshold{"memory.available": "1Gi"}
		}, "v1.35.4", true},
		{"node labels", func(wp *v1alpha1.WorkerPool) { wp.Spec.NodeLabels = map[string]v1alpha1.NodeLabelValue{"tier": "web"} }, "v1.35.4", true},
		{"node taints", func(wp *v1alpha1.WorkerPool) {
			wp.Spec.NodeTaints = []v1alpha1.NodeTaint{{Key: "dedicated", Effect: "NoSchedule"}}
		}, "v1.35.4", true},
		{"replicas", func(wp *v1alpha1.WorkerPool) { wp.Spec.Replicas = new(int32) }, "v1.35.4", false},
		{"taints reordered", func(wp *v1alpha1.WorkerPool) {
			wp.Spec.NodeTaints = []v1alpha1.NodeTaint{{Key: "b", Effect: "NoSchedule"}, {Key: "a", Effect: "NoSchedule"}}
		}, "v1.35.4", true}, // against the base; the order itself is checked below
		{"ssh key", func(wp *v1alpha1.WorkerPool) { wp.Spec.SSHKeyName = "k" }, "v1.35.4", false},
		{"strategy", func(wp *v1alpha1.WorkerPool) { wp.Spec.Strategy.MaxSurge = ptr.To[int32](3) }, "v1.35.4", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			wp := base()
			c.mutate(wp)
			if changed := TemplateHash(wp, c.version) != h0; changed != c.changes {
				t.Errorf("hash changed = %v, want %v", changed, c.changes)
			}
		})
	}
}

func TestTemplateHashIgnoresTaintOrder(t *testing.T) {
	wp := &v1alpha1.WorkerPool{}
	wp.Spec.NodeTaints = []v1alpha1.NodeTaint{{Key: "b", Effect: "NoSchedule"}, {Key: "a", Effect: "NoExecute"}}
	h := TemplateHash(wp, "v1.36.3")
	wp.Spec.NodeTaints[0], wp.Spec.NodeTaints[1] = wp.Spec.NodeTaints[1], wp.Spec.NodeTaints[0]
	if TemplateHash(wp, "v1.36.3") != h {
		t.Error("reordering spec.nodeTaints changed the template: every server would be replaced")
	}
}

func TestRolloutCheck(t *testing.T) {
	done := rolloutCheck("v1.36.3", members("p-0:ACTIVE:ready", "p-1:ACTIVE:ready"), nil, 2)
	if done.ok || done.reason != v1alpha1.RolloutCompleteReason {
		t.Errorf("all updated: %+v", done)
	}
	m := members("p-0:ACTIVE:draining:old", "p-1:ACTIVE:ready:old", "p-2:ACTIVE:none")
	got := rolloutCheck("v1.36.3", m, m[:1], 2)
	want := "1 of 2 servers made from the current spec (version v1.36.3); replacing p-0 (draining its Node), p-1 (waiting for room: strategy); joining: p-2"
	if !got.ok || got.reason != v1alpha1.RollingUpdateReason || got.message != want {
		t.Errorf("got %+v\nwant message %q", got, want)
	}
}

// deleteRequested sets DeleteMachineAnnotation on the named member's Node.
func deleteRequested(ms []*member, name string) []*member {
	for _, m := range ms {
		if m.Name == name {
			m.node.Annotations = map[string]string{DeleteMachineAnnotation: "true"}
		}
	}
	return ms
}

// TestStampLegacyServers: a server made before templates existed is stamped with the
// current template in Nova, so that a later change of the spec replaces it; stamped ones
// are left alone.
func TestStampLegacyServers(t *testing.T) {
	ctx := context.Background()
	cloud := openstack.NewFake()
	cloud.AddFlavor(openstack.Flavor{Name: "m1", VCPUs: 2, RAMMiB: 4096})
	cloud.AddImage(openstack.Image{Name: "img"})
	flavor, _ := cloud.GetFlavor(ctx, "m1")
	image, _ := cloud.GetImage(ctx, "img")
	net, err := cloud.CreateNetwork(ctx, openstack.NetSpec{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, md map[string]string) *member {
		s, err := cloud.CreateServer(ctx, openstack.ServerSpec{Name: name, FlavorID: flavor.ID, ImageID: image.ID, Metadata: md,
			Networks: []openstack.ServerNetwork{{NetworkID: net.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		return &member{Server: *s}
	}
	legacy := mk("p-0", map[string]string{MetadataPool: "ns/p"})
	stamped := mk("p-1", map[string]string{MetadataTemplateHash: "0123456789"})
	p := &pass{cloud: &openstack.Clients{Compute: cloud}, hash: "abcdefabcd", members: []*member{legacy, stamped}}
	(&Reconciler{}).stampLegacyServers(ctx, p)
	for _, c := range []struct {
		m    *member
		want string
	}{{legacy, "abcdefabcd"}, {stamped, "0123456789"}} {
		s, err := cloud.GetServer(ctx, c.m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Metadata[MetadataTemplateHash]; got != c.want || c.m.Metadata[MetadataTemplateHash] != c.want {
			t.Errorf("server %s: hash in Nova %q, in the pass %q; want %q", c.m.Name, got, c.m.Metadata[MetadataTemplateHash], c.want)
		}
	}
	if s, _ := cloud.GetServer(ctx, legacy.ID); s.Metadata[MetadataPool] != "ns/p" {
		t.Errorf("stamping replaced the server's other metadata: %v", s.Metadata)
	}
}
