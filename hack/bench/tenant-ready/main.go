// Command tenant-ready measures how long a TenantCluster takes from apply to a working admin
// kubeconfig (its /readyz answers through the published endpoint), over several runs, and
// the memory each tenant control plane holds once Ready. It needs the local seed with the
// operator installed (`make demo` or `make seed-up` + `kubeseed seed bootstrap`).
//
//	go run ./hack/bench/tenant-ready -runs 5 -mode single
//	go run ./hack/bench/tenant-ready -runs 5 -mode ha
//
// A benchmark, not a test: it prints figures and fails only when a tenant never works.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

func main() {
	runs := flag.Int("runs", 5, "number of TenantClusters applied one after another")
	mode := flag.String("mode", "single", "single: one replica of everything at the default resources; ha: 3 etcd members and 2 apiservers at small resources")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up on a tenant after this long")
	flag.Parse()
	if *mode != "single" && *mode != "ha" {
		fmt.Fprintln(os.Stderr, "tenant-ready: -mode must be single or ha")
		os.Exit(2)
	}
	if err := bench(*runs, *mode, *timeout); err != nil {
		fmt.Fprintf(os.Stderr, "tenant-ready: %v\n", err)
		os.Exit(1)
	}
}

func bench(runs int, mode string, timeout time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", seed.NewLocal(seed.CacheDir(), nil).Kubeconfig())
	if err != nil {
		return fmt.Errorf("seed kubeconfig: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		return err
	}
	// Interrupted, the tenant under test is still deleted (once's deferred cleanup).
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var took []time.Duration
	for i := 1; i <= runs; i++ {
		d, rss, err := once(ctx, c, fmt.Sprintf("bench-%s-%d", mode, i), mode, timeout)
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		took = append(took, d)
		fmt.Printf("run %d (%s): working kubeconfig after %.1f s; control plane RSS %d MiB\n", i, mode, d.Seconds(), rss>>20)
	}
	slices.Sort(took)
	fmt.Printf("%s, %d runs: p50 %.1f s, p90 %.1f s, min %.1f s, max %.1f s\n", mode, runs,
		percentile(took, 50).Seconds(), percentile(took, 90).Seconds(), took[0].Seconds(), took[len(took)-1].Seconds())
	return nil
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank-1, 0)]
}

// once applies one TenantCluster in a fresh namespace, waits for its kubeconfig to work,
// measures its pods' memory and deletes it again.
func once(ctx context.Context, c client.Client, ns, mode string, timeout time.Duration) (time.Duration, int64, error) {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return 0, 0, err
	}
	defer func() {
		ctx := context.WithoutCancel(ctx)
		_ = c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		_ = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			err := c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})
			return client.IgnoreNotFound(err) == nil && err != nil, nil
		})
	}()
	tc := tenant(ns, mode)
	start := time.Now()
	if err := c.Create(ctx, tc); err != nil {
		return 0, 0, fmt.Errorf("create TenantCluster: %w", err)
	}
	var kubeconfig []byte
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if kubeconfig == nil {
			s := &corev1.Secret{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: controlplane.AdminKubeconfigSecret.Name(tc.Name)}, s); err != nil {
				return false, nil
			}
			kubeconfig = s.Data["value"]
		}
		return readyz(kubeconfig), nil
	})
	took := time.Since(start)
	if err != nil {
		_ = c.Get(ctx, client.ObjectKeyFromObject(tc), tc)
		var why []string
		for _, cond := range tc.Status.Conditions {
			if cond.Status != metav1.ConditionTrue {
				why = append(why, cond.Type+": "+cond.Message)
			}
		}
		return 0, 0, fmt.Errorf("%s/%s has no working kubeconfig after %s: %s", ns, tc.Name, timeout, strings.Join(why, "; "))
	}
	// Ready, with every component available, before measuring memory.
	_ = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition), nil
	})
	rss, err := podsRSS(ctx, c, controlplane.NamespaceName(ns, "bench"))
	return took, rss, err
}

func tenant(ns, mode string) *v1alpha1.TenantCluster {
	tc := &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench"},
		Spec: v1alpha1.TenantClusterSpec{
			Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort},
			ControlPlane: v1alpha1.ControlPlaneSpec{
				APIServer:         v1alpha1.APIServerSpec{ComponentSpec: v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1)}},
				ControllerManager: v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1)},
				Scheduler:         v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1)},
				Etcd:              v1alpha1.EtcdSpec{Replicas: ptr.To[int32](1)},
			},
		},
	}
	if mode != "ha" {
		return tc // the default requests and limits, as config/samples/tenantcluster-small.yaml
	}
	// HA: 3 etcd members and 2 apiservers. Their default requests (about 2 CPUs) do not fit
	// a 2-core seed, so every component gets a small Guaranteed share; their CPU limits
	// slow each start down accordingly.
	res := func(cpu, mem string) *corev1.ResourceRequirements {
		l := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
		return &corev1.ResourceRequirements{Requests: l, Limits: l}
	}
	cp := &tc.Spec.ControlPlane
	cp.APIServer.Replicas, cp.APIServer.Resources = ptr.To[int32](2), res("200m", "1Gi")
	cp.ControllerManager.Resources, cp.Scheduler.Resources = res("100m", "256Mi"), res("50m", "128Mi")
	cp.Etcd.Replicas, cp.Etcd.Resources = ptr.To[int32](3), res("100m", "512Mi")
	return tc
}

// readyz reports whether the tenant's /readyz answers 200 with the admin kubeconfig.
func readyz(kubeconfig []byte) bool {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return false
	}
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return false
	}
	// No keep-alive: every poll dials the endpoint afresh, as a new kubectl would.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig.Clone(), DisableKeepAlives: true}}
	resp, err := hc.Get(cfg.Host + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// podsRSS sums total_rss of the memory cgroups of the namespace's pods (local seed, cgroup
// v1): what the control plane's processes hold, without the page cache.
func podsRSS(ctx context.Context, c client.Client, ns string) (int64, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	var total int64
	for _, p := range pods.Items {
		matches, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/memory/kubepods*/pod%s/memory.stat", p.UID))
		more, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/memory/kubepods*/*/pod%s/memory.stat", p.UID))
		for _, m := range append(matches, more...) {
			raw, err := os.ReadFile(m)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(raw), "\n") {
				if v, ok := strings.CutPrefix(line, "total_rss "); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					total += n
				}
			}
		}
	}
	return total, nil
}
