//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/e2e/dataplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// workerPreflightIgnores are the kubeadm preflight checks a seed machine fails because it
// lacks tools a VM image would carry (crictl, ethtool, socat, tc, ebtables) and has no
// systemd; the join uses none of them. The operator is installed with them
// (--worker-ignore-preflight-errors) in TestMain.
var workerPreflightIgnores = []string{
	"SystemVerification", "Service-Kubelet", "FileExisting-crictl", "FileExisting-ethtool",
	"FileExisting-socat", "FileExisting-tc", "FileExisting-ebtables",
}

func TestWorkerPoolJoinsThroughOctavia(t *testing.T) {
	inLane(t, &laneWorkers)
	cloud := openStackCloud(t)
	host, ok := provider.(seed.MachineHost)
	if !ok {
		t.Skip("this seed provider cannot start extra machines (kind); see docs/seed.md")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	faults := &bootFaults{} // testPoolStartup's server that never joins
	harness, customer := startDataPlane(t, ctx, cloud, host, faults.install)

	ns := newNamespace(t)
	secret := cloud.customerSecret(t, ctx, ns)
	tc := smallTenant(ns, "workers")
	tc.Spec.Endpoint = v1alpha1.EndpointSpec{Type: v1alpha1.EndpointOctavia, Octavia: &v1alpha1.OctaviaEndpointSpec{
		CredentialsSecretRef: corev1.LocalObjectReference{Name: secret.Name},
		SubnetID:             cloud.env["KUBESEED_OPENSTACK_CUSTOMER_SUBNET"],
	}}
	if err := kube.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	waitTenantReady(t, ctx, tc)
	waitCondition(t, ctx, tc, v1alpha1.TenantBootstrappedCondition, 2*time.Minute)
	vip := tc.Status.Octavia.VIPAddress
	tenant := kubernetes.NewForConfigOrDie(tenantConfig(t, ctx, tc)) // through the VIP, forwarded

	pool := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pool"},
		Spec: v1alpha1.WorkerPoolSpec{
			// A minor older than the control plane: the pool is upgraded below.
			ClusterName: tc.Name, Replicas: ptr.To[int32](2), Version: olderVersion,
			NodeLabels: map[string]v1alpha1.NodeLabelValue{"example.com/tier": "e2e"},
			// PreferNoSchedule: the test's pods still land on them.
			NodeTaints: []v1alpha1.NodeTaint{{Key: "example.com/e2e", Value: "yes", Effect: corev1.TaintEffectPreferNoSchedule}},
			Flavor:     cloud.env["KUBESEED_OPENSTACK_FLAVOR"], Image: cloud.env["KUBESEED_OPENSTACK_IMAGE"],
			NetworkID:            cloud.env["KUBESEED_OPENSTACK_CUSTOMER_NETWORK"],
			CredentialsSecretRef: corev1.LocalObjectReference{Name: secret.Name},
			// The servers boot as machines that share this host's disk with everything
			// else on it (builds, images, the cloud): disk thresholds as small as the
			// seed node's, so that the host's fill level never evicts the test's pods.
			Kubelet: v1alpha1.KubeletSpec{EvictionHard: map[string]v1alpha1.EvictionThreshold{
				"nodefs.available": "2%", "imagefs.available": "2%",
			}},
		},
	}
	start := time.Now()
	if err := kube.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	nodes := waitPool(t, ctx, pool, tenant, 2)
	t.Logf("WorkerPool of 2: both nodes Ready %.1fs after it was created", time.Since(start).Seconds())
	logBootTimes(t, ctx, harness, customer, tenant)

	t.Run("the nodes joined through the VIP", func(t *testing.T) {
		for _, n := range nodes {
			out, err := host.MachineExec(ctx, n, "cat", "/etc/kubernetes/kubelet.conf")
			if err != nil {
				t.Fatalf("read kubelet.conf on %s: %v", n, err)
			}
			if want := "server: https://" + vip + ":6443"; !strings.Contains(string(out), want) {
				t.Errorf("kubelet.conf of %s does not name the VIP (%s):\n%s", n, want, out)
			}
		}
	})

	t.Run("the nodes carry the pool's labels and taints", func(t *testing.T) {
		for _, n := range nodes {
			node, err := tenant.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if node.Labels["example.com/tier"] != "e2e" {
				t.Errorf("node %s labels %v lack example.com/tier=e2e", n, node.Labels)
			}
			if !slices.ContainsFunc(node.Spec.Taints, func(tt corev1.Taint) bool {
				return tt.Key == "example.com/e2e" && tt.Value == "yes" && tt.Effect == corev1.TaintEffectPreferNoSchedule
			}) {
				t.Errorf("node %s taints %v lack example.com/e2e=yes:PreferNoSchedule", n, node.Spec.Taints)
			}
		}
	})

	t.Run("a Deployment runs on the workers", func(t *testing.T) {
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: testServerPod(map[string]string{"app": "web"}),
			},
		}
		if _, err := tenant.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			d, err := tenant.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			return err == nil && d.Status.ReadyReplicas == 2, nil
		})
		if err != nil {
			t.Fatalf("Deployment web not Ready on the workers within 3m: %v", err)
		}
		pods, err := tenant.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if !slices.Contains(nodes, p.Spec.NodeName) {
				t.Errorf("pod %s runs on %q, not on a worker of the pool %v", p.Name, p.Spec.NodeName, nodes)
			}
		}
	})

	t.Run("the pod network spans the workers", func(t *testing.T) {
		testPodNetwork(t, ctx, host, tenant, nodes[0], nodes[1])
	})

	t.Run("a version upgrade replaces the workers one at a time", func(t *testing.T) {
		testPoolUpgrade(t, ctx, host, pool, tenant, customer)
		nodes = poolNodes(t, ctx, tenant, pool.Name)
	})

	// The scale-up to 3 carries the health check's startup case: its new server's
	// user_data fails, and the server is replaced after a shortened nodeStartupTimeout.
	t.Run("scale to 3 with the scale subresource, a server that never joins replaced", func(t *testing.T) {
		testPoolStartup(t, ctx, faults, pool, tenant, customer, 3)
		all := poolNodes(t, ctx, tenant, pool.Name)
		// The node that joined last reaches a pod on one that was there before, both ways:
		// flanneld on every node follows nodes coming and going.
		for _, n := range all {
			if !slices.Contains(nodes, n) {
				checkCrossNode(t, ctx, host, tenant, n, nodes[0])
			}
		}
	})

	t.Run("health checks replace a NotReady node, and hold when too many are", func(t *testing.T) {
		testPoolHealth(t, ctx, host, pool, tenant, customer)
	})

	t.Run("scale to 1 drains the nodes it removes first", func(t *testing.T) {
		before := poolNodes(t, ctx, tenant, pool.Name)
		cordoned := map[string]bool{}
		name := pool.Name // waitPool writes pool while the watcher runs
		watchCtx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go func() {
			for watchCtx.Err() == nil {
				list, err := tenant.CoreV1().Nodes().List(watchCtx, metav1.ListOptions{LabelSelector: "kubeseed.io/worker-pool=" + name})
				if err == nil {
					for _, n := range list.Items {
						if n.Spec.Unschedulable {
							cordoned[n.Name] = true
						}
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
		scaleTo(t, ctx, pool, 1)
		after := waitPool(t, ctx, pool, tenant, 1)
		stopWatch()
		time.Sleep(300 * time.Millisecond)
		for _, n := range before {
			if !slices.Contains(after, n) && !cordoned[n] {
				t.Errorf("node %s was removed without being cordoned first", n)
			}
		}
		err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			d, err := tenant.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			return err == nil && d.Status.ReadyReplicas == 2, nil
		})
		if err != nil {
			t.Errorf("the Deployment's pods did not come back on the remaining worker: %v", err)
		}
	})

	t.Run("a server deleted behind the controller's back is replaced", func(t *testing.T) {
		// Nova may still list the servers the scale-down deleted for a moment.
		var servers []openstack.Server
		err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			var err error
			servers, err = customer.Compute.ListServers(ctx, openstack.PoolTag(string(pool.UID)))
			return err == nil && len(servers) == 1, nil
		})
		if err != nil {
			t.Fatalf("servers of the pool after scaling to 1: %v", servers)
		}
		gone := servers[0].ID
		if err := customer.Compute.DeleteServer(ctx, gone); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			list, err := customer.Compute.ListServers(ctx, openstack.PoolTag(string(pool.UID)))
			if err != nil || len(list) != 1 || list[0].ID == gone {
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			t.Fatal("no replacement server within 5m")
		}
		waitPool(t, ctx, pool, tenant, 1)
		t.Logf("server replaced and its node Ready %.1fs after the deletion", time.Since(start).Seconds())
	})

	t.Run("an autoscaled pool grows for pending pods and shrinks when they go", func(t *testing.T) {
		testAutoscaling(t, ctx, tenant, pool)
	})

	t.Run("the tenant hibernates, workers first, and wakes with its objects", func(t *testing.T) {
		testHibernation(t, ctx, tc, pool, tenant)
	})

	t.Run("deleting the pool removes its servers", func(t *testing.T) {
		if err := kube.Delete(ctx, pool); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			list, err := customer.Compute.ListServers(ctx, openstack.PoolTag(string(pool.UID)))
			return err == nil && len(list) == 0, nil
		})
		if err != nil {
			t.Fatal("the pool's servers are still there after 3m")
		}
	})
	if err := kube.Delete(ctx, tc); err != nil {
		t.Fatal(err)
	}
}

// startDataPlane runs the data plane the test cloud lacks until the test ends: the
// customer's worker servers run as machines, Octavia VIPs forward. opts adjust the harness
// before it starts (bootFaults.install).
func startDataPlane(t *testing.T, ctx context.Context, cloud testCloud, host seed.MachineHost, opts ...func(*dataplane.Harness)) (*dataplane.Harness, *openstack.Clients) {
	t.Helper()
	customer := cloud.asCustomer(t, ctx)
	admin, err := openstack.NewFromCloudsYAML(ctx, cloud.cloudsYAML, "admin", openstack.Options{})
	if err != nil {
		t.Fatalf("authenticate as admin: %v", err)
	}
	// The workers' pod network is the tenant's CNI addon, nothing of the image's.
	harness := &dataplane.Harness{
		Customer: customer, Admin: admin, Host: host, KubernetesVersion: versions.Default,
		ImagesFor: func(v string) []string { return dataplane.NodeImagesAt(seed.ImagesDir(seed.CacheDir()), v) },
		ServerTag: openstack.RoleTag("worker"), Logf: t.Logf,
	}
	for _, o := range opts {
		o(harness) // before Run reads the harness
	}
	hctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); harness.Run(hctx) }()
	t.Cleanup(func() {
		stop()
		wg.Wait()
		if err := harness.Close(context.Background()); err != nil {
			t.Errorf("data plane cleanup: %v", err)
		}
		for _, err := range harness.Errors() {
			t.Logf("data plane: %v", err)
		}
	})
	return harness, customer
}

// scaleTo sets the pool's size through its scale subresource, as `kubectl scale` does,
// again on a conflict: the controller's status writes move the resourceVersion (just after
// a spec patch, testPoolStartup's, they are likely).
func scaleTo(t *testing.T, ctx context.Context, pool *v1alpha1.WorkerPool, n int32) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		scale := &autoscalingv1.Scale{}
		if err := kube.SubResource("scale").Get(ctx, pool, scale); err != nil {
			return err
		}
		scale.Spec.Replicas = n
		return kube.SubResource("scale").Update(ctx, pool, client.WithSubResourceBody(scale))
	})
	if err != nil {
		t.Fatalf("scale to %d: %v", n, err)
	}
}

// waitPool waits until the pool reports n ready replicas and the tenant has exactly n Ready
// nodes of it, and returns their names.
func waitPool(t *testing.T, ctx context.Context, pool *v1alpha1.WorkerPool, tenant kubernetes.Interface, n int32) []string {
	t.Helper()
	var names []string
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 6*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
			return false, nil
		}
		names = poolNodes(t, ctx, tenant, pool.Name)
		ready := 0
		for _, name := range names {
			if node, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil && nodeIsReady(node) {
				ready++
			}
		}
		return pool.Status.ReadyReplicas == n && pool.Status.Replicas == n && len(names) == int(n) && ready == int(n), nil
	})
	if err != nil {
		// The verdict first: a CI report that keeps only the head of the output keeps it.
		t.Errorf("WorkerPool %s not at %d Ready nodes within 6m: status %+v, nodes %v", pool.Name, n, pool.Status, names)
		dumpNodes(t, tenant, names)
		dumpMachines(t, pool.Name+"-")
		dumpManagerLogs(t)
		t.FailNow()
	}
	return names
}

// dumpNodes logs, for each node that is not Ready, its own reason and the tenant's
// kube-system pods on it (a node waits for its pod network), so a failure says why.
func dumpNodes(t *testing.T, tenant kubernetes.Interface, names []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, name := range names {
		node, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil || nodeIsReady(node) {
			continue
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				t.Logf("node %s: Ready=%s %s: %s", name, c.Status, c.Reason, c.Message)
			}
		}
		pods, err := tenant.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + name})
		if err != nil {
			t.Logf("node %s: list its pods: %v", name, err)
			continue
		}
		for _, p := range pods.Items {
			for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
				state := fmt.Sprintf("%+v", cs.State)
				t.Logf("node %s: pod %s container %s ready=%v restarts=%d %s", name, p.Name, cs.Name, cs.Ready, cs.RestartCount, state)
			}
			if len(p.Status.ContainerStatuses) == 0 {
				t.Logf("node %s: pod %s %s %v", name, p.Name, p.Status.Phase, p.Status.Conditions)
			}
		}
	}
}

// dumpMachines logs the tail of the bootstrap (kubeadm join) and kubelet logs of every
// machine whose name starts with prefix: a server that booted but never became a Ready
// node says why only there.
func dumpMachines(t *testing.T, prefix string) {
	host, ok := provider.(interface{ MachineLogDir(string) string })
	if !ok {
		return
	}
	dirs, _ := filepath.Glob(host.MachineLogDir(prefix + "*"))
	for _, dir := range dirs {
		machine := filepath.Base(filepath.Dir(dir))
		for _, name := range []string{"bootstrap.log", "kubelet.log"} {
			raw, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Logf("machine %s: %v", machine, err)
				continue
			}
			t.Logf("machine %s: %s, last lines:\n%s", machine, name, lastLines(string(raw), 25))
		}
	}
}

func poolNodes(t *testing.T, ctx context.Context, tenant kubernetes.Interface, pool string) []string {
	t.Helper()
	list, err := tenant.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "kubeseed.io/worker-pool=" + pool})
	if err != nil {
		return nil
	}
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}

// logBootTimes splits each server's time to a Ready node: created → ACTIVE in Nova (as the
// harness first saw it), then ACTIVE → the node's Ready condition (machine boot and join).
func logBootTimes(t *testing.T, ctx context.Context, h *dataplane.Harness, customer *openstack.Clients, tenant kubernetes.Interface) {
	t.Helper()
	for id, m := range h.Machines() {
		s, err := customer.Compute.GetServer(ctx, id)
		if err != nil {
			continue
		}
		node, err := tenant.CoreV1().Nodes().Get(ctx, m.Name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				t.Logf("server %s: ACTIVE %.1fs after create, node Ready %.1fs after ACTIVE",
					m.Name, m.Active.Sub(s.Created).Seconds(), c.LastTransitionTime.Sub(m.Active).Seconds())
			}
		}
	}
}
