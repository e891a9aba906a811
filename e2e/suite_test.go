//go:build e2e

// Package e2e holds the end-to-end tests: they run against a real seed cluster with real
// pods (the local seed of pkg/seed), nothing mocked. Run them with `make test-e2e`.
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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/pkg/install"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

var (
	provider   seed.Provider
	restConfig *rest.Config
	clients    *kubernetes.Clientset
	// kube knows kubeseed's and cert-manager's types.
	kube client.Client
)

// The longest tests run beside one another, in two lanes, after every other test: the
// data-plane harness's WorkerPool test in one, the etcd drills one after the other in the
// other. The seed has two cores; a third test at once would slow each past its budgets, and
// tests that start a harness of their own (Magnum's) or reinstall the operator stay out of
// the lanes. make test-e2e passes -parallel 3, so that a test waiting for its lane holds no
// slot the other lane needs.
var (
	laneWorkers sync.Mutex
	laneEtcd    sync.Mutex
)

// inLane makes t a parallel test that runs when lane is free. The test's reported
// duration includes its wait for the lane, which it logs.
func inLane(t *testing.T, lane *sync.Mutex) {
	t.Helper()
	t.Parallel()
	start := time.Now()
	lane.Lock()
	t.Cleanup(lane.Unlock) // registered first, so it runs after every other cleanup
	t.Logf("waited %.1fs for its lane", time.Since(start).Seconds())
}

// managerImage is the docker archive `make manager-image` writes.
func managerImage() string {
	return filepath.Join(seed.ImagesDir(seed.CacheDir()), "kubeseed-manager.tar")
}

// installOperator installs (or upgrades) the operator from charts/kubeseed, as
// `kubeseed seed bootstrap` does.
func installOperator(ctx context.Context, logf func(string, ...any)) error {
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = ptr.To(provider.Kubeconfig())
	// The tag stays "dev": the image's digest as a pod annotation rolls the manager when a
	// rebuilt image was loaded into a seed that was already up.
	stamp, err := os.ReadFile(managerImage() + ".sha256")
	if err != nil {
		return fmt.Errorf("read the manager image's digest (make manager-image): %w", err)
	}
	imageID := strings.TrimPrefix(strings.SplitN(string(stamp), "\n", 2)[0], "sha256:")
	values := map[string]any{
		"podAnnotations": map[string]any{"kubeseed.io/image-id": imageID},
		// The local seed has one node; the autoscaler acts in seconds, not minutes
		// (autoscaler_test.go).
		"controlPlane": map[string]any{"spread": "preferred", "autoscaler": map[string]any{
			"scanInterval": "2s", "scaleDownUnneededTime": autoscalerUnneededTime.String(), "scaleDownDelayAfterAdd": "20s"}},
		// The test cloud's Magnum drives the seed as kubeseed-magnum (TestMagnumDrivesKubeseed).
		"magnum": map[string]any{"enabled": true},
		"manager": map[string]any{
			"workerIgnorePreflightErrors": anySlice(workerPreflightIgnores),
			"allowedAuthURLs":             anySlice(allowedAuthURLs()),
		},
	}
	_, err = install.Operator(ctx, flags, install.Options{Logf: logf, Values: values})
	return err
}

// allowedAuthURLs is the operator's Keystone allow-list in the e2e: the test cloud's, and
// one more so that it is never empty (which would allow any).
func allowedAuthURLs() []string {
	out := []string{redTeamAuthURL}
	path := os.Getenv("KUBESEED_OPENSTACK_CLOUDS")
	if path == "" {
		return out
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	var doc struct {
		Clouds map[string]struct {
			Auth struct {
				AuthURL string `json:"auth_url"`
			} `json:"auth"`
		} `json:"clouds"`
	}
	if yaml.Unmarshal(raw, &doc) == nil && doc.Clouds["customer"].Auth.AuthURL != "" {
		out = append(out, doc.Clouds["customer"].Auth.AuthURL)
	}
	return out
}

// dumpManagerLogs prints the manager's recent log lines, to tell why a tenant is stuck.
func dumpManagerLogs(t *testing.T) {
	t.Helper()
	pods, err := clients.CoreV1().Pods(install.DefaultNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Logf("list manager pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		raw, err := clients.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: ptr.To[int64](60)}).DoRaw(context.Background())
		t.Logf("manager pod %s (%s) log tail (%v):\n%s", p.Name, p.Status.Phase, err, raw)
	}
}

// dumpPodsOf prints the seed pods of ns that are not ready, their containers' states and
// the end of their logs (the previous run's, for a container that restarted).
func dumpPodsOf(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	pods, err := clients.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("list pods of %s: %v", ns, err)
		return
	}
	for _, p := range pods.Items {
		for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
			if cs.Ready {
				continue
			}
			t.Logf("pod %s/%s container %s restarts=%d state %+v last %+v", ns, p.Name, cs.Name, cs.RestartCount, cs.State, cs.LastTerminationState)
			raw, err := clients.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: cs.Name, Previous: cs.RestartCount > 0, TailLines: ptr.To[int64](15)}).DoRaw(ctx)
			t.Logf("its log tail (%v):\n%s", err, raw)
		}
	}
}

// dumpEventsOf prints the events about tc, oldest first: the manager's account of what it
// did (an etcd member removed, a learner added) and when.
func dumpEventsOf(t *testing.T, tc client.Object) {
	t.Helper()
	events, err := clients.CoreV1().Events(tc.GetNamespace()).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(tc.GetUID())})
	if err != nil {
		t.Logf("list events of %s/%s: %v", tc.GetNamespace(), tc.GetName(), err)
		return
	}
	// Events of the events.k8s.io API carry eventTime, older ones lastTimestamp.
	at := func(e corev1.Event) time.Time {
		if !e.EventTime.IsZero() {
			return e.EventTime.Time
		}
		return e.LastTimestamp.Time
	}
	slices.SortFunc(events.Items, func(a, b corev1.Event) int { return at(a).Compare(at(b)) })
	for _, e := range events.Items {
		t.Logf("event %s %s %s: %s", at(e).UTC().Format(time.TimeOnly), e.Type, e.Reason, e.Message)
	}
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	cache := seed.CacheDir()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	provider = seed.New(cache, logf)
	// make test-e2e brings the seed up first; Up again checks it is whole (and that a second
	// Up is harmless).
	if err := provider.Up(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: seed up: %v\n", err)
		return 1
	}
	var err error
	restConfig, err = clientcmd.BuildConfigFromFlags("", provider.Kubeconfig())
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: seed kubeconfig: %v\n", err)
		return 1
	}
	clients, err = kubernetes.NewForConfig(restConfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: seed client: %v\n", err)
		return 1
	}
	if kube, err = client.New(restConfig, client.Options{Scheme: app.Scheme()}); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: seed client: %v\n", err)
		return 1
	}
	tunnelImage := filepath.Join(seed.ImagesDir(seed.CacheDir()), "kubeseed-tunnel.tar")
	autoscalerImage := filepath.Join(seed.ImagesDir(seed.CacheDir()), "kubeseed-autoscaler.tar")
	if err := provider.LoadImages(context.Background(), managerImage(), tunnelImage, autoscalerImage); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: load the manager, tunnel and autoscaler images (make manager-image tunnel-image autoscaler-image): %v\n", err)
		return 1
	}
	if err := installOperator(context.Background(), logf); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: install the operator: %v\n", err)
		return 1
	}
	return m.Run()
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
