package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/pkg/addons"
)

// world plays what envtest does not run: the seed's Deployment and StatefulSet controllers
// (every replica of every control plane ready and updated), and in the fake tenant a
// kubelet (one Ready node) and the DaemonSet and Deployment controllers for the addons the
// first tenant stores there.
type world struct {
	seed, tenant client.Client
}

// benchNode is the fake tenant's one node. It carries no kubelet-version label, so the
// addons expect the one kube-proxy of the tenant's version.
const benchNode = "bench-node"

// prepare registers the fake tenant's Ready node.
func (w *world) prepare(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: benchNode}}
	if err := w.tenant.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the fake tenant's node: %w", err)
	}
	node.Status = corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.20"}},
	}
	if err := w.tenant.Status().Update(ctx, node); err != nil {
		return fmt.Errorf("make the fake tenant's node Ready: %w", err)
	}
	return nil
}

// playWorkloads sets, every second until ctx ends, the status of every workload whose
// status does not yet say all of its replicas run its current spec. A list a second is
// cheap next to the manager's own traffic; the apiservers are not what is measured.
func (w *world) playWorkloads(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		w.pass(ctx, w.seed, false)
		w.pass(ctx, w.tenant, true)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pass makes one round over c's Deployments and StatefulSets (and DaemonSets in the
// tenant). Errors are left to the next round: a conflict means the manager just wrote.
func (w *world) pass(ctx context.Context, c client.Client, tenant bool) {
	deps := &appsv1.DeploymentList{}
	if err := c.List(ctx, deps); err == nil {
		for i := range deps.Items {
			d := &deps.Items[i]
			n := ptr.Deref(d.Spec.Replicas, 1)
			want := appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
			if !equality.Semantic.DeepEqual(d.Status, want) {
				d.Status = want
				_ = c.Status().Update(ctx, d)
			}
		}
	}
	if !tenant {
		sets := &appsv1.StatefulSetList{}
		if err := c.List(ctx, sets); err == nil {
			for i := range sets.Items {
				s := &sets.Items[i]
				n := ptr.Deref(s.Spec.Replicas, 1)
				rev := fmt.Sprintf("%s-%d", s.Name, s.Generation)
				want := appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: n, ReadyReplicas: n, CurrentReplicas: n,
					UpdatedReplicas: n, AvailableReplicas: n, CurrentRevision: rev, UpdateRevision: rev}
				if !equality.Semantic.DeepEqual(s.Status, want) {
					s.Status = want
					_ = c.Status().Update(ctx, s)
				}
			}
		}
		return
	}
	sets := &appsv1.DaemonSetList{}
	if err := c.List(ctx, sets, client.InNamespace(addons.Namespace)); err == nil {
		for i := range sets.Items {
			s := &sets.Items[i]
			want := appsv1.DaemonSetStatus{ObservedGeneration: s.Generation, DesiredNumberScheduled: 1, CurrentNumberScheduled: 1,
				UpdatedNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1}
			if !equality.Semantic.DeepEqual(s.Status, want) {
				s.Status = want
				_ = c.Status().Update(ctx, s)
			}
		}
	}
}
