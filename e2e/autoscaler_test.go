//go:build e2e

package e2e

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// The autoscaler's timings in e2e (installOperator's values): a scan every 2 s, a node
// unneeded for 20 s is removed, no removal within 20 s of an addition.
const autoscalerUnneededTime = 20 * time.Second

// testAutoscaling adds an autoscaled pool {min 1, max 3} beside the tenant's fixed pool
// (fixed): pods that do not fit its one node grow it to the size that fits them, not
// more; fewer pods shrink it back, the removed node drained first; a pod only the fixed
// pool could take never grows it.
func testAutoscaling(t *testing.T, ctx context.Context, tenant kubernetes.Interface, fixed *v1alpha1.WorkerPool) {
	auto := fixed.DeepCopy()
	auto.ObjectMeta = metav1.ObjectMeta{Namespace: fixed.Namespace, Name: "auto"}
	auto.Spec.Version = ""
	auto.Spec.Replicas = ptr.To[int32](1)
	auto.Spec.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 3}
	// A server whose join failed (the bootstrap log says why: dumpMachines) is replaced as
	// a user's pool would replace it, well within the waits below; the defaults (10m) are
	// longer than those.
	auto.Spec.HealthCheck = v1alpha1.HealthCheckSpec{NodeStartupTimeout: &metav1.Duration{Duration: 150 * time.Second}}
	// Only the test's pods (and DaemonSets) land there: the count of nodes is theirs.
	auto.Spec.NodeLabels = map[string]v1alpha1.NodeLabelValue{"example.com/pool": "auto"}
	auto.Spec.NodeTaints = []v1alpha1.NodeTaint{{Key: "example.com/auto", Value: "yes", Effect: corev1.TaintEffectNoSchedule}}
	if err := kube.Create(ctx, auto); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Delete(context.Background(), auto) })
	first := waitPool(t, ctx, auto, tenant, 1)[0]
	cpPods := autoscalerPods(t, ctx, auto.Namespace, auto.Spec.ClusterName)
	if len(cpPods) != 1 {
		t.Fatalf("want one autoscaler pod in the control-plane namespace, have %d", len(cpPods))
	}

	// Each pod asks for 60% of what the node has left after its DaemonSets: one per node.
	// The machines report the host's capacity, not the flavor's: size from the real node.
	node, err := tenant.CoreV1().Nodes().Get(ctx, first, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	free := node.Status.Allocatable.Cpu().MilliValue() - requestedCPU(t, ctx, tenant, first)
	request := resource.NewMilliQuantity(free*6/10, resource.DecimalSI)
	t.Logf("node %s: %dm cpu free; each pod asks for %s", first, free, request)

	fixedBefore := *fixed.Spec.Replicas
	stuck := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "needs-fixed-pool"},
		Spec:       testServerPod(nil).Spec,
	}
	stuck.Spec.NodeSelector = map[string]string{"example.com/tier": "e2e"} // only the fixed pool
	stuck.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(free*6/10, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(node.Status.Allocatable.Memory().Value()*2, resource.BinarySI)}
	if _, err := tenant.CoreV1().Pods("default").Create(ctx, stuck, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = tenant.CoreV1().Pods("default").Delete(context.Background(), stuck.Name, metav1.DeleteOptions{})
	}()

	tmpl := testServerPod(map[string]string{"app": "hungry"})
	tmpl.Spec.NodeSelector = map[string]string{"example.com/pool": "auto"}
	tmpl.Spec.Tolerations = []corev1.Toleration{{Key: "example.com/auto", Operator: corev1.TolerationOpEqual, Value: "yes", Effect: corev1.TaintEffectNoSchedule}}
	tmpl.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: *request}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hungry"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "hungry"}},
			Template: tmpl,
		},
	}
	start := time.Now()
	if _, err := tenant.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = tenant.AppsV1().Deployments("default").Delete(context.Background(), dep.Name, metav1.DeleteOptions{})
	}()

	// The pool grows to 2 (one node per pod), never to 3, and both pods run.
	most := int32(0)
	err = wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(auto), auto); err != nil {
			return false, nil
		}
		most = max(most, *auto.Spec.Replicas)
		d, err := tenant.AppsV1().Deployments("default").Get(ctx, dep.Name, metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 2, nil
	})
	if err != nil {
		dumpAutoscaler(t, ctx, tenant, auto)
		t.Fatalf("Deployment hungry not Ready within 5m (pool at %d replicas): %v", *auto.Spec.Replicas, err)
	}
	t.Logf("2 pods pending → running on a new node of the autoscaled pool: %.1fs", time.Since(start).Seconds())
	if most != 2 {
		t.Errorf("the pool grew to %d replicas for 2 pods that fit on 2 nodes", most)
	}
	if e := poolEvent(t, ctx, auto, "ScaledUp"); !strings.Contains(e, "auto 1→2") || !strings.Contains(e, "Insufficient cpu") {
		t.Errorf("ScaledUp event %q, want it to say auto 1→2 and Insufficient cpu", e)
	}
	poolEvent(t, ctx, auto, "ServerRemediated") // a join that failed and its replacement, if any
	if !podEvent(t, ctx, tenant, "default", stuck.Name, "NotTriggerScaleUp", fixed.Name+": ") {
		t.Errorf("pod %s, which only the fixed pool could take, has no NotTriggerScaleUp event naming pool %s", stuck.Name, fixed.Name)
	}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(fixed), fixed); err != nil || *fixed.Spec.Replicas != fixedBefore {
		t.Errorf("the pool without autoscaling was resized: %d → %d (%v)", fixedBefore, *fixed.Spec.Replicas, err)
	}
	cm, err := tenant.CoreV1().ConfigMaps("kube-system").Get(ctx, "cluster-autoscaler-status", metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data["status"], "auto") {
		t.Errorf("status ConfigMap kube-system/cluster-autoscaler-status: %v %v", err, cm.Data)
	}

	// One pod fewer: its node is unneeded, drained and removed; the other pod stays put.
	before := poolNodes(t, ctx, tenant, auto.Name)
	// A watch sees every update of the pool's Nodes: a node with nothing to drain may be
	// cordoned and gone within any polling interval.
	var mu sync.Mutex
	cordoned := map[string]bool{}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for watchCtx.Err() == nil {
			w, err := tenant.CoreV1().Nodes().Watch(watchCtx, metav1.ListOptions{LabelSelector: "kubeseed.io/worker-pool=auto"})
			if err != nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if n, ok := ev.Object.(*corev1.Node); ok && n.Spec.Unschedulable {
					mu.Lock()
					cordoned[n.Name] = true
					mu.Unlock()
				}
			}
			w.Stop()
		}
	}()
	defer func() { stopWatch(); <-watched }()
	start = time.Now()
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: dep.Name, Namespace: "default"}, Spec: autoscalingv1.ScaleSpec{Replicas: 1}}
	if _, err := tenant.AppsV1().Deployments("default").UpdateScale(ctx, dep.Name, scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(auto), auto); err != nil {
			return false, nil
		}
		return *auto.Spec.Replicas == 1 && len(poolNodes(t, ctx, tenant, auto.Name)) == 1, nil
	})
	stopWatch()
	<-watched
	if err != nil {
		dumpAutoscaler(t, ctx, tenant, auto)
		t.Fatalf("the pool did not shrink back to 1 within 4m: %v", err)
	}
	t.Logf("a pod fewer → the unneeded node removed: %.1fs (unneeded time %s)", time.Since(start).Seconds(), autoscalerUnneededTime)
	time.Sleep(300 * time.Millisecond)
	after := poolNodes(t, ctx, tenant, auto.Name)
	for _, n := range before {
		if !slices.Contains(after, n) && !cordoned[n] {
			t.Errorf("node %s was removed without being drained first", n)
		}
	}
	pods, err := tenant.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=hungry"})
	if err != nil || len(pods.Items) != 1 || !slices.Contains(after, pods.Items[0].Spec.NodeName) {
		t.Errorf("want the remaining pod on the remaining node %v: %v", after, err)
	}
	if e := poolEvent(t, ctx, auto, "ScaledDown"); !strings.Contains(e, "auto 2→1") {
		t.Errorf("ScaledDown event %q, want it to say auto 2→1", e)
	}

	// No autoscaled pool left: the autoscaler goes.
	if err := kube.Delete(ctx, auto); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		return len(autoscalerPods(t, ctx, auto.Namespace, auto.Spec.ClusterName)) == 0, nil
	})
	if err != nil {
		t.Errorf("the autoscaler still runs with no autoscaled pool: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(kube.Get(ctx, client.ObjectKeyFromObject(auto), &v1alpha1.WorkerPool{})), nil
	})
	if err != nil {
		t.Errorf("WorkerPool auto not gone within 3m: %v", err)
	}
}

// autoscalerPods are the autoscaler's pods in the TenantCluster's control-plane namespace.
func autoscalerPods(t *testing.T, ctx context.Context, ns, cluster string) []corev1.Pod {
	t.Helper()
	tc := &v1alpha1.TenantCluster{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: cluster}, tc); err != nil {
		t.Fatal(err)
	}
	pods, err := clients.CoreV1().Pods(tc.Status.ControlPlaneNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=autoscaler,kubeseed.io/tenant-cluster=" + cluster})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// requestedCPU is the sum of the CPU requests of the pods on a node, in millicores.
func requestedCPU(t *testing.T, ctx context.Context, tenant kubernetes.Interface, node string) int64 {
	t.Helper()
	pods, err := tenant.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	var m int64
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			m += c.Resources.Requests.Cpu().MilliValue()
		}
	}
	return m
}

// poolEvent is the note of the newest event with reason on the pool ("" if none).
func poolEvent(t *testing.T, ctx context.Context, pool *v1alpha1.WorkerPool, reason string) string {
	t.Helper()
	events, err := clients.EventsV1().Events(pool.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	note, at := "", time.Time{}
	for i, e := range events.Items {
		if e.Reason == reason && e.Regarding.Name == pool.Name && e.Regarding.Kind == "WorkerPool" && !eventTime(&events.Items[i]).Before(at) {
			note, at = e.Note, eventTime(&events.Items[i])
		}
	}
	t.Logf("pool %s: %s %q", pool.Name, reason, note)
	return note
}

// podEvent says whether a tenant pod has an event with reason whose note contains text.
func podEvent(t *testing.T, ctx context.Context, tenant kubernetes.Interface, ns, pod, reason, text string) bool {
	t.Helper()
	var found bool
	_ = wait.PollUntilContextTimeout(ctx, time.Second, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		events, err := tenant.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
		if err != nil {
			return false, nil
		}
		for _, e := range events.Items {
			if e.Reason == reason && strings.Contains(e.Message, text) {
				t.Logf("pod %s: %s %q", pod, reason, e.Message)
				found = true
			}
		}
		return found, nil
	})
	return found
}

// dumpAutoscaler logs what the autoscaler says about itself, so a failure says why.
func dumpAutoscaler(t *testing.T, ctx context.Context, tenant kubernetes.Interface, pool *v1alpha1.WorkerPool) {
	t.Helper()
	if cm, err := tenant.CoreV1().ConfigMaps("kube-system").Get(ctx, "cluster-autoscaler-status", metav1.GetOptions{}); err == nil {
		t.Logf("cluster-autoscaler-status:\n%s", cm.Data["status"])
	}
	for _, p := range autoscalerPods(t, ctx, pool.Namespace, pool.Spec.ClusterName) {
		logs, err := clients.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: ptr.To[int64](40)}).DoRaw(ctx)
		t.Logf("autoscaler pod %s (%s): %v\n%s", p.Name, p.Status.Phase, err, logs)
	}
}
