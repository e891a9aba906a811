package loop

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeseed/kubeseed/cmd/kubeseed-autoscaler/internal/plan"
)

// Event reasons. TriggeredScaleUp and NotTriggerScaleUp are cluster-autoscaler's, which
// users already search for on their pods.
const (
	ReasonScaledUp          = "ScaledUp"
	ReasonScaledDown        = "ScaledDown"
	ReasonScaleFailed       = "ScaleFailed"
	ReasonTriggeredScaleUp  = "TriggeredScaleUp"
	ReasonNotTriggerScaleUp = "NotTriggerScaleUp"
	// DeleteMachineValue marks the autoscaler as who asked for a Node to go.
	DeleteMachineValue = "autoscaler"
)

// setReplicas moves a pool's replicas from → to through the scale subresource. The scale
// read carries its resourceVersion, so a concurrent change (a person, Magnum) wins and
// this one fails; a pool no longer at from is left alone.
func (a *Autoscaler) setReplicas(ctx context.Context, pool string, from, to int32) error {
	ctx, cancel := context.WithTimeout(ctx, tenantCallTimeout)
	defer cancel()
	pools := a.seed.Resource(WorkerPools).Namespace(a.cfg.Namespace)
	scale, err := pools.Get(ctx, pool, metav1.GetOptions{}, "scale")
	if err != nil {
		return fmt.Errorf("read the scale of WorkerPool %s: %w", pool, err)
	}
	current, _, _ := unstructured.NestedInt64(scale.Object, "spec", "replicas")
	if int32(current) != from {
		return fmt.Errorf("WorkerPool %s has %d replicas, not the %d planned with: left alone", pool, current, from)
	}
	if err := unstructured.SetNestedField(scale.Object, int64(to), "spec", "replicas"); err != nil {
		return err
	}
	if _, err := pools.Update(ctx, scale, metav1.UpdateOptions{FieldManager: "kubeseed-autoscaler"}, "scale"); err != nil {
		return fmt.Errorf("scale WorkerPool %s %d→%d: %w", pool, from, to, err)
	}
	return nil
}

func (a *Autoscaler) scaleUp(ctx context.Context, in plan.Input, up plan.ScaleUp) error {
	msg := fmt.Sprintf("scaled %s %d→%d for %d pending pods: %s", up.Pool, up.From, up.To, len(up.Pods), up.Reason)
	obj := a.poolObject(up.Pool)
	if err := a.setReplicas(ctx, up.Pool, up.From, up.To); err != nil {
		if obj != nil {
			a.seedEvents.Eventf(obj, corev1.EventTypeWarning, ReasonScaleFailed, "%s %d→%d: %v", up.Pool, up.From, up.To, err)
		}
		return err
	}
	a.lastDecision = a.now().UTC().Format("15:04:05 UTC ") + msg
	a.metrics.ScaledUp.WithLabelValues(up.Pool).Add(float64(up.To - up.From))
	if obj != nil {
		a.seedEvents.Event(obj, corev1.EventTypeNormal, ReasonScaledUp, msg)
	}
	a.log.Info("scaled up", "pool", up.Pool, "from", up.From, "to", up.To, "pods", len(up.Pods), "reason", up.Reason)
	verdict := fmt.Sprintf("pod triggered scale-up: %s %d->%d (max: %d)", up.Pool, up.From, up.To, poolMax(in, up.Pool))
	for _, p := range up.Pods {
		a.tellPod(p, corev1.EventTypeNormal, ReasonTriggeredScaleUp, verdict)
	}
	return nil
}

// scaleDown asks for exactly the planned Node to go: the annotation first, so that the
// WorkerPool controller, seeing one replica fewer, drains that Node and no other. If the
// resize fails the annotation is taken back.
func (a *Autoscaler) scaleDown(ctx context.Context, down plan.ScaleDown) error {
	obj := a.poolObject(down.Pool)
	fail := func(err error) error {
		if obj != nil {
			a.seedEvents.Eventf(obj, corev1.EventTypeWarning, ReasonScaleFailed, "remove Node %s (%s %d→%d): %v", down.Node, down.Pool, down.From, down.To, err)
		}
		return err
	}
	if err := a.annotateNode(ctx, down.Node, ptrTo(DeleteMachineValue)); err != nil {
		return fail(err)
	}
	if err := a.setReplicas(ctx, down.Pool, down.From, down.To); err != nil {
		// Taken back even when the resize failed because the autoscaler is stopping.
		if uerr := a.annotateNode(context.WithoutCancel(ctx), down.Node, nil); uerr != nil {
			a.log.Error("take back the delete-machine annotation", "node", down.Node, "err", uerr)
		}
		return fail(err)
	}
	msg := fmt.Sprintf("removing Node %s: %s %d→%d: %s", down.Node, down.Pool, down.From, down.To, down.Reason)
	a.lastDecision = a.now().UTC().Format("15:04:05 UTC ") + msg
	a.metrics.ScaledDown.WithLabelValues(down.Pool).Inc()
	if obj != nil {
		a.seedEvents.Event(obj, corev1.EventTypeNormal, ReasonScaledDown, msg)
	}
	a.log.Info("scaled down", "pool", down.Pool, "node", down.Node, "from", down.From, "to", down.To, "reason", down.Reason)
	return nil
}

// annotateNode sets (value non-nil) or removes DeleteMachineAnnotation on a tenant Node.
func (a *Autoscaler) annotateNode(ctx context.Context, node string, value *string) error {
	ctx, cancel := context.WithTimeout(ctx, tenantCallTimeout)
	defer cancel()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{plan.DeleteMachineAnnotation: value}}})
	if err != nil {
		return err
	}
	if _, err := a.tenant.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubeseed-autoscaler"}); err != nil {
		return fmt.Errorf("annotate Node %s with %s: %w", node, plan.DeleteMachineAnnotation, err)
	}
	return nil
}

// clearStale takes DeleteMachineValue off the Nodes of pools that are not shrinking: a
// removal whose resize failed, was undone (a scale-up) or was cut short by a restart would
// otherwise leave the Node marked as the next to go. It reports whether it changed any.
func (a *Autoscaler) clearStale(ctx context.Context, in plan.Input) (bool, error) {
	nodes := map[string][]*corev1.Node{}
	for _, n := range in.Nodes {
		nodes[n.Labels[plan.PoolLabel]] = append(nodes[n.Labels[plan.PoolLabel]], n)
	}
	changed := false
	for _, p := range in.Pools {
		if len(nodes[p.Name]) > int(p.Replicas) {
			continue // the WorkerPool controller is removing the marked Node
		}
		for _, n := range nodes[p.Name] {
			if n.Annotations[plan.DeleteMachineAnnotation] != DeleteMachineValue {
				continue
			}
			if err := a.annotateNode(ctx, n.Name, nil); err != nil {
				return changed, err
			}
			a.log.Info("took back a removal that did not happen", "node", n.Name, "pool", p.Name)
			changed = true
		}
	}
	return changed, nil
}

// tellPods sends NotTriggerScaleUp to pending pods no pool can help, once per verdict,
// and forgets pods that are no longer pending.
func (a *Autoscaler) tellPods(res plan.Result) {
	pending := map[types.NamespacedName]bool{}
	for _, v := range res.NoScaleUp {
		pending[v.Pod] = true
		var parts []string
		for _, pool := range sortedKeys(v.Reasons) {
			parts = append(parts, pool+": "+v.Reasons[pool])
		}
		msg := "pod didn't trigger scale-up: no WorkerPool of the cluster is autoscaled"
		if len(parts) > 0 {
			msg = "pod didn't trigger scale-up: " + strings.Join(parts, "; ")
		}
		a.tellPod(v.Pod, corev1.EventTypeNormal, ReasonNotTriggerScaleUp, msg)
	}
	for _, p := range res.WillFit {
		pending[p] = true
	}
	if res.ScaleUp != nil {
		for _, p := range res.ScaleUp.Pods {
			pending[p] = true
		}
	}
	for p := range a.verdicts {
		if !pending[p] {
			delete(a.verdicts, p)
		}
	}
}

func (a *Autoscaler) tellPod(key types.NamespacedName, kind, reason, msg string) {
	if a.verdicts[key] == msg {
		return
	}
	a.verdicts[key] = msg
	o, ok, err := a.pods.GetStore().GetByKey(key.String())
	if p, isPod := o.(*corev1.Pod); err == nil && ok && isPod {
		a.tenantEvents.Event(p, kind, reason, msg)
	}
}

func poolMax(in plan.Input, pool string) int32 {
	for _, p := range in.Pools {
		if p.Name == pool {
			return p.Max
		}
	}
	return 0
}

func ptrTo[T any](v T) *T { return &v }
