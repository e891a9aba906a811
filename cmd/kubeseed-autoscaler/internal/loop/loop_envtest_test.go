//go:build envtest

package loop

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubeseed/kubeseed/cmd/kubeseed-autoscaler/internal/plan"
)

// TestScanResizesThroughTheAPI runs scans against a real kube-apiserver (envtest) that
// plays both the seed (the WorkerPool CRD) and the tenant (Nodes, Pods): the scale
// subresource, the delete-machine annotation, the events and the status ConfigMap are
// the real API's. Nothing schedules pods or runs kubelets there, so the test sets the
// scheduler's verdict and the Nodes' status itself.
func TestScanResizesThroughTheAPI(t *testing.T) {
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest (KUBEBUILDER_ASSETS): %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cfg.QPS, cfg.Burst = 200, 400 // the test scans far more often than every 10 s
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kube := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)

	const ns = "customer"
	must(t, create(ctx, kube, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	pools := dyn.Resource(WorkerPools).Namespace(ns)
	for _, p := range []struct {
		name        string
		autoscaling map[string]any
	}{{"auto", map[string]any{"minReplicas": int64(1), "maxReplicas": int64(3)}}, {"fixed", nil}} {
		spec := map[string]any{"clusterName": "acme", "replicas": int64(1), "flavor": "m1", "image": "img",
			"networkID": "6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c01", "nodeLabels": map[string]any{"example.com/pool": p.name}}
		if p.autoscaling != nil {
			spec["autoscaling"] = p.autoscaling
		}
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kubeseed.io/v1alpha1", "kind": "WorkerPool",
			"metadata": map[string]any{"name": p.name, "namespace": ns}, "spec": spec}}
		if _, err := pools.Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create WorkerPool %s: %v", p.name, err)
		}
	}
	readyNode(t, ctx, kube, "auto-0", "auto")
	pending(t, ctx, kube, "p1", "auto", "1500m")
	pending(t, ctx, kube, "p2", "auto", "1500m")
	pending(t, ctx, kube, "p3", "fixed", "100m")

	cfgLoop := Config{Namespace: ns, Cluster: "acme", ScanInterval: time.Second, Plan: plan.Config{ScaleDownUtilizationThreshold: 0.5}}
	a := New(cfgLoop, kube, dyn, kube.CoreV1(), NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	a.Start(ctx)
	scanUntil(t, ctx, a, "auto at 2 replicas", func() bool { return replicas(t, ctx, pools, "auto") == 2 })
	if n := replicas(t, ctx, pools, "fixed"); n != 1 {
		t.Errorf("the pool without autoscaling went to %d replicas", n)
	}
	// p1 fits on auto-0, which is empty; p2 needs a second node; p3 only the fixed pool.
	wantEvent(t, ctx, kube, ns, "auto", ReasonScaledUp, "scaled auto 1→2 for 1 pending pods: Insufficient cpu")
	wantEvent(t, ctx, kube, "default", "p2", ReasonTriggeredScaleUp, "auto 1->2 (max: 3)")
	wantEvent(t, ctx, kube, "default", "p3", ReasonNotTriggerScaleUp, "fixed: not autoscaled")
	cm, err := kube.CoreV1().ConfigMaps(StatusNamespace).Get(ctx, StatusName, metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data[StatusKey], "name: auto") {
		t.Errorf("status ConfigMap: %v %v", err, cm)
	}

	// The second node came and the pods went: one node is removed, by the annotation and
	// one replica fewer, never below min.
	readyNode(t, ctx, kube, "auto-1", "auto")
	for _, p := range []string{"p1", "p2", "p3"} {
		must(t, kube.CoreV1().Pods("default").Delete(ctx, p, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
	}
	scanUntil(t, ctx, a, "auto back at 1 replica", func() bool { return replicas(t, ctx, pools, "auto") == 1 })
	annotated := 0
	for _, n := range []string{"auto-0", "auto-1"} {
		node, err := kube.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		must(t, err)
		if node.Annotations[plan.DeleteMachineAnnotation] == DeleteMachineValue {
			annotated++
		}
	}
	if annotated != 1 {
		t.Errorf("%d Nodes asked to go, want exactly 1", annotated)
	}
	wantEvent(t, ctx, kube, ns, "auto", ReasonScaledDown, "auto 2→1")
	for range 3 {
		must(t, a.Scan(ctx))
	}
	if n := replicas(t, ctx, pools, "auto"); n != 1 {
		t.Errorf("auto went to %d replicas, below its min of 1", n)
	}

	// Someone scales the pool back up before the Node went: the Node is no longer
	// leaving, and the mark that would make it the next to go is taken back.
	scale, err := pools.Get(ctx, "auto", metav1.GetOptions{}, "scale")
	must(t, err)
	must(t, unstructured.SetNestedField(scale.Object, int64(2), "spec", "replicas"))
	_, err = pools.Update(ctx, scale, metav1.UpdateOptions{}, "scale")
	must(t, err)
	scanUntil(t, ctx, a, "the delete-machine mark taken back", func() bool {
		for _, n := range []string{"auto-0", "auto-1"} {
			node, err := kube.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil || node.Annotations[plan.DeleteMachineAnnotation] != "" {
				return false
			}
		}
		return true
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func create(ctx context.Context, kube kubernetes.Interface, ns *corev1.Namespace) error {
	_, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	return err
}

// readyNode makes a Ready Node of pool with 2 cpu, 4Gi and 110 pods.
func readyNode(t *testing.T, ctx context.Context, kube kubernetes.Interface, name, pool string) {
	t.Helper()
	node, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{plan.PoolLabel: pool, "example.com/pool": pool, corev1.LabelHostname: name}}}, metav1.CreateOptions{})
	must(t, err)
	node.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("110")}
	node.Status.Allocatable = node.Status.Capacity
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	node, err = kube.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	must(t, err)
	// The apiserver taints a new Node not-ready (TaintNodesByCondition); the node
	// lifecycle controller, which envtest does not run, would take the taint off.
	node.Spec.Taints = nil
	_, err = kube.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
	must(t, err)
}

// pending makes a pod for pool's Nodes that the scheduler found no room for.
func pending(t *testing.T, ctx context.Context, kube kubernetes.Interface, name, pool, cpu string) {
	t.Helper()
	pod, err := kube.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "1", Controller: new(bool)}}},
		Spec: corev1.PodSpec{NodeSelector: map[string]string{"example.com/pool": pool}, Containers: []corev1.Container{{Name: "c", Image: "pause",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}, metav1.CreateOptions{})
	must(t, err)
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	_, err = kube.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	must(t, err)
}

func replicas(t *testing.T, ctx context.Context, pools dynamic.ResourceInterface, name string) int64 {
	t.Helper()
	u, err := pools.Get(ctx, name, metav1.GetOptions{})
	must(t, err)
	n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	return n
}

// scanUntil scans (after the informers' first list) until cond holds.
func scanUntil(t *testing.T, ctx context.Context, a *Autoscaler, what string, cond func() bool) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := a.Scan(ctx); err != nil && (last == nil || err.Error() != last.Error()) {
			t.Logf("scan: %v", err)
			last = err
		}
		return cond(), nil
	})
	if err != nil {
		if cm, err := a.tenant.CoreV1().ConfigMaps(StatusNamespace).Get(context.Background(), StatusName, metav1.GetOptions{}); err == nil {
			t.Logf("status:\n%s", cm.Data[StatusKey])
		}
		t.Fatalf("%s: not reached (last scan: %v)", what, last)
	}
}

func wantEvent(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, object, reason, text string) {
	t.Helper()
	var seen []string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		events, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + object})
		if err != nil {
			return false, nil
		}
		seen = seen[:0]
		for _, e := range events.Items {
			seen = append(seen, e.Reason+": "+e.Message)
			if e.Reason == reason && strings.Contains(e.Message, text) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("no %s event on %s/%s saying %q; events: %q", reason, ns, object, text, seen)
	}
}
