package workerpool

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

func members(specs ...string) []*member {
	// "name:STATUS:node[:old]" with node one of ready, notready, draining, none; old marks
	// a server of an older template.
	var out []*member
	for _, s := range specs {
		f := strings.Split(s, ":")
		m := &member{Server: openstack.Server{Name: f[0], Status: f[1]}, outdated: len(f) > 3 && f[3] == "old"}
		switch f[2] {
		case "ready":
			m.node = node(f[0], true, nil)
		case "notready":
			m.node = node(f[0], false, nil)
		case "draining":
			m.node = node(f[0], true, map[string]string{DrainStartedAnnotation: "2026-01-01T00:00:00Z"})
		}
		out = append(out, m)
	}
	return out
}

func TestServersCheck(t *testing.T) {
	for _, c := range []struct {
		name     string
		desired  int
		members  []*member
		removing []*member
		ok       bool
		reason   string
		message  string
	}{
		{"empty pool", 0, nil, nil, true, v1alpha1.AvailableReason, "0 of 0 servers ACTIVE"},
		{"all active", 2, members("p-0:ACTIVE:ready", "p-1:ACTIVE:none"), nil, true, v1alpha1.AvailableReason, "2 of 2 servers ACTIVE"},
		{"building", 2, members("p-0:ACTIVE:ready", "p-1:BUILD:none"), nil, false, v1alpha1.ProgressingReason, "1 of 2 servers ACTIVE; not yet: p-1 (BUILD)"},
		{"missing", 3, members("p-0:ACTIVE:ready"), nil, false, v1alpha1.ProgressingReason, "1 of 3 servers exist"},
		{"shut off", 1, members("p-0:SHUTOFF:notready"), nil, false, v1alpha1.ProgressingReason, "0 of 1 servers ACTIVE; not yet: p-0 (SHUTOFF)"},
		{"surplus, tenant unreachable", 1, members("p-0:ACTIVE:ready", "p-1:ACTIVE:ready"), nil, false, v1alpha1.ScalingReason, "2 servers for 1 replicas: the surplus is removed once the TenantCluster can be reached"},
		{"draining", 1, members("p-0:ACTIVE:ready", "p-1:ACTIVE:draining"), members("p-1:ACTIVE:draining"), false, v1alpha1.ScalingReason, "scaling down to 1: removing p-1 (draining its Node)"},
		{"rolling with a surge", 2, members("p-0:ACTIVE:ready:old", "p-1:ACTIVE:ready:old", "p-2:BUILD:none"), nil, true, v1alpha1.AvailableReason, "2 servers ACTIVE for 2 replicas, while servers are replaced (rolling update or health check)"},
		{"rolling below the replicas", 2, members("p-0:ACTIVE:ready:old", "p-1:BUILD:none"), nil, false, v1alpha1.RollingUpdateReason, "1 of 2 servers ACTIVE, while servers are replaced (rolling update or health check): fewer than the 2 spec.strategy keeps"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rolling := slices.ContainsFunc(c.members, func(m *member) bool { return m.outdated })
			got := serversCheck(c.desired, c.members, c.removing, rolling, c.desired)
			if got.ok != c.ok || got.reason != c.reason || got.message != c.message {
				t.Errorf("got %+v, want ok=%v %s %q", got, c.ok, c.reason, c.message)
			}
		})
	}
}

func TestNodesCheck(t *testing.T) {
	for _, c := range []struct {
		name    string
		desired int
		members []*member
		ok      bool
		message string
	}{
		{"empty pool", 0, nil, true, "0 of 0 Nodes Ready"},
		{"all Ready", 2, members("p-0:ACTIVE:ready", "p-1:ACTIVE:ready"), true, "2 of 2 Nodes Ready"},
		{"joining", 3, members("p-0:ACTIVE:ready", "p-1:BUILD:none", "p-2:ACTIVE:none", "p-3:ACTIVE:notready"), false,
			"1 of 3 Nodes Ready; waiting for p-1 (server BUILD), p-2 (no Node yet: joining), p-3 (Node NotReady)"},
		{"long lists are cut", 7, members("a:BUILD:none", "b:BUILD:none", "c:BUILD:none", "d:BUILD:none", "e:BUILD:none", "f:BUILD:none", "g:BUILD:none"), false,
			"0 of 7 Nodes Ready; waiting for a (server BUILD), b (server BUILD), c (server BUILD), d (server BUILD), e (server BUILD), and 2 more"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := nodesCheck(c.desired, c.desired, c.members)
			want := v1alpha1.AvailableReason
			if !c.ok {
				want = v1alpha1.WaitingForNodesReason
			}
			if got.ok != c.ok || got.reason != want || got.message != c.message {
				t.Errorf("got %+v, want ok=%v %s %q", got, c.ok, want, c.message)
			}
		})
	}
}

func TestSetStatus(t *testing.T) {
	ok := check{ok: true, reason: v1alpha1.AvailableReason, message: "2 of 2 Nodes Ready"}
	quota := check{reason: v1alpha1.QuotaExceededReason, message: "out of instances"}
	for _, c := range []struct {
		name          string
		o             observed
		ready         metav1.ConditionStatus
		reason        string
		servers       metav1.ConditionStatus
		msgContains   string
		replicas, rdy int32
	}{
		{"all ready", observed{servers: ok, nodes: ok, counted: true, nodesCounted: true, replicas: 2, ready: 2}, metav1.ConditionTrue, v1alpha1.AvailableReason, metav1.ConditionTrue, "2 of 2", 2, 2},
		{"quota names itself in Ready", observed{servers: quota, nodes: check{reason: v1alpha1.WaitingForNodesReason, message: "1 of 2"}, counted: true, nodesCounted: true, replicas: 1, ready: 1},
			metav1.ConditionFalse, v1alpha1.QuotaExceededReason, metav1.ConditionFalse, "ServersReady: out of instances; NodesReady: 1 of 2", 1, 1},
		{"nothing observed: Unknown, counts kept", observed{}, metav1.ConditionFalse, v1alpha1.ProgressingReason, metav1.ConditionUnknown, "not observed yet", 5, 4},
		{"tenant unreachable: Nodes not counted", observed{servers: ok, nodes: check{reason: v1alpha1.TenantUnreachableReason, message: "timeout"}, counted: true, replicas: 2},
			metav1.ConditionFalse, v1alpha1.TenantUnreachableReason, metav1.ConditionTrue, "NodesReady: timeout", 2, 4},
		{"deleting", observed{deleting: true, servers: check{reason: v1alpha1.DeletingReason, message: "waiting for Nova"}}, metav1.ConditionFalse, v1alpha1.DeletingReason, metav1.ConditionFalse, "being deleted", 5, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			wp := &v1alpha1.WorkerPool{ObjectMeta: metav1.ObjectMeta{Name: "pool", Generation: 3}, Status: v1alpha1.WorkerPoolStatus{Replicas: 5, ReadyReplicas: 4}}
			setStatus(wp, c.o)
			ready := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ReadyCondition)
			servers := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ServersReadyCondition)
			nodes := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.NodesReadyCondition)
			if ready == nil || servers == nil || nodes == nil {
				t.Fatalf("conditions %+v: every reconcile sets all three", wp.Status.Conditions)
			}
			if ready.Status != c.ready || ready.Reason != c.reason || !strings.Contains(ready.Message, c.msgContains) {
				t.Errorf("Ready %s %s %q", ready.Status, ready.Reason, ready.Message)
			}
			if servers.Status != c.servers || ready.ObservedGeneration != 3 || servers.ObservedGeneration != 3 {
				t.Errorf("ServersReady %+v", servers)
			}
			if wp.Status.Replicas != c.replicas || wp.Status.ReadyReplicas != c.rdy || wp.Status.Selector != "kubeseed.io/worker-pool=pool" {
				t.Errorf("status %d/%d selector %q", wp.Status.Replicas, wp.Status.ReadyReplicas, wp.Status.Selector)
			}
		})
	}
}

func TestCloudCheck(t *testing.T) {
	const later = 2 * time.Minute
	for _, c := range []struct {
		name     string
		err      error
		reason   string
		contains string
		retErr   bool
	}{
		{"quota instances", fmt.Errorf("create server p-2: %w", openstack.NewQuotaError("instances")), v1alpha1.QuotaExceededReason, "out of its instances quota", false},
		{"quota cores", openstack.NewQuotaError("cores"), v1alpha1.QuotaExceededReason, "cores quota", false},
		{"quota unnamed", openstack.NewQuotaError(""), v1alpha1.QuotaExceededReason, "(unnamed) quota", false},
		{"unknown flavor", asInvalidSpec("spec.flavor", fmt.Errorf("find flavor m1.huge: %w", openstack.NewError(openstack.ErrNotFound, "no flavor"))),
			v1alpha1.InvalidSpecReason, "spec.flavor: find flavor m1.huge", false},
		{"ambiguous image", asInvalidSpec("spec.image", openstack.NewError(openstack.ErrInvalidInput, "2 images are named x")), v1alpha1.InvalidSpecReason, "spec.image", false},
		{"cloud refuses the request", openstack.NewError(openstack.ErrInvalidInput, "Availability zone az9 is invalid"), v1alpha1.InvalidSpecReason, "az9", false},
		{"revoked credential", openstack.NewError(openstack.ErrUnauthorized, "The request you have made requires authentication."), v1alpha1.CloudCredentialsInvalidReason, "authentication", false},
		{"bad Secret", fmt.Errorf("%w: no clouds.yaml", openstack.ErrCredentialsSecret), v1alpha1.CloudCredentialsInvalidReason, "clouds.yaml", false},
		{"policy", openstack.NewError(openstack.ErrForbidden, "Policy doesn't allow"), v1alpha1.CloudCredentialsInvalidReason, "Policy", false},
		{"cloud down", openstack.TimeoutError(), v1alpha1.CloudUnavailableReason, "timeout", true},
		{"anything else", errors.New("boom"), v1alpha1.CloudUnavailableReason, "boom", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, requeue, err := cloudCheck(c.err, "scale", later)
			if got.ok || got.reason != c.reason || !strings.Contains(got.message, c.contains) || !strings.HasPrefix(got.message, "scale: ") {
				t.Errorf("check %+v, want %s containing %q", got, c.reason, c.contains)
			}
			if (err != nil) != c.retErr {
				t.Errorf("returned error %v, want one: %v", err, c.retErr)
			}
			// The customer's problems come back slowly, without an error: no hot loop.
			if !c.retErr && requeue != later {
				t.Errorf("requeue %v, want %v", requeue, later)
			}
		})
	}
	// A lookup failing for the cloud's own reasons is no invalid spec.
	if err := asInvalidSpec("spec.flavor", openstack.TimeoutError()); errors.As(err, new(*invalidSpecError)) {
		t.Errorf("a timeout became an invalid spec")
	}
}

func TestClusterCheck(t *testing.T) {
	cond := func(t string, s metav1.ConditionStatus) metav1.Condition {
		return metav1.Condition{Type: t, Status: s}
	}
	ready := []metav1.Condition{cond(v1alpha1.ReadyCondition, metav1.ConditionTrue), cond(v1alpha1.TenantBootstrappedCondition, metav1.ConditionTrue)}
	published := v1alpha1.TenantClusterStatus{Conditions: ready, Endpoint: "https://203.0.113.10:6443", KubeconfigSecretRef: &corev1.LocalObjectReference{Name: "acme-kubeconfig"}}
	now := metav1.Now()
	for _, c := range []struct {
		name     string
		status   v1alpha1.TenantClusterStatus
		deleting bool
		want     string // "" for ok
	}{
		{"ready", published, false, ""},
		{"not ready", v1alpha1.TenantClusterStatus{Conditions: ready[1:]}, false, "not Ready"},
		{"not bootstrapped", v1alpha1.TenantClusterStatus{Conditions: ready[:1]}, false, "TenantBootstrapped"},
		{"no endpoint", v1alpha1.TenantClusterStatus{Conditions: ready}, false, "not published"},
		{"deleting", published, true, "being deleted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Status: c.status}
			if c.deleting {
				tc.DeletionTimestamp = &now
			}
			got := clusterCheck(tc)
			if (c.want == "") != got.ok || (c.want != "" && (!strings.Contains(got.message, c.want) || got.reason != v1alpha1.WaitingForDependencyReason)) {
				t.Errorf("got %+v, want %q", got, c.want)
			}
		})
	}
}

func TestJoinEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"https://203.0.113.10:6443":   "203.0.113.10:6443",
		"https://[2001:db8::1]:31443": "[2001:db8::1]:31443",
		"https://api.example.com":     "api.example.com:443",
	} {
		got, err := joinEndpoint(in)
		if err != nil || got != want {
			t.Errorf("joinEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := joinEndpoint(""); err == nil {
		t.Errorf("an empty endpoint was accepted")
	}
}

func TestEvictable(t *testing.T) {
	yes := true
	for _, c := range []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"plain pod", corev1.Pod{}, true},
		{"ReplicaSet pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Controller: &yes}}}}, true},
		{"DaemonSet pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Controller: &yes}}}}, false},
		{"mirror pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"}}}, false},
		{"finished", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
	} {
		if got := evictable(&c.pod); got != c.want {
			t.Errorf("%s: evictable %v, want %v", c.name, got, c.want)
		}
	}
}

// TestRollingWithinMaxUnavailable: a rollout that keeps desired-maxUnavailable servers and
// Nodes is no failure: ServersReady and NodesReady stay True, so does Ready.
func TestRollingWithinMaxUnavailable(t *testing.T) {
	m := members("p-0:ACTIVE:ready:old", "p-1:BUILD:none")
	if c := serversCheck(2, m, nil, true, 1); !c.ok {
		t.Errorf("ServersReady %+v with 1 of 2 ACTIVE and maxUnavailable 1", c)
	}
	if c := nodesCheck(2, 1, m); !c.ok {
		t.Errorf("NodesReady %+v with 1 of 2 Ready and maxUnavailable 1", c)
	}
	if c := nodesCheck(2, 2, m); c.ok {
		t.Errorf("NodesReady %+v with 1 of 2 Ready and maxUnavailable 0", c)
	}
}
