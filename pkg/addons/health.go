package addons

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/health"
)

// Object names the health checks read.
const (
	KubeProxyDaemonSet   = "kube-proxy"
	CoreDNSDeployment    = "coredns"
	TunnelAgentDaemonSet = "kubeseed-tunnel-agent"
)

// Health is what Observe saw, ready to be the AddonsReady condition.
type Health struct {
	Ready   bool
	Reason  string
	Message string
}

// Observe reads the tenant's addon workloads and judges them with its nodes (Check).
// daemonSets are the addon DaemonSets to wait for (ExpectedDaemonSets).
func Observe(ctx context.Context, c client.Client, nodes []corev1.Node, daemonSets []NamedDaemonSet) (Health, error) {
	var sets []NamedDaemonSet
	for _, want := range daemonSets {
		ds := &appsv1.DaemonSet{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: want.Name}, ds); apierrors.IsNotFound(err) {
			ds = nil
		} else if err != nil {
			return Health{}, fmt.Errorf("get tenant DaemonSet %s: %w", want.Name, err)
		}
		want.DaemonSet = ds
		sets = append(sets, want)
	}
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: CoreDNSDeployment}, dep); apierrors.IsNotFound(err) {
		dep = nil
	} else if err != nil {
		return Health{}, fmt.Errorf("get tenant Deployment %s: %w", CoreDNSDeployment, err)
	}
	return Check(nodes, sets, dep), nil
}

// NamedDaemonSet is a DaemonSet Check waits for; DaemonSet is nil while it does not exist.
type NamedDaemonSet struct {
	Name      string
	DaemonSet *appsv1.DaemonSet
	// MayBeEmpty: no node to run on is no failure (a kube-proxy of one kubelet version).
	MayBeEmpty bool
}

// Check is pure: the addons are ready when each DaemonSet runs, updated, on every node that
// should have it and CoreDNS has an available replica of its current spec. Without a Ready
// node nothing can run, and the reason says so, with what the kubelet says is missing
// (typically the pod network) rather than "progressing".
func Check(nodes []corev1.Node, daemonSets []NamedDaemonSet, coreDNS *appsv1.Deployment) Health {
	if ReadyNodes(nodes) == 0 {
		msg := fmt.Sprintf("the tenant has no Ready node (%d registered): the addons run on workers", len(nodes))
		if why := notReadyMessage(nodes); why != "" {
			msg += "; " + why
		}
		return Health{Reason: v1alpha1.WaitingForNodesReason, Message: msg}
	}
	names := make([]string, 0, len(daemonSets)+1)
	for _, d := range daemonSets {
		if d.DaemonSet == nil {
			return Health{Reason: v1alpha1.ProgressingReason, Message: "DaemonSet " + d.Name + " does not exist yet"}
		}
		if d.MayBeEmpty && d.DaemonSet.Status.DesiredNumberScheduled == 0 && d.DaemonSet.Status.ObservedGeneration >= d.DaemonSet.Generation {
			continue // its nodes are those of another version's DaemonSet
		}
		if ok, msg := daemonSet(d.DaemonSet); !ok {
			return Health{Reason: v1alpha1.ProgressingReason, Message: msg}
		}
		names = append(names, d.Name)
	}
	if ok, msg := health.Deployment(coreDNS); !ok {
		return Health{Reason: v1alpha1.ProgressingReason, Message: msg}
	}
	names = append(names, CoreDNSDeployment)
	return Health{Ready: true, Reason: v1alpha1.AvailableReason, Message: strings.Join(names, ", ") + " are available"}
}

// notReadyMessage is the first node's own account of why it is not Ready, e.g. "container
// runtime network not ready: ... cni plugin not initialized".
func notReadyMessage(nodes []corev1.Node) string {
	for _, n := range nodes {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue && c.Message != "" {
				return fmt.Sprintf("node %s: %s", n.Name, c.Message)
			}
		}
	}
	return ""
}

func daemonSet(d *appsv1.DaemonSet) (bool, string) {
	if d == nil {
		return false, "DaemonSet kube-proxy does not exist yet"
	}
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		return false, fmt.Sprintf("DaemonSet %s: waiting for the controller to observe generation %d", d.Name, d.Generation)
	case s.DesiredNumberScheduled == 0:
		return false, fmt.Sprintf("DaemonSet %s: no node to run on yet", d.Name)
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		return false, fmt.Sprintf("DaemonSet %s: rolling out, %d of %d pods updated", d.Name, s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	case s.NumberReady < s.DesiredNumberScheduled:
		return false, fmt.Sprintf("DaemonSet %s: %d of %d pods ready", d.Name, s.NumberReady, s.DesiredNumberScheduled)
	}
	return true, fmt.Sprintf("DaemonSet %s: %d of %d pods ready", d.Name, s.NumberReady, s.DesiredNumberScheduled)
}

// ReadyNodes counts the nodes whose Ready condition is True.
func ReadyNodes(nodes []corev1.Node) int {
	n := 0
	for _, node := range nodes {
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

// ObserveTunnel reads the tenant's nodes and tunnel agent DaemonSet and judges them
// (CheckTunnel).
func ObserveTunnel(ctx context.Context, c client.Client) (Health, error) {
	nodes := &corev1.NodeList{}
	if err := c.List(ctx, nodes); err != nil {
		return Health{}, fmt.Errorf("list tenant nodes: %w", err)
	}
	ds := &appsv1.DaemonSet{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: TunnelAgentDaemonSet}, ds); apierrors.IsNotFound(err) {
		ds = nil
	} else if err != nil {
		return Health{}, fmt.Errorf("get tenant DaemonSet %s: %w", TunnelAgentDaemonSet, err)
	}
	return CheckTunnel(nodes.Items, ds), nil
}

// CheckTunnel is pure: the tunnel is ready when an agent runs, updated and ready, on every
// node that should have one. Without a Ready node there is nothing to tunnel to.
func CheckTunnel(nodes []corev1.Node, agents *appsv1.DaemonSet) Health {
	if ReadyNodes(nodes) == 0 {
		return Health{Reason: v1alpha1.WaitingForNodesReason, Message: fmt.Sprintf(
			"the tenant has no Ready node (%d registered): tunnel agents run on workers", len(nodes))}
	}
	if agents == nil {
		return Health{Reason: v1alpha1.ProgressingReason, Message: "DaemonSet " + TunnelAgentDaemonSet + " does not exist yet"}
	}
	if ok, msg := daemonSet(agents); !ok {
		return Health{Reason: v1alpha1.ProgressingReason, Message: msg}
	}
	return Health{Ready: true, Reason: v1alpha1.AvailableReason, Message: fmt.Sprintf(
		"a tunnel agent runs on each of %d nodes", agents.Status.NumberReady)}
}
