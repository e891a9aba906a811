// Command workerpool-ready measures how long a WorkerPool takes from a scale-up to Ready
// nodes, split into the server's way to ACTIVE in Nova and the join (machine boot, cloud-init,
// kubeadm join, kubelet Ready). It runs on the local seed with the OpenStack test cloud and
// the e2e data plane (e2e/dataplane) standing in for VMs and the Octavia amphora:
//
//	make demo openstack-up
//	go run ./hack/bench/workerpool-ready -runs 3 -size 2
//
// It (re)installs the operator with the preflight checks a seed machine cannot pass
// skipped, creates a TenantCluster with an Octavia endpoint, then scales a WorkerPool from
// 0 to -size and back -runs times. A benchmark, not a test: it prints figures and fails only
// when nodes never become Ready.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/e2e/dataplane"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/install"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// preflightIgnores: a seed machine lacks tools a VM image carries (see e2e/workerpool_test.go).
var preflightIgnores = []any{"SystemVerification", "Service-Kubelet", "FileExisting-crictl", "FileExisting-ethtool",
	"FileExisting-socat", "FileExisting-tc", "FileExisting-ebtables"}

func main() {
	runs := flag.Int("runs", 3, "scale-ups from 0, one after another")
	size := flag.Int("size", 2, "servers per scale-up")
	timeout := flag.Duration("timeout", 8*time.Minute, "give up on a scale-up after this long")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := bench(ctx, *runs, *size, *timeout); err != nil {
		fmt.Fprintf(os.Stderr, "workerpool-ready: %v\n", err)
		os.Exit(1)
	}
}

type sample struct{ created, active, join, total time.Duration }

func bench(ctx context.Context, runs, size int, timeout time.Duration) error {
	env, cloudsYAML, err := testCloud()
	if err != nil {
		return err
	}
	local := seed.NewLocal(seed.CacheDir(), func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) })
	cfg, err := clientcmd.BuildConfigFromFlags("", local.Kubeconfig())
	if err != nil {
		return fmt.Errorf("seed kubeconfig: %w", err)
	}
	kube, err := client.New(cfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		return err
	}
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = ptr.To(local.Kubeconfig())
	if _, err := install.Operator(ctx, flags, install.Options{Values: map[string]any{
		"manager":      map[string]any{"workerIgnorePreflightErrors": preflightIgnores},
		"controlPlane": map[string]any{"spread": "preferred"}, // the local seed has one node
	}}); err != nil {
		return fmt.Errorf("install the operator: %w", err)
	}
	customer, err := openstack.NewFromCloudsYAML(ctx, cloudsYAML, "customer", openstack.Options{})
	if err != nil {
		return fmt.Errorf("authenticate as the customer: %w", err)
	}
	admin, err := openstack.NewFromCloudsYAML(ctx, cloudsYAML, "admin", openstack.Options{})
	if err != nil {
		return fmt.Errorf("authenticate as admin: %w", err)
	}
	h := &dataplane.Harness{Customer: customer, Admin: admin, Host: local, KubernetesVersion: versions.Default,
		Images: dataplane.NodeImages(seed.ImagesDir(seed.CacheDir())), ServerTag: openstack.RoleTag("worker")}
	hctx, stop := context.WithCancel(ctx)
	go h.Run(hctx)
	defer func() {
		stop()
		_ = h.Close(context.Background())
	}()

	ns := fmt.Sprintf("bench-wp-%d", time.Now().Unix())
	if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	defer func() {
		_ = kube.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}()
	if err := kube.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cloud"},
		Data: map[string][]byte{openstack.SecretKeyCloudsYAML: customerOnly(cloudsYAML)}}); err != nil {
		return err
	}
	tc := tenant(ns, env["KUBESEED_OPENSTACK_CUSTOMER_SUBNET"])
	if err := kube.Create(ctx, tc); err != nil {
		return err
	}
	defer func() { _ = kube.Delete(context.Background(), tc) }()
	if err := waitFor(ctx, 5*time.Minute, func(ctx context.Context) bool {
		return kube.Get(ctx, client.ObjectKeyFromObject(tc), tc) == nil &&
			meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.TenantBootstrappedCondition)
	}); err != nil {
		return fmt.Errorf("TenantCluster not bootstrapped: %w", err)
	}
	secret := &corev1.Secret{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: controlplane.AdminKubeconfigSecret.Name(tc.Name)}, secret); err != nil {
		return err
	}
	tcfg, err := clientcmd.RESTConfigFromKubeConfig(secret.Data[controlplane.KubeconfigKey])
	if err != nil {
		return err
	}
	tenantClient := kubernetes.NewForConfigOrDie(tcfg)

	pool := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench"},
		Spec: v1alpha1.WorkerPoolSpec{ClusterName: tc.Name, Replicas: ptr.To[int32](0),
			Flavor: env["KUBESEED_OPENSTACK_FLAVOR"], Image: env["KUBESEED_OPENSTACK_IMAGE"],
			NetworkID: env["KUBESEED_OPENSTACK_CUSTOMER_NETWORK"], CredentialsSecretRef: corev1.LocalObjectReference{Name: "cloud"}},
	}
	if err := kube.Create(ctx, pool); err != nil {
		return err
	}
	var samples []sample
	for run := 1; run <= runs; run++ {
		if err := setReplicas(ctx, kube, pool, int32(size)); err != nil {
			return err
		}
		start := time.Now()
		if err := waitFor(ctx, timeout, func(ctx context.Context) bool {
			return kube.Get(ctx, client.ObjectKeyFromObject(pool), pool) == nil && pool.Status.ReadyReplicas == int32(size)
		}); err != nil {
			return fmt.Errorf("run %d: %d nodes not Ready: %w (status %+v)", run, size, err, pool.Status)
		}
		for id, m := range h.Machines() {
			s, err := customer.Compute.GetServer(ctx, id)
			if err != nil || s.Created.Before(start.Add(-2*time.Second)) {
				continue
			}
			node, err := tenantClient.CoreV1().Nodes().Get(ctx, m.Name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					smp := sample{created: s.Created.Sub(start), active: m.Active.Sub(s.Created), join: c.LastTransitionTime.Sub(m.Active), total: c.LastTransitionTime.Sub(start)}
					samples = append(samples, smp)
					fmt.Printf("run %d, %s: created in Nova %.1f s after the scale-up, ACTIVE %.1f s later, node Ready %.1f s after ACTIVE; %.1f s in all\n",
						run, m.Name, smp.created.Seconds(), smp.active.Seconds(), smp.join.Seconds(), smp.total.Seconds())
					fmt.Printf("  the join: %s\n", joinSteps(ctx, tenantClient, m, node, c.LastTransitionTime.Time))
				}
			}
		}
		if err := setReplicas(ctx, kube, pool, 0); err != nil {
			return err
		}
		if err := waitFor(ctx, timeout, func(ctx context.Context) bool {
			list, err := customer.Compute.ListServers(ctx, openstack.PoolTag(string(pool.UID)))
			return err == nil && len(list) == 0 && len(h.Machines()) == 0
		}); err != nil {
			return fmt.Errorf("run %d: scale to 0: %w", run, err)
		}
	}
	if len(samples) == 0 {
		return fmt.Errorf("no samples")
	}
	report := func(name string, pick func(sample) time.Duration) {
		var d []time.Duration
		for _, s := range samples {
			d = append(d, pick(s))
		}
		slices.Sort(d)
		fmt.Printf("%-22s p50 %5.1f s  p90 %5.1f s  (n=%d)\n", name, pct(d, 50).Seconds(), pct(d, 90).Seconds(), len(d))
	}
	report("scale-up -> created", func(s sample) time.Duration { return s.created })
	report("created -> ACTIVE", func(s sample) time.Duration { return s.active })
	report("ACTIVE -> node Ready", func(s sample) time.Duration { return s.join })
	report("scale-up -> node Ready", func(s sample) time.Duration { return s.total })
	return nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i-1, len(sorted)-1))]
}

func setReplicas(ctx context.Context, c client.Client, pool *v1alpha1.WorkerPool, n int32) error {
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n))
	return c.Patch(ctx, pool, patch)
}

func waitFor(ctx context.Context, timeout time.Duration, cond func(context.Context) bool) error {
	return wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		return cond(ctx), nil
	})
}

func tenant(ns, subnet string) *v1alpha1.TenantCluster {
	res := func(cpu, mem string) *corev1.ResourceRequirements {
		l := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
		return &corev1.ResourceRequirements{Requests: l, Limits: l}
	}
	one := ptr.To[int32](1)
	return &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench"},
		Spec: v1alpha1.TenantClusterSpec{
			Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointOctavia, Octavia: &v1alpha1.OctaviaEndpointSpec{
				CredentialsSecretRef: corev1.LocalObjectReference{Name: "cloud"}, SubnetID: subnet}},
			ControlPlane: v1alpha1.ControlPlaneSpec{
				APIServer:         v1alpha1.APIServerSpec{ComponentSpec: v1alpha1.ComponentSpec{Replicas: one, Resources: res("250m", "1Gi")}},
				ControllerManager: v1alpha1.ComponentSpec{Replicas: one, Resources: res("100m", "256Mi")},
				Scheduler:         v1alpha1.ComponentSpec{Replicas: one, Resources: res("50m", "128Mi")},
				Etcd:              v1alpha1.EtcdSpec{Replicas: one, Resources: res("100m", "512Mi")},
			},
		},
	}
}

// testCloud reads the test cloud's openstack.env and clouds.yaml (make openstack-up).
func testCloud() (map[string]string, []byte, error) {
	dir := os.Getenv("KUBESEED_OPENSTACK_DIR")
	if dir == "" {
		dir = "/var/lib/kubeseed-openstack"
	}
	raw, err := os.ReadFile(filepath.Join(dir, "openstack.env"))
	if err != nil {
		return nil, nil, fmt.Errorf("no test cloud (make openstack-up): %w", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	clouds, err := os.ReadFile(env["KUBESEED_OPENSTACK_CLOUDS"])
	return env, clouds, err
}

// customerOnly keeps the customer's entry of clouds.yaml, as the cloud "openstack".
func customerOnly(cloudsYAML []byte) []byte {
	var doc struct {
		Clouds map[string]any `json:"clouds"`
	}
	_ = yaml.Unmarshal(cloudsYAML, &doc)
	out, _ := yaml.Marshal(map[string]any{"clouds": map[string]any{"openstack": doc.Clouds["customer"]}})
	return out
}
