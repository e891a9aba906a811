package plan

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestScaleUp(t *testing.T) {
	a := pool("a", 1, 1, 5)
	a2 := pool("a", 2, 1, 5)
	gpu := pool("gpu", 0, 0, 2, allocatable("4", "16Gi"), poolLabel("accel", "gpu"), poolTaint("dedicated", "gpu"))
	full := func(name string, _ Pool) []*corev1.Pod { return []*corev1.Pod{pod(name+"-busy", name, "1500m", "1Gi")} }
	pending := func(names ...string) []*corev1.Pod {
		var out []*corev1.Pod
		for _, n := range names {
			out = append(out, pod(n, "", "1200m", "1Gi"))
		}
		return out
	}
	cat := func(lists ...[]*corev1.Pod) []*corev1.Pod {
		var out []*corev1.Pod
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}

	tests := []struct {
		name        string
		pools       []Pool
		nodes       []*corev1.Node
		pods        []*corev1.Pod
		daemonSets  []*appsv1.DaemonSet
		want        *ScaleUp
		willFit     []types.NamespacedName
		noScaleUp   []PodVerdict
		unschedulab int
	}{{
		name:  "two pods each 60% of a node: two nodes, not more",
		pools: []Pool{a}, nodes: []*corev1.Node{node("a-1", a, "2", "4Gi")},
		pods: cat(full("a-1", a), pending("p1", "p2")),
		want: &ScaleUp{Pool: "a", From: 1, To: 3, Pods: keys("p1", "p2"), Reason: "Insufficient cpu"}, unschedulab: 2,
	}, {
		name:  "a pod fitting the upcoming node needs no scale-up",
		pools: []Pool{a2}, nodes: []*corev1.Node{node("a-1", a2, "2", "4Gi")},
		pods: cat(full("a-1", a2), pending("p1")), willFit: keys("p1"), unschedulab: 1,
	}, {
		name:  "the upcoming node takes one pod, new nodes the others",
		pools: []Pool{a2}, nodes: []*corev1.Node{node("a-1", a2, "2", "4Gi")},
		pods: cat(full("a-1", a2), pending("p1", "p2", "p3")), willFit: keys("p1"),
		want: &ScaleUp{Pool: "a", From: 2, To: 4, Pods: keys("p2", "p3"), Reason: "Insufficient cpu"}, unschedulab: 3,
	}, {
		name:  "a pod fitting an existing node waits for the scheduler",
		pools: []Pool{a}, nodes: []*corev1.Node{node("a-1", a, "2", "4Gi")},
		pods: pending("p1"), willFit: keys("p1"), unschedulab: 1,
	}, {
		name:  "max respected: the pods beyond it are reported",
		pools: []Pool{pool("a", 2, 1, 3)}, nodes: []*corev1.Node{node("a-1", a, "2", "4Gi"), node("a-2", a, "2", "4Gi")},
		pods: cat(full("a-1", a), full("a-2", a), pending("p1", "p2", "p3")),
		want: &ScaleUp{Pool: "a", From: 2, To: 3, Pods: keys("p1"), Reason: "Insufficient cpu"},
		noScaleUp: []PodVerdict{
			{Pod: key("p2"), Reasons: map[string]string{"a": "at max size 3: other pending pods fill the 1 new node it may still add"}},
			{Pod: key("p3"), Reasons: map[string]string{"a": "at max size 3: other pending pods fill the 1 new node it may still add"}},
		}, unschedulab: 3,
	}, {
		name:  "a pool at max is not grown",
		pools: []Pool{pool("a", 1, 1, 1)}, nodes: []*corev1.Node{node("a-1", a, "2", "4Gi")},
		pods:      cat(full("a-1", a), pending("p1")),
		noScaleUp: []PodVerdict{{Pod: key("p1"), Reasons: map[string]string{"a": "at max size 1"}}}, unschedulab: 1,
	}, {
		name:  "a pool without autoscaling is never chosen",
		pools: []Pool{pool("fixed", 1, 0, 0, notAutoscaled), pool("b", 0, 0, 3, allocatable("2", "4Gi"))},
		nodes: []*corev1.Node{node("fixed-1", pool("fixed", 1, 0, 0), "2", "4Gi")},
		pods:  cat(full("fixed-1", a), pending("p1")),
		want:  &ScaleUp{Pool: "b", From: 0, To: 1, Pods: keys("p1"), Reason: "Insufficient cpu"}, unschedulab: 1,
	}, {
		name:  "only a pool without autoscaling: nothing to do",
		pools: []Pool{pool("fixed", 1, 0, 0, notAutoscaled)}, nodes: []*corev1.Node{node("fixed-1", pool("fixed", 1, 0, 0), "2", "4Gi")},
		pods:      cat(full("fixed-1", a), pending("p1")),
		noScaleUp: []PodVerdict{{Pod: key("p1"), Reasons: map[string]string{"fixed": "not autoscaled"}}}, unschedulab: 1,
	}, {
		name:  "scale from zero models the node from status.nodeAllocatable",
		pools: []Pool{a, gpu}, nodes: []*corev1.Node{node("a-1", a, "2", "4Gi")},
		pods:      []*corev1.Pod{pod("train", "", "3", "8Gi", selecting("accel", "gpu"), tolerating("dedicated"))},
		want:      &ScaleUp{Pool: "gpu", From: 0, To: 1, Pods: keys("train"), Reason: "node(s) didn't match Pod's node affinity/selector"},
		noScaleUp: nil, unschedulab: 1,
	}, {
		name:  "no Node and no status.nodeAllocatable: the pool cannot be modelled",
		pools: []Pool{pool("z", 0, 0, 3)}, pods: pending("p1"),
		noScaleUp: []PodVerdict{{Pod: key("p1"), Reasons: map[string]string{"z": noTemplateReason}}}, unschedulab: 1,
	}, {
		name:  "taints and nodeSelector steer pods to pools",
		pools: []Pool{a, gpu}, nodes: []*corev1.Node{node("a-1", a, "2", "4Gi")},
		pods: cat(full("a-1", a), []*corev1.Pod{pod("plain", "", "1", "1Gi"), pod("wants-gpu", "", "1", "1Gi", selecting("accel", "gpu"))}),
		want: &ScaleUp{Pool: "a", From: 1, To: 2, Pods: keys("plain"), Reason: "Insufficient cpu"},
		noScaleUp: []PodVerdict{{Pod: key("wants-gpu"), Reasons: map[string]string{
			"a": "node(s) didn't match Pod's node affinity/selector", "gpu": "node(s) had untolerated taint {dedicated: gpu}"}}},
		unschedulab: 2,
	}, {
		name:  "least waste: one snug big node beats four small ones",
		pools: []Pool{pool("big", 0, 0, 3, allocatable("6", "12Gi")), pool("small", 0, 0, 10, allocatable("2", "4Gi"))},
		pods:  []*corev1.Pod{pod("p1", "", "1500m", "3Gi"), pod("p2", "", "1500m", "3Gi"), pod("p3", "", "1500m", "3Gi"), pod("p4", "", "1500m", "3Gi")},
		want:  &ScaleUp{Pool: "big", From: 0, To: 1, Pods: keys("p1", "p2", "p3", "p4"), Reason: "no nodes available to schedule pods"}, unschedulab: 4,
	}, {
		name:  "least waste: a small node for a small pod",
		pools: []Pool{pool("big", 0, 0, 3, allocatable("6", "12Gi")), pool("small", 0, 0, 10, allocatable("2", "4Gi"))},
		pods:  []*corev1.Pod{pod("p1", "", "1500m", "3Gi")},
		want:  &ScaleUp{Pool: "small", From: 0, To: 1, Pods: keys("p1"), Reason: "no nodes available to schedule pods"}, unschedulab: 1,
	}, {
		name:  "equal waste: the option helping more pods",
		pools: []Pool{pool("p", 0, 0, 1, allocatable("2", "4Gi")), pool("q", 0, 0, 1, allocatable("4", "8Gi"), poolLabel("only", "q"))},
		pods:  []*corev1.Pod{pod("x", "", "1", "2Gi"), pod("y", "", "1", "2Gi", selecting("only", "q"))},
		want:  &ScaleUp{Pool: "q", From: 0, To: 1, Pods: keys("x", "y"), Reason: "no nodes available to schedule pods"}, unschedulab: 2,
	}, {
		name:  "equal waste and pods: the first pool by name",
		pools: []Pool{pool("y", 0, 0, 3, allocatable("2", "4Gi")), pool("x", 0, 0, 3, allocatable("2", "4Gi"))},
		pods:  pending("p1"),
		want:  &ScaleUp{Pool: "x", From: 0, To: 1, Pods: keys("p1"), Reason: "no nodes available to schedule pods"}, unschedulab: 1,
	}, {
		name:  "DaemonSet pods take their share of a new node",
		pools: []Pool{pool("a", 0, 0, 3, allocatable("2", "4Gi"))}, daemonSets: []*appsv1.DaemonSet{daemonSet("cni", "500m", "128Mi")},
		pods:      []*corev1.Pod{pod("p1", "", "1600m", "1Gi")},
		noScaleUp: []PodVerdict{{Pod: key("p1"), Reasons: map[string]string{"a": "Insufficient cpu"}}}, unschedulab: 1,
	}, {
		name:  "a DaemonSet that would not run on the pool takes nothing",
		pools: []Pool{pool("a", 0, 0, 3, allocatable("2", "4Gi"))},
		daemonSets: []*appsv1.DaemonSet{daemonSet("gpu-driver", "500m", "128Mi", func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{"accel": "gpu"}
		})},
		pods: []*corev1.Pod{pod("p1", "", "1600m", "1Gi")},
		want: &ScaleUp{Pool: "a", From: 0, To: 1, Pods: keys("p1"), Reason: "no nodes available to schedule pods"}, unschedulab: 1,
	}, {
		name:  "DaemonSet, mirror, gated and terminating pods are not acted on",
		pools: []Pool{pool("a", 0, 0, 3, allocatable("2", "4Gi"))},
		pods: []*corev1.Pod{
			pod("ds", "", "1", "1Gi", ownedByDaemonSet),
			pod("static", "", "1", "1Gi", podAnnotated(MirrorPodAnnotation, "x")),
			pod("gated", "", "1", "1Gi", func(p *corev1.Pod) { p.Status.Conditions[0].Reason = corev1.PodReasonSchedulingGated }),
			pod("going", "", "1", "1Gi", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now} }),
			pod("fresh", "", "1", "1Gi", func(p *corev1.Pod) { p.Status.Conditions = nil }),
		},
	}, {
		name:  "a booting NotReady node counts as coming",
		pools: []Pool{a2}, nodes: []*corev1.Node{node("a-1", a2, "2", "4Gi"), node("a-2", a2, "2", "4Gi", notReady(2*time.Minute))},
		pods: cat(full("a-1", a2), pending("p1")), willFit: keys("p1"), unschedulab: 1,
	}, {
		name:  "a long NotReady node is no capacity",
		pools: []Pool{a2}, nodes: []*corev1.Node{node("a-1", a2, "2", "4Gi"), node("a-2", a2, "2", "4Gi", notReady(time.Hour))},
		pods: cat(full("a-1", a2), pending("p1")),
		want: &ScaleUp{Pool: "a", From: 2, To: 3, Pods: keys("p1"),
			Reason: "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }."},
		unschedulab: 1,
	}, {
		name:  "a leaving node takes no pods",
		pools: []Pool{a},
		nodes: []*corev1.Node{node("a-1", a, "2", "4Gi"), node("a-2", a, "2", "4Gi", annotated(DeleteMachineAnnotation, "autoscaler"))},
		pods:  cat(full("a-1", a), pending("p1")),
		want:  &ScaleUp{Pool: "a", From: 1, To: 2, Pods: keys("p1"), Reason: "Insufficient cpu"}, unschedulab: 1,
	}, {
		name:  "a cordoned node takes no pods, a node being drained neither",
		pools: []Pool{pool("a", 1, 1, 5)},
		nodes: []*corev1.Node{node("a-1", a, "2", "4Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			node("a-2", a, "2", "4Gi", annotated(DrainStartedAnnotation, "2026-03-14T10:00:00Z")), node("a-3", a, "2", "4Gi")},
		pods: cat(full("a-3", a), pending("p1")),
		want: &ScaleUp{Pool: "a", From: 1, To: 2, Pods: keys("p1"), Reason: "Insufficient cpu"}, unschedulab: 1,
	}, {
		name:  "a Ready node of the pool, not its status, models new nodes",
		pools: []Pool{pool("a", 1, 1, 5, allocatable("8", "16Gi"))}, nodes: []*corev1.Node{node("a-1", a, "2", "4Gi")},
		pods:      []*corev1.Pod{pod("p1", "", "3", "1Gi")},
		noScaleUp: []PodVerdict{{Pod: key("p1"), Reasons: map[string]string{"a": "Insufficient cpu"}}}, unschedulab: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Plan(DefaultConfig(), Input{Now: now, Pools: tt.pools, Nodes: tt.nodes, Pods: tt.pods, DaemonSets: tt.daemonSets})
			if !reflect.DeepEqual(res.ScaleUp, tt.want) {
				t.Errorf("ScaleUp = %+v\nwant      %+v", res.ScaleUp, tt.want)
			}
			if !reflect.DeepEqual(res.WillFit, tt.willFit) {
				t.Errorf("WillFit = %v, want %v", res.WillFit, tt.willFit)
			}
			if !reflect.DeepEqual(res.NoScaleUp, tt.noScaleUp) {
				t.Errorf("NoScaleUp = %+v\nwant        %+v", res.NoScaleUp, tt.noScaleUp)
			}
			if res.Unschedulable != tt.unschedulab {
				t.Errorf("Unschedulable = %d, want %d", res.Unschedulable, tt.unschedulab)
			}
			if tt.want != nil && !res.Memory.LastScaleUp.Equal(now) {
				t.Errorf("Memory.LastScaleUp = %v, want now", res.Memory.LastScaleUp)
			}
		})
	}
}

// TestPlanDoesNotModifyInput guards the purity the loop relies on: it passes informer
// objects straight in.
func TestPlanDoesNotModifyInput(t *testing.T) {
	a := pool("a", 2, 1, 5)
	in := Input{Now: now, Pools: []Pool{a},
		Nodes:      []*corev1.Node{node("a-1", a, "2", "4Gi"), node("a-2", a, "2", "4Gi")},
		Pods:       []*corev1.Pod{pod("busy", "a-1", "1500m", "1Gi"), pod("small", "a-2", "100m", "1Gi"), pod("p1", "", "1200m", "1Gi")},
		DaemonSets: []*appsv1.DaemonSet{daemonSet("cni", "100m", "64Mi")},
		Memory:     Memory{UnneededSince: map[string]time.Time{"a-2": now.Add(-time.Hour)}},
	}
	var before []any
	for _, n := range in.Nodes {
		before = append(before, n.DeepCopy())
	}
	for _, p := range in.Pods {
		before = append(before, p.DeepCopy())
	}
	Plan(DefaultConfig(), in)
	var after []any
	for _, n := range in.Nodes {
		after = append(after, n)
	}
	for _, p := range in.Pods {
		after = append(after, p)
	}
	if !reflect.DeepEqual(before, after) {
		t.Error("Plan modified its input")
	}
	if !in.Memory.UnneededSince["a-2"].Equal(now.Add(-time.Hour)) || len(in.Memory.UnneededSince) != 1 {
		t.Errorf("Plan modified the input memory: %v", in.Memory.UnneededSince)
	}
}
