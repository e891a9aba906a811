// Package benchutil holds what the benchmarks under hack/bench share: a client for the local
// seed, the single-replica tenant they measure, /readyz through a tenant's published admin
// kubeconfig, and the cgroup v1 figures (memory, CPU time) of the seed's pods. The cgroup
// readers need the local seed: this machine is the seed's only node.
package benchutil

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

// SeedClient is a client of the local seed (its admin kubeconfig under seed.CacheDir()) that
// knows kubeseed's types.
func SeedClient() (client.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", seed.NewLocal(seed.CacheDir(), nil).Kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("seed kubeconfig: %w", err)
	}
	// The apiserver's warnings (an unknown field: a CRD older than this tree) go to stderr as
	// kubectl shows them, not through controller-runtime's logger, which a bench never sets.
	cfg.WarningHandler = rest.NewWarningWriter(os.Stderr, rest.WarningWriterOptions{Deduplicate: true})
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("seed client: %w", err)
	}
	return c, nil
}

// Tenant is a TenantCluster with one replica of every component, published on a NodePort of
// the seed (no cloud needed). An empty size leaves the seed's default.
func Tenant(ns, name string, size v1alpha1.ControlPlaneSize) *v1alpha1.TenantCluster {
	return &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.TenantClusterSpec{
			Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort},
			ControlPlane: v1alpha1.ControlPlaneSpec{
				Size:              size,
				APIServer:         v1alpha1.APIServerSpec{ComponentSpec: v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1)}},
				ControllerManager: v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1)},
				Scheduler:         v1alpha1.ComponentSpec{Replicas: ptr.To[int32](1)},
				Etcd:              v1alpha1.EtcdSpec{Replicas: ptr.To[int32](1)},
			},
		},
	}
}

// Readyz is nil when the tenant's /readyz answers 200 with the admin kubeconfig, otherwise
// why not.
func Readyz(kubeconfig []byte) error {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("parse kubeconfig: %w", err)
	}
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig TLS: %w", err)
	}
	// No keep-alive: every poll dials the endpoint afresh, as a new kubectl would.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig.Clone(), DisableKeepAlives: true}}
	resp, err := hc.Get(cfg.Host + "/readyz")
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/readyz: %s", cfg.Host, resp.Status)
	}
	return nil
}

// NotTrue lists the conditions that are not True as "Type: message", joined by "; ".
func NotTrue(conds []metav1.Condition) string {
	var why []string
	for _, c := range conds {
		if c.Status != metav1.ConditionTrue {
			why = append(why, c.Type+": "+c.Message)
		}
	}
	return strings.Join(why, "; ")
}

// PodsRSS sums total_rss of the memory cgroups of the namespace's pods (local seed, cgroup
// v1): what the control plane's processes hold, without the page cache.
func PodsRSS(ctx context.Context, c client.Client, ns string) (int64, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(ns)); err != nil {
		return 0, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	var total int64
	for _, p := range pods.Items {
		for _, f := range podCgroupFiles("memory", p.UID, "memory.stat") {
			raw, err := os.ReadFile(f)
			if err != nil {
				continue // the pod went away meanwhile
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

// PodCPU is the CPU time the pod's processes have used so far (cpuacct.usage, cgroup v1);
// false when the pod has no cgroup on this machine (not started, or gone).
func PodCPU(uid types.UID) (time.Duration, bool) {
	for _, f := range podCgroupFiles("cpuacct", uid, "cpuacct.usage") {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if ns, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64); err == nil {
			return time.Duration(ns), true
		}
	}
	return 0, false
}

// podCgroupFiles finds a file of a pod's cgroup in one v1 hierarchy: the kubelet puts
// Guaranteed pods at kubepods/pod<UID>, the others one level down (burstable, besteffort).
// /sys/fs/cgroup/cpuacct is the hierarchy itself here and a link to cpu,cpuacct where the
// two controllers share one, so either layout is found.
func podCgroupFiles(hierarchy string, uid types.UID, file string) []string {
	root := filepath.Join("/sys/fs/cgroup", hierarchy)
	direct, _ := filepath.Glob(filepath.Join(root, "kubepods*", "pod"+string(uid), file))
	nested, _ := filepath.Glob(filepath.Join(root, "kubepods*", "*", "pod"+string(uid), file))
	return append(direct, nested...)
}
