package simulate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// node is a node "n" of pool "a" with cpu, memory and 110 pods allocatable.
func node(cpu, mem string, mutate ...func(*corev1.Node)) *corev1.Node {
	const name = "n"
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "pool": "a"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpu),
			corev1.ResourceMemory: resource.MustParse(mem),
			corev1.ResourcePods:   resource.MustParse("110"),
		}},
	}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func pod(name, cpu, mem string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
		}}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func withTaint(key, value string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func tolerating(key string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists})
	}
}

func hostPort(port int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: port, HostPort: port, Protocol: corev1.ProtocolTCP})
	}
}

func TestFits(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		pod        *corev1.Pod
		node       *corev1.Node
		podsOnNode []*corev1.Pod
		wantOK     bool
		wantReason string
	}{
		{name: "fits on an empty node", pod: pod("p", "1", "1Gi"), node: node("2", "4Gi"), wantOK: true},
		{name: "fits exactly", pod: pod("p", "1", "2Gi"), node: node("2", "4Gi"), podsOnNode: []*corev1.Pod{pod("q", "1", "2Gi")}, wantOK: true},
		{name: "cpu taken by pods on the node", pod: pod("p", "1", "1Gi"), node: node("2", "4Gi"),
			podsOnNode: []*corev1.Pod{pod("q", "1500m", "1Gi")}, wantReason: "Insufficient cpu"},
		{name: "memory larger than the node", pod: pod("p", "100m", "8Gi"), node: node("2", "4Gi"), wantReason: "Insufficient memory"},
		{name: "both resources short: the scheduler lists both", pod: pod("p", "3", "8Gi"), node: node("2", "4Gi"),
			wantReason: "Insufficient cpu, Insufficient memory"},
		{name: "pod count limit", pod: pod("p", "0", "0"), node: node("2", "4Gi", func(n *corev1.Node) {
			n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("1")
		}), podsOnNode: []*corev1.Pod{pod("q", "0", "0")}, wantReason: "Too many pods"},
		{name: "init container request counts", pod: pod("p", "100m", "1Gi", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}}
		}), node: node("2", "4Gi"), wantReason: "Insufficient cpu"},
		{name: "untolerated NoSchedule taint is named", pod: pod("p", "1", "1Gi"), node: node("2", "4Gi", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
			wantReason: "node(s) had untolerated taint {dedicated: gpu}"},
		{name: "tolerated taint", pod: pod("p", "1", "1Gi", tolerating("dedicated")), node: node("2", "4Gi", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)), wantOK: true},
		{name: "PreferNoSchedule taint does not filter", pod: pod("p", "1", "1Gi"), node: node("2", "4Gi", withTaint("soft", "", corev1.TaintEffectPreferNoSchedule)), wantOK: true},
		{name: "nodeSelector matches", pod: pod("p", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"pool": "a"} }),
			node: node("2", "4Gi"), wantOK: true},
		{name: "nodeSelector does not match", pod: pod("p", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"pool": "b"} }),
			node: node("2", "4Gi"), wantReason: "node(s) didn't match Pod's node affinity/selector"},
		{name: "required node affinity does not match", pod: pod("p", "1", "1Gi", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"b", "c"}}}}},
			}}}
		}), node: node("2", "4Gi"), wantReason: "node(s) didn't match Pod's node affinity/selector"},
		{name: "required node affinity on metadata.name", pod: pod("p", "1", "1Gi", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"other"}}}}},
			}}}
		}), node: node("2", "4Gi"), wantReason: "node(s) didn't match Pod's node affinity/selector"},
		{name: "host port free", pod: pod("p", "1", "1Gi", hostPort(8080)), node: node("2", "4Gi"),
			podsOnNode: []*corev1.Pod{pod("q", "100m", "1Gi", hostPort(9090))}, wantOK: true},
		{name: "host port taken", pod: pod("p", "1", "1Gi", hostPort(8080)), node: node("2", "4Gi"),
			podsOnNode: []*corev1.Pod{pod("q", "100m", "1Gi", hostPort(8080))}, wantReason: "node(s) didn't have free ports for the requested pod ports"},
		{name: "unschedulable node", pod: pod("p", "1", "1Gi"), node: node("2", "4Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			wantReason: "node(s) were unschedulable"},
		{name: "unschedulable node tolerated", pod: pod("p", "1", "1Gi", tolerating(corev1.TaintNodeUnschedulable)),
			node: node("2", "4Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true }), wantOK: true},
		{name: "pod bound to another node", pod: pod("p", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeName = "other" }),
			node: node("2", "4Gi"), wantReason: "node(s) didn't match the requested node name"},
		{name: "unschedulable wins over resources, as in the scheduler's filter order", pod: pod("p", "3", "1Gi"),
			node: node("2", "4Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true }), wantReason: "node(s) were unschedulable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := c.Fits(tt.pod, tt.node, tt.podsOnNode)
			if ok != tt.wantOK || reason != tt.wantReason {
				t.Errorf("Fits = %v, %q; want %v, %q", ok, reason, tt.wantOK, tt.wantReason)
			}
		})
	}
}

// TestPreparedPodAcrossNodes checks the reuse path the planner takes: one Prepare, many
// nodes, pods added as they are placed, clones independent.
func TestPreparedPodAcrossNodes(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	n := NewNode(node("2", "4Gi"), nil)
	p := c.Prepare(pod("p", "600m", "1Gi", hostPort(80)))
	if ok, reason := p.FitsOn(n); !ok {
		t.Fatalf("first placement: %s", reason)
	}
	clone := n.Clone()
	n.AddPod(p.Pod())
	if ok, reason := p.FitsOn(n); ok || reason != "node(s) didn't have free ports for the requested pod ports" {
		t.Errorf("second placement on the same node = %v, %q", ok, reason)
	}
	if ok, reason := p.FitsOn(clone); !ok {
		t.Errorf("clone saw a pod added after cloning: %s", reason)
	}
	if cpu, mem := n.Requested(); cpu != 600 || mem != 1<<30 {
		t.Errorf("Requested = %d, %d", cpu, mem)
	}
	if cpu, _ := clone.Requested(); cpu != 0 || clone.NumPods() != 0 || n.NumPods() != 1 {
		t.Errorf("clone requested %dm with %d pods, original %d pods", cpu, clone.NumPods(), n.NumPods())
	}
}

func BenchmarkFilter(b *testing.B) {
	c, err := New()
	if err != nil {
		b.Fatal(err)
	}
	var on []*corev1.Pod
	for range 30 {
		on = append(on, pod("q", "50m", "64Mi"))
	}
	n := NewNode(node("8", "32Gi"), on)
	for b.Loop() {
		c.Prepare(pod("p", "1", "1Gi", tolerating("x"))).FitsOn(n)
	}
}
