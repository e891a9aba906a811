package plan

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// now is 10:30:00 UTC; the fixtures' times are relative to it.
var now = time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC)

func rl(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
}

// pool is an autoscaled pool; mutate for the rest.
func pool(name string, replicas, min, max int32, mutate ...func(*Pool)) Pool {
	p := Pool{Name: name, Replicas: replicas, Autoscaled: true, Min: min, Max: max, Labels: map[string]string{PoolLabel: name}}
	for _, m := range mutate {
		m(&p)
	}
	return p
}

func notAutoscaled(p *Pool) { p.Autoscaled, p.Min, p.Max = false, 0, 0 }

func allocatable(cpu, mem string) func(*Pool) {
	return func(p *Pool) { p.Allocatable = rl(cpu, mem) }
}

func poolTaint(key, value string) func(*Pool) {
	return func(p *Pool) {
		p.Taints = append(p.Taints, corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffectNoSchedule})
	}
}

func poolLabel(key, value string) func(*Pool) {
	return func(p *Pool) { p.Labels[key] = value }
}

// node is a Ready node of pool, created an hour ago, with the pool's labels and taints.
func node(name string, p Pool, cpu, mem string, mutate ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: copyMap(p.Labels), Annotations: map[string]string{},
			CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec: corev1.NodeSpec{Taints: append([]corev1.Taint(nil), p.Taints...)},
		Status: corev1.NodeStatus{
			Allocatable: rl(cpu, mem),
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	n.Labels[corev1.LabelHostname] = name
	n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("110")
	for _, m := range mutate {
		m(n)
	}
	return n
}

func annotated(key, value string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Annotations[key] = value }
}

// notReady makes the node NotReady, created age ago, with the lifecycle controller's taint.
func notReady(age time.Duration) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.CreationTimestamp = metav1.NewTime(now.Add(-age))
		n.Status.Conditions[0].Status = corev1.ConditionFalse
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule})
	}
}

// pod is a ReplicaSet pod in namespace "default" bound to node; node "" makes it pending,
// marked Unschedulable by the scheduler.
func pod(name, node, cpu, mem string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}, Annotations: map[string]string{},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name + "-rs", UID: types.UID(name), Controller: ptr(true)}}},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: rl(cpu, mem)}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if node == "" {
		p.Status.Phase = corev1.PodPending
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func podAnnotated(key, value string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Annotations[key] = value }
}

func bare(p *corev1.Pod) { p.OwnerReferences = nil }

func inNamespace(ns string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Namespace = ns }
}

func ownedByDaemonSet(p *corev1.Pod) {
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", UID: "ds", Controller: ptr(true)}}
}

func selecting(key, value string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Spec.NodeSelector == nil {
			p.Spec.NodeSelector = map[string]string{}
		}
		p.Spec.NodeSelector[key] = value
	}
}

func tolerating(key string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists})
	}
}

func daemonSet(name, cpu, mem string, mutate ...func(*corev1.PodSpec)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", UID: types.UID(name)},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: rl(cpu, mem)}}}},
		}},
	}
	for _, m := range mutate {
		m(&ds.Spec.Template.Spec)
	}
	return ds
}

// pdb selects app=<app> in namespace ns with allowed disruptions left.
func pdb(ns, name, app string, allowed int32) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
	}
}

func key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: "default", Name: name}
}

func keys(names ...string) []types.NamespacedName {
	var out []types.NamespacedName
	for _, n := range names {
		out = append(out, key(n))
	}
	return out
}
