//go:build e2e

package e2e

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// olderVersion is the minor before the default: the WorkerPool e2e starts its workers there
// and upgrades them.
var olderVersion = versions.Supported[len(versions.Supported)-2]

// testPoolUpgrade raises the pool's version to the control plane's while the Deployment web
// (2 replicas, a PodDisruptionBudget of minAvailable 1) runs on it, and watches the rolling
// replacement: never more than 3 servers (maxSurge 1), never fewer than 2 schedulable
// Ready workers (maxUnavailable 0), never fewer than 1 Ready web pod (the PDB), a kube-proxy
// of the old version on the old nodes while they last; at the end every node runs the new
// kubelet and the old kube-proxy DaemonSet is gone. A client on a worker polls the
// Deployment's Service throughout: at most 5% of its requests may fail. It logs the time
// per replaced worker.
func testPoolUpgrade(t *testing.T, ctx context.Context, host seed.MachineHost, pool *v1alpha1.WorkerPool, tenant kubernetes.Interface, customer *openstack.Clients) {
	svc, err := tenant.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = tenant.CoreV1().Services("default").Delete(context.Background(), "web", metav1.DeleteOptions{})
	}()
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &intstr.IntOrString{Type: intstr.Int, IntVal: 1},
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	if _, err := tenant.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = tenant.PolicyV1().PodDisruptionBudgets("default").Delete(context.Background(), "web", metav1.DeleteOptions{})
	}()
	// Old nodes run the old kube-proxy, from its own DaemonSet.
	oldProxy := "kube-proxy-" + strings.ReplaceAll(olderVersion, ".", "-")
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		ds, err := tenant.AppsV1().DaemonSets("kube-system").Get(ctx, oldProxy, metav1.GetOptions{})
		return err == nil && ds.Status.NumberReady == 2, nil
	}); err != nil {
		t.Fatalf("DaemonSet %s does not run on the 2 workers at %s: %v", oldProxy, olderVersion, err)
	}
	before := poolNodes(t, ctx, tenant, pool.Name)

	var mu sync.Mutex
	var most, fewestNodes, fewestWeb = 0, 2, 2
	var clients []string // schedulable Ready workers, the poller's clients
	var polled, failed int
	var failures []string
	uid, name := string(pool.UID), pool.Name // the poll below writes pool while the watcher runs
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	// A client on a worker asks the Service every 200 ms, as a workload's user would; a
	// request whose client machine went away meanwhile counts for nothing.
	go func() {
		defer wg.Done()
		for i := 0; watchCtx.Err() == nil; i++ {
			mu.Lock()
			var node string
			if len(clients) > 0 {
				node = clients[i%len(clients)]
			}
			mu.Unlock()
			if node != "" {
				out, err := host.MachineExec(watchCtx, node, "curl", "-sS", "--max-time", "2", "http://"+svc.Spec.ClusterIP+"/")
				if watchCtx.Err() == nil && !strings.Contains(string(out), "nsenter") {
					mu.Lock()
					polled++
					if err != nil {
						failed++
						if len(failures) < 5 {
							failures = append(failures, node+": "+strings.TrimSpace(string(out)))
						}
					}
					mu.Unlock()
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		for watchCtx.Err() == nil {
			servers, err1 := customer.Compute.ListServers(watchCtx, openstack.PoolTag(uid))
			nodes, err2 := tenant.CoreV1().Nodes().List(watchCtx, metav1.ListOptions{LabelSelector: "kubeseed.io/worker-pool=" + name})
			pods, err3 := tenant.CoreV1().Pods("default").List(watchCtx, metav1.ListOptions{LabelSelector: "app=web"})
			if err1 == nil && err2 == nil && err3 == nil {
				var schedulable []string
				for i := range nodes.Items {
					if nodeIsReady(&nodes.Items[i]) && !nodes.Items[i].Spec.Unschedulable {
						schedulable = append(schedulable, nodes.Items[i].Name)
					}
				}
				web := 0
				for _, p := range pods.Items {
					if p.DeletionTimestamp == nil && podIsReady(&p) {
						web++
					}
				}
				mu.Lock()
				most, fewestNodes, fewestWeb = max(most, len(servers)), min(fewestNodes, len(schedulable)), min(fewestWeb, web)
				clients = schedulable
				mu.Unlock()
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()

	start := time.Now()
	patch := client.MergeFrom(pool.DeepCopy())
	pool.Spec.Version = versions.Default
	if err := kube.Patch(ctx, pool, patch); err != nil {
		t.Fatalf("set the pool's spec.version to %s: %v", versions.Default, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
			return false, nil
		}
		done := meta.IsStatusConditionFalse(pool.Status.Conditions, v1alpha1.ProgressingCondition) &&
			pool.Status.ObservedGeneration == pool.Generation && pool.Status.UpdatedReplicas == 2 &&
			pool.Status.ReadyReplicas == 2 && pool.Status.Version == versions.Default
		return done, nil
	})
	took := time.Since(start)
	stopWatch()
	wg.Wait()
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("the pool did not finish its rollout to %s within 10m: status %+v", versions.Default, pool.Status)
	}
	t.Logf("WorkerPool %s → %s: 2 workers replaced in %.1fs (%.1fs per worker)", olderVersion, versions.Default, took.Seconds(), took.Seconds()/2)

	after := poolNodes(t, ctx, tenant, pool.Name)
	for _, name := range after {
		if slices.Contains(before, name) {
			// Names are reused by replacements: the kubelet version tells them apart.
			t.Logf("node name %s reused by its replacement", name)
		}
		node, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v := node.Status.NodeInfo.KubeletVersion; v != versions.Default {
			t.Errorf("node %s runs kubelet %s after the upgrade, want %s", name, v, versions.Default)
		}
		if l := node.Labels[bootstrap.KubeletVersionLabel]; l != versions.Default {
			t.Errorf("node %s labelled %s=%s, want %s", name, bootstrap.KubeletVersionLabel, l, versions.Default)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most > 3 {
		t.Errorf("%d servers at once: maxSurge 1 allows 3", most)
	}
	if fewestNodes < 2 {
		t.Errorf("only %d schedulable Ready workers at one point: maxUnavailable 0 keeps 2", fewestNodes)
	}
	if fewestWeb < 1 {
		t.Errorf("no Ready web pod at one point: the PodDisruptionBudget (minAvailable 1) was not respected")
	}
	t.Logf("during the rollout: at most %d servers, at least %d schedulable Ready workers, at least %d Ready web pods; %d of %d requests to the Service failed %v",
		most, fewestNodes, fewestWeb, failed, polled, failures)
	// The bound: the Deployment's pods stop at once on SIGTERM (no preStop), so a request
	// may meet a pod between its eviction and kube-proxy dropping its endpoint.
	if polled < 100 {
		t.Errorf("only %d requests to the Service were made during the rollout", polled)
	} else if failed*20 > polled {
		t.Errorf("%d of %d requests to the Service failed during the rollout, more than 5%%: %v", failed, polled, failures)
	}
	// The old version's kube-proxy goes with its last node.
	if err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := tenant.AppsV1().DaemonSets("kube-system").Get(ctx, oldProxy, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Errorf("DaemonSet %s is still there with no node of %s left", oldProxy, olderVersion)
	}
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
