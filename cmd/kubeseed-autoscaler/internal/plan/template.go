package plan

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeseed/kubeseed/cmd/kubeseed-autoscaler/internal/simulate"
)

// template models a node the pool does not have yet.
type template struct {
	node   *corev1.Node
	dsPods []*corev1.Pod // the DaemonSet pods that would land on it
}

// noTemplateReason is why a pool can be neither grown nor counted on for upcoming nodes.
const noTemplateReason = "no Node and no status.nodeAllocatable to model a new node"

// defaultMaxPods stands in when status.nodeAllocatable omits "pods": without it the
// scheduler would allow no pod at all. It is the kubelet's default.
var defaultMaxPods = resource.MustParse("110")

// buildTemplate models a new node of ps: preferably a Ready Node of the pool (what the
// flavor really offers), else the pool's status.nodeAllocatable. Taints are always the
// pool's spec: a real node's may include transient ones (not-ready, being deleted).
func (c *cluster) buildTemplate(ps *poolState) (*template, string) {
	var node *corev1.Node
	for _, n := range ps.nodes { // sorted by name: the same model every pass
		if isReady(n) {
			node = &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Labels: copyMap(n.Labels)},
				Status: corev1.NodeStatus{
					Allocatable: n.Status.Allocatable.DeepCopy(),
					Capacity:    n.Status.Capacity.DeepCopy(),
					NodeInfo:    n.Status.NodeInfo,
				},
			}
			break
		}
	}
	if node == nil {
		if len(ps.Allocatable) == 0 {
			return nil, noTemplateReason
		}
		labels := map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"}
		for k, v := range ps.Labels {
			labels[k] = v
		}
		node = &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Status:     corev1.NodeStatus{Allocatable: ps.Allocatable.DeepCopy(), Capacity: ps.Allocatable.DeepCopy()},
		}
		if _, ok := node.Status.Allocatable[corev1.ResourcePods]; !ok {
			node.Status.Allocatable[corev1.ResourcePods] = defaultMaxPods
		}
	}
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	node.Labels[PoolLabel] = ps.Name
	node.Spec.Taints = append([]corev1.Taint(nil), ps.Taints...)
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	node.Name = ps.Name + "-template"
	node.Labels[corev1.LabelHostname] = node.Name

	// DaemonSets whose pod fits claim their share of every new node.
	t := &template{node: node}
	probe := simulate.NewNode(node, nil)
	for _, p := range c.dsPods {
		if ok, _ := p.FitsOn(probe); ok {
			probe.AddPod(p.Pod())
			t.dsPods = append(t.dsPods, p.Pod())
		}
	}
	return t, ""
}

// instance returns a fresh template node named name, carrying its DaemonSet pods.
func (t *template) instance(name string) *simulate.Node {
	n := t.node.DeepCopy()
	n.Name = name
	n.Labels[corev1.LabelHostname] = name
	return simulate.NewNode(n, t.dsPods)
}

// daemonSetPod is the pod the DaemonSet controller would create. The controller's own
// tolerations (not-ready, unreachable, pressure conditions) are left out: template nodes
// carry none of those taints.
func daemonSetPod(ds *appsv1.DaemonSet) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ds.Name + "-template",
			Namespace:       ds.Namespace,
			Labels:          ds.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))},
		},
		Spec: *ds.Spec.Template.Spec.DeepCopy(),
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// waste is the least-waste expander's score: the unused share of the new nodes' cpu and
// memory after packing, averaged.
func waste(nodes []*simulate.Node) float64 {
	var allocCPU, allocMem, reqCPU, reqMem int64
	for _, n := range nodes {
		cpu, mem := n.Allocatable()
		allocCPU, allocMem = allocCPU+cpu, allocMem+mem
		cpu, mem = n.Requested()
		reqCPU, reqMem = reqCPU+cpu, reqMem+mem
	}
	return (unused(reqCPU, allocCPU) + unused(reqMem, allocMem)) / 2
}

func unused(req, alloc int64) float64 {
	if alloc <= 0 {
		return 0
	}
	return float64(alloc-req) / float64(alloc)
}
