// Package simulate answers "does pod P fit on node N that already runs pods Q…" with the
// kube-scheduler's own filter plugins, so the autoscaler agrees with the scheduler and
// reports the scheduler's own reasons ("Insufficient cpu", "node(s) had untolerated taint
// {dedicated: gpu}").
//
// Plugins are built once per Checker and are stateless, so one Checker serves every pod and
// node of a scan; per-pod state (the PreFilter results) lives in a Pod, built once and then
// filtered against as many Nodes as needed.
package simulate

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/helper"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/nodeaffinity"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/nodename"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/nodeports"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/noderesources"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/nodeunschedulable"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/tainttoleration"
)

// Checker runs the scheduler's node-local filter plugins. It is safe for concurrent use.
type Checker struct {
	preFilters []fwk.PreFilterPlugin
	filters    []fwk.FilterPlugin
	features   feature.Features
}

// factory matches the in-tree plugin constructors.
type factory func(context.Context, runtime.Object, fwk.Handle, feature.Features) (fwk.Plugin, error)

// New builds the plugins with the feature gates' defaults of the vendored Kubernetes.
func New() (*Checker, error) {
	fts := feature.NewSchedulerFeaturesFromGates(utilfeature.DefaultFeatureGate)
	// There is no scheduler Handle here: the plugins would dereference it for DRA, which
	// node-local simulation cannot model anyway.
	fts.EnableDRAExtendedResource = false
	fts.EnableDynamicResourceAllocation = false

	fitArgs := &config.NodeResourcesFitArgs{ScoringStrategy: &config.ScoringStrategy{
		Type:      config.LeastAllocated,
		Resources: []config.ResourceSpec{{Name: string(corev1.ResourceCPU), Weight: 1}, {Name: string(corev1.ResourceMemory), Weight: 1}},
	}}
	// The scheduler's default filter order, which decides which reason is reported when
	// several plugins reject a node.
	plugins := []struct {
		new  factory
		args runtime.Object
	}{
		{nodeunschedulable.New, nil},
		{nodename.New, nil},
		{tainttoleration.New, nil},
		{nodeaffinity.New, &config.NodeAffinityArgs{}},
		{nodeports.New, nil},
		{noderesources.NewFit, fitArgs},
	}
	c := &Checker{features: fts}
	for _, p := range plugins {
		pl, err := p.new(context.Background(), p.args, nil, fts)
		if err != nil {
			return nil, fmt.Errorf("building scheduler plugin: %w", err)
		}
		if pf, ok := pl.(fwk.PreFilterPlugin); ok {
			c.preFilters = append(c.preFilters, pf)
		}
		c.filters = append(c.filters, pl.(fwk.FilterPlugin))
	}
	return c, nil
}

// Node is a node and the pods the scheduler would count on it. Not safe for concurrent use.
type Node struct {
	info *framework.NodeInfo
}

// NewNode returns node with pods already placed on it.
func NewNode(node *corev1.Node, pods []*corev1.Pod) *Node {
	info := framework.NewNodeInfo(pods...)
	info.SetNode(node)
	return &Node{info: info}
}

// Node returns the Node object.
func (n *Node) Node() *corev1.Node { return n.info.Node() }

// Name returns the Node's name.
func (n *Node) Name() string { return n.info.Node().Name }

// AddPod places pod on the node: its requests and host ports count from now on.
func (n *Node) AddPod(pod *corev1.Pod) { n.info.AddPod(pod) }

// NumPods is the number of pods placed on the node.
func (n *Node) NumPods() int { return len(n.info.Pods) }

// Requested returns the summed requests of the placed pods as the scheduler counts them.
func (n *Node) Requested() (milliCPU, memory int64) {
	return n.info.Requested.MilliCPU, n.info.Requested.Memory
}

// Allocatable returns the node's allocatable cpu and memory.
func (n *Node) Allocatable() (milliCPU, memory int64) {
	return n.info.Allocatable.MilliCPU, n.info.Allocatable.Memory
}

// Clone returns an independent copy: pods added to one do not show in the other.
func (n *Node) Clone() *Node { return &Node{info: n.info.SnapshotConcrete()} }

// Pod is a pod whose PreFilter state is computed, ready to be filtered against nodes.
type Pod struct {
	c      *Checker
	pod    *corev1.Pod
	state  *framework.CycleState
	skip   sets.Set[string] // plugins whose PreFilter said the pod is none of their business
	reject string           // a PreFilter rejected the pod outright
}

// Prepare runs the PreFilter plugins for pod once; the result can be used on any number of nodes.
func (c *Checker) Prepare(pod *corev1.Pod) *Pod {
	p := &Pod{c: c, pod: pod, state: framework.NewCycleState(), skip: sets.New[string]()}
	ctx := context.Background()
	for _, pf := range c.preFilters {
		// The PreFilterResult (node names from metadata.name affinity) is not needed: the
		// NodeAffinity Filter applies the same terms.
		_, st := pf.PreFilter(ctx, p.state, pod, nil)
		switch {
		case st.IsSkip():
			p.skip.Insert(pf.Name())
		case !st.IsSuccess():
			p.reject = st.Message()
			return p
		}
	}
	return p
}

// Pod returns the prepared pod.
func (p *Pod) Pod() *corev1.Pod { return p.pod }

// FitsOn reports whether the pod fits on n; otherwise reason is the first rejecting
// plugin's message, as the scheduler reports it for that node.
func (p *Pod) FitsOn(n *Node) (ok bool, reason string) {
	if p.reject != "" {
		return false, p.reject
	}
	ctx := context.Background()
	for _, f := range p.c.filters {
		if p.skip.Has(f.Name()) {
			continue
		}
		st := f.Filter(ctx, p.state, p.pod, n.info)
		if st.IsSuccess() {
			continue
		}
		if f.Name() == tainttoleration.Name {
			return false, p.c.taintReason(p.pod, n.info.Node(), st.Message())
		}
		return false, st.Message()
	}
	return true, ""
}

// taintReason names the taint, as schedulers before 1.33 did: the generic "untolerated
// taint(s)" does not tell a user which toleration to add.
func (c *Checker) taintReason(pod *corev1.Pod, node *corev1.Node, fallback string) string {
	taint, found := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations,
		helper.DoNotScheduleTaintsFilterFunc(), c.features.EnableTaintTolerationComparisonOperators)
	if !found {
		return fallback
	}
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value)
}

// Fits reports whether pod fits on node already running podsOnNode. It is the one-shot
// form of Prepare and FitsOn; prefer those when checking one pod against many nodes.
func (c *Checker) Fits(pod *corev1.Pod, node *corev1.Node, podsOnNode []*corev1.Pod) (ok bool, reason string) {
	return c.Prepare(pod).FitsOn(NewNode(node, podsOnNode))
}
