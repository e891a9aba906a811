//go:build envtest

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/cli/certmanager"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/install"
)

// The integration tests run the commands, as the binary does (Run), against a real
// kube-apiserver with kubeseed's CRDs (envtest). No controller runs: a test writes the
// TenantCluster's status, its Deployments, pods and events by hand, as the operator and the
// kubelet would.
var (
	envOnce    sync.Once
	env        *envtest.Environment
	envClient  client.Client
	kubeconfig string // the seed's admin kubeconfig, for --kubeconfig
	envErr     error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		_ = env.Stop()
		_ = os.RemoveAll(filepath.Dir(kubeconfig))
	}
	os.Exit(code)
}

// seed starts the shared envtest on first use.
func seed(t *testing.T) client.Client {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run these tests with `make test`, which builds kube-apiserver and etcd offline")
	}
	envOnce.Do(func() {
		env = &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
		}
		cfg, err := env.Start()
		if err != nil {
			envErr = err
			return
		}
		if envClient, envErr = client.New(cfg, client.Options{Scheme: scheme()}); envErr != nil {
			return
		}
		admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			envErr = err
			return
		}
		raw, err := admin.KubeConfig()
		if err != nil {
			envErr = err
			return
		}
		dir, err := os.MkdirTemp("", "kubeseed-cli-")
		if err != nil {
			envErr = err
			return
		}
		kubeconfig = filepath.Join(dir, "seed.kubeconfig")
		envErr = os.WriteFile(kubeconfig, raw, 0o600)
	})
	if envErr != nil {
		t.Fatalf("envtest: %v", envErr)
	}
	return envClient
}

// kubeseed runs the CLI against the envtest seed and returns its exit code and output.
func kubeseed(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	// The discovery cache goes with the envtest, not into ~/.kube/cache.
	global := []string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(filepath.Dir(kubeconfig), "cache")}
	code := Run(context.Background(), append(global, args...),
		genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func namespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cli-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// createTenant creates a TenantCluster and then writes its status as the operator would.
func createTenant(t *testing.T, c client.Client, ns, name string, status v1alpha1.TenantClusterStatus) *v1alpha1.TenantCluster {
	t.Helper()
	ctx := context.Background()
	tc := &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.TenantClusterSpec{Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort}},
	}
	if err := c.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	if status.Phase != "" {
		setStatus(t, c, tc, status)
	}
	return tc
}

func setStatus(t *testing.T, c client.Client, tc *v1alpha1.TenantCluster, status v1alpha1.TenantClusterStatus) {
	t.Helper()
	for i := range status.Conditions {
		status.Conditions[i].ObservedGeneration = tc.Generation
		if status.Conditions[i].LastTransitionTime.IsZero() {
			status.Conditions[i].LastTransitionTime = metav1.Now()
		}
	}
	status.ObservedGeneration = tc.Generation
	tc.Status = status
	if err := c.Status().Update(context.Background(), tc); err != nil {
		t.Fatal(err)
	}
}

// readyStatus is what the operator writes for a serving tenant.
func readyStatus(name string) v1alpha1.TenantClusterStatus {
	s := v1alpha1.TenantClusterStatus{
		Phase: v1alpha1.TenantClusterReady, Version: "v1.36.3", Endpoint: "https://192.0.2.10:31443",
		KubeconfigSecretRef: &corev1.LocalObjectReference{Name: controlplane.AdminKubeconfigSecret.Name(name)},
	}
	for _, t := range conditionOrder()[:len(readyConditions())+1] {
		s.Conditions = append(s.Conditions, metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: v1alpha1.AvailableReason, Message: "fine"})
	}
	return s
}

func createPool(t *testing.T, c client.Client, ns, name, cluster string, replicas, ready int32) {
	t.Helper()
	p := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.WorkerPoolSpec{
			ClusterName: cluster, Replicas: ptr.To(replicas), Flavor: "m1.large", Image: "ubuntu", NetworkID: "net",
			CredentialsSecretRef: corev1.LocalObjectReference{Name: "creds"},
		},
	}
	if err := c.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	p.Status.ReadyReplicas, p.Status.Replicas = ready, replicas
	if err := c.Status().Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

// ages matches the AGE column, the last one of the default table, which depends on how
// fast the test runs.
var ages = regexp.MustCompile(`(?m)\b\d+s$`)

func normalizeAge(s string) string { return ages.ReplaceAllString(s, "Xs") }

func TestGetCommand(t *testing.T) {
	c := seed(t)
	ns, other := namespace(t, c), namespace(t, c)
	createTenant(t, c, ns, "acme", readyStatus("acme"))
	globex := readyStatus("globex")
	globex.Phase, globex.Version, globex.Endpoint, globex.KubeconfigSecretRef = v1alpha1.TenantClusterProvisioning, "", "", nil
	globex.Conditions[2].Status, globex.Conditions[2].Reason = metav1.ConditionFalse, v1alpha1.ProgressingReason // etcd
	globex.Conditions[6].Status, globex.Conditions[6].Reason = metav1.ConditionFalse, v1alpha1.NotReadyReason    // Ready
	createTenant(t, c, ns, "globex", globex)
	createTenant(t, c, other, "initech", readyStatus("initech"))
	createPool(t, c, ns, "acme-a", "acme", 3, 2)
	createPool(t, c, ns, "acme-b", "acme", 2, 2)
	createPool(t, c, ns, "globex-a", "globex", 1, 0)
	createPool(t, c, other, "acme-a", "acme", 7, 7) // another namespace's "acme": not ours

	t.Run("table", func(t *testing.T) {
		code, out, errOut := kubeseed(t, "get", "-n", ns)
		want := `NAME     PHASE          VERSION   ENDPOINT                   WORKERS   AGE
acme     Ready          v1.36.3   https://192.0.2.10:31443   4/5       Xs
globex   Provisioning   <none>    <none>                     0/1       Xs
`
		if code != ExitOK || normalizeAge(out) != want {
			t.Errorf("exit %d, stderr %q, stdout\n%s\nwant\n%s", code, errOut, out, want)
		}
	})

	t.Run("the same through the type aliases", func(t *testing.T) {
		for _, args := range [][]string{{"get", "tenants"}, {"get", "tc"}, {"get", "tenantclusters.kubeseed.io"}} {
			_, out, _ := kubeseed(t, append(args, "-n", ns)...)
			if !strings.Contains(out, "acme ") || !strings.Contains(out, "globex ") {
				t.Errorf("%v:\n%s", args, out)
			}
		}
	})

	t.Run("wide, every namespace", func(t *testing.T) {
		code, out, _ := kubeseed(t, "get", "-A", "-o", "wide")
		if code != ExitOK {
			t.Fatalf("exit %d", code)
		}
		for _, want := range []string{
			"NAMESPACE ", " NOT READY\n",
			ns + " ", "acme ", "4/5", "NodePort", "EtcdAvailable,Ready\n",
			other + " ", "initech ",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("one as JSON", func(t *testing.T) {
		code, out, _ := kubeseed(t, "get", "acme", "-n", ns, "-o", "json")
		var tc v1alpha1.TenantCluster
		if err := json.Unmarshal([]byte(out), &tc); code != ExitOK || err != nil {
			t.Fatalf("exit %d, %v:\n%s", code, err, out)
		}
		if tc.Kind != "TenantCluster" || tc.Name != "acme" || tc.Status.Endpoint != "https://192.0.2.10:31443" {
			t.Errorf("got %+v", tc)
		}
	})

	t.Run("a missing one", func(t *testing.T) {
		code, out, errOut := kubeseed(t, "get", "acme", "nope", "-n", ns)
		if code != ExitError || !strings.Contains(out, "acme ") ||
			errOut != `Error from server (NotFound): tenantclusters.kubeseed.io "nope" not found`+"\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})

	t.Run("an empty namespace", func(t *testing.T) {
		empty := namespace(t, c)
		code, out, errOut := kubeseed(t, "get", "-n", empty)
		if code != ExitOK || out != "" || errOut != "No resources found in "+empty+" namespace.\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})

	t.Run("usage", func(t *testing.T) {
		code, _, errOut := kubeseed(t, "get", "acme", "-A")
		if code != ExitUsage || !strings.Contains(errOut, "cannot be retrieved by name across all namespaces") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

// TestDescribeBrokenScheduler: a tenant whose new kube-scheduler pod crash-loops after a
// rollout, while the old one still runs.
func TestDescribeBrokenScheduler(t *testing.T) {
	c := seed(t)
	ctx := context.Background()
	ns := namespace(t, c)
	status := readyStatus("acme")
	status.Phase = v1alpha1.TenantClusterDegraded
	status.Conditions[5] = metav1.Condition{Type: v1alpha1.SchedulerAvailableCondition, Status: metav1.ConditionFalse,
		Reason: v1alpha1.ProgressingReason, Message: "Deployment acme-kube-scheduler: 0 of 1 updated replicas available"}
	status.Conditions[6] = metav1.Condition{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
		Reason: v1alpha1.NotReadyReason, Message: "SchedulerAvailable: Deployment acme-kube-scheduler: 0 of 1 updated replicas available"}
	tc := createTenant(t, c, ns, "acme", status)
	// The control plane's workloads, pods and their events live in its own namespace.
	cpns := controlplane.NamespaceOf(tc)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cpns}}); err != nil {
		t.Fatal(err)
	}

	for _, ci := range controlplane.Registry {
		name := ci.Component.ObjectName("acme")
		labels := controlplane.Labels("acme", ci.Component)
		template := corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: string(ci.Component), Image: "registry.k8s.io/" + string(ci.Component)}}},
		}
		var obj client.Object
		if ci.Workload == controlplane.StatefulSet {
			obj = &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: name, Labels: labels},
				Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}
		} else {
			obj = &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: name, Labels: labels},
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}
		}
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: name + "-old", Labels: labels}, Spec: template.Spec}
		if err := c.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: string(ci.Component), Ready: true, State: running,
		}}}
		if err := c.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	broken := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: "acme-kube-scheduler-new", Labels: controlplane.Labels("acme", controlplane.Scheduler)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "kube-scheduler", Image: "registry.k8s.io/kube-scheduler"}}},
	}
	if err := c.Create(ctx, broken); err != nil {
		t.Fatal(err)
	}
	broken.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "kube-scheduler", RestartCount: 4, State: crashLooping,
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 1, Reason: "Error", FinishedAt: metav1.NewTime(time.Now().Add(-15 * time.Second)),
		}},
	}}}
	if err := c.Status().Update(ctx, broken); err != nil {
		t.Fatal(err)
	}
	for _, e := range []corev1.Event{
		{ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: "e1"}, Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container kube-scheduler",
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: cpns, Name: broken.Name}, Count: 4, LastTimestamp: metav1.Now()},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "e2"}, Type: "Warning", Reason: v1alpha1.NotReadyReason, Message: "Ready=False: SchedulerAvailable",
			InvolvedObject: corev1.ObjectReference{Kind: "TenantCluster", Namespace: ns, Name: "acme", UID: tc.UID}, LastTimestamp: metav1.Now()},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "e3"}, Type: "Normal", Reason: "Unrelated", Message: "not about acme",
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "something-else"}, LastTimestamp: metav1.Now()},
	} {
		if err := c.Create(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}

	code, out, errOut := kubeseed(t, "describe", "acme", "-n", ns)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Phase:        Degraded\n",
		"Control plane: namespace " + cpns + "\n",
		"Diagnosis:    kube-scheduler is failing: pod acme-kube-scheduler-new: container kube-scheduler: CrashLoopBackOff",
		"  SchedulerAvailable           False    Progressing          ",
		"kube-scheduler (failing), the likely cause:\n",
		"  Pod acme-kube-scheduler-new (Running, 0/1 ready, 4 restarts):\n",
		"last terminated with exit code 1 (Error) 15s ago",
		// envtest has no kubelet to read logs from: it answers nothing, which is said.
		"    last log lines of kube-scheduler: ",
		"    logs: kubectl --kubeconfig " + kubeconfig + " -n " + cpns + " logs acme-kube-scheduler-new -c kube-scheduler --previous\n",
		"pod/acme-kube-scheduler-new   Back-off restarting failed container kube-scheduler",
		"tenantcluster/acme            Ready=False: SchedulerAvailable",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not about acme") || strings.Contains(out, "etcd (") || strings.Contains(out, "kube-apiserver (") {
		t.Errorf("describe shows what is not about the failure:\n%s", out)
	}

	if code, _, errOut := kubeseed(t, "describe", "nope", "-n", ns); code != ExitError || !strings.Contains(errOut, `"nope" not found`) {
		t.Errorf("describe of a missing tenant: exit %d, %q", code, errOut)
	}
}

func TestKubeconfigCommand(t *testing.T) {
	c := seed(t)
	ctx := context.Background()
	ns := namespace(t, c)
	createTenant(t, c, ns, "acme", readyStatus("acme"))
	raw, err := clientcmd.Write(*secretKubeconfig("acme", "https://192.0.2.10:31443"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-kubeconfig"},
		Data:       map[string][]byte{controlplane.KubeconfigKey: raw},
	}); err != nil {
		t.Fatal(err)
	}
	name := ns + "/acme"

	t.Run("print", func(t *testing.T) {
		code, out, errOut := kubeseed(t, "kubeconfig", "acme", "-n", ns)
		cfg, err := clientcmd.Load([]byte(out))
		if code != ExitOK || err != nil {
			t.Fatalf("exit %d, %v, %s", code, err, errOut)
		}
		if cfg.CurrentContext != name || cfg.Clusters[name].Server != "https://192.0.2.10:31443" || string(cfg.AuthInfos[name].ClientKeyData) != "key of acme" {
			t.Errorf("printed %+v", cfg)
		}
	})

	t.Run("output file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "acme.kubeconfig")
		code, out, errOut := kubeseed(t, "kubeconfig", "tc/acme", "-n", ns, "--output-file", path)
		if code != ExitOK || !strings.Contains(out, "Wrote the admin kubeconfig of TenantCluster "+name+" to "+path) {
			t.Fatalf("exit %d, %q, %q", code, out, errOut)
		}
		checkMode(t, path)
		if cfg, err := clientcmd.LoadFromFile(path); err != nil || cfg.CurrentContext != name {
			t.Errorf("written %+v, %v", cfg, err)
		}
	})

	t.Run("merge keeps the existing entries", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config")
		existing := clientcmdapi.NewConfig()
		existing.Clusters["seed"] = &clientcmdapi.Cluster{Server: "https://seed:6443"}
		existing.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "secret"}
		existing.Contexts["seed"] = &clientcmdapi.Context{Cluster: "seed", AuthInfo: "admin"}
		existing.CurrentContext = "seed"
		if err := clientcmd.WriteToFile(*existing, path); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, run := range []struct {
			args    []string
			current string
		}{
			{[]string{"--merge", "--kubeconfig-file", path}, "seed"},
			// Again, switching to it: the entries are replaced, not duplicated.
			{[]string{"--merge", "--kubeconfig-file", path, "--set-context"}, name},
		} {
			code, out, errOut := kubeseed(t, append([]string{"kubeconfig", "acme", "-n", ns}, run.args...)...)
			if code != ExitOK || !strings.Contains(out, "Merged the admin kubeconfig of TenantCluster "+name+" into "+path) {
				t.Fatalf("exit %d, %q, %q", code, out, errOut)
			}
			cfg, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(keys(cfg.Contexts), ","); got != name+",seed" || cfg.CurrentContext != run.current ||
				cfg.AuthInfos["admin"].Token != "secret" || len(cfg.Clusters) != 2 || len(cfg.AuthInfos) != 2 {
				t.Errorf("after %v: contexts %s, current %q, users %v", run.args, got, cfg.CurrentContext, keys(cfg.AuthInfos))
			}
			checkMode(t, path)
		}
	})

	t.Run("not published yet", func(t *testing.T) {
		createTenant(t, c, ns, "early", v1alpha1.TenantClusterStatus{})
		code, _, errOut := kubeseed(t, "kubeconfig", "early", "-n", ns)
		if code != ExitError || !strings.Contains(errOut, "has no admin kubeconfig yet") || !strings.Contains(errOut, "kubeseed describe early -n "+ns) {
			t.Errorf("exit %d, %q", code, errOut)
		}
	})
}

func TestWaitCommand(t *testing.T) {
	c := seed(t)
	ns := namespace(t, c)
	status := readyStatus("acme")
	status.Phase, status.Version = v1alpha1.TenantClusterProvisioning, ""
	status.Conditions[3] = metav1.Condition{Type: v1alpha1.APIServerAvailableCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.ProgressingReason, Message: "0 of 1 replicas available"}
	status.Conditions[6] = metav1.Condition{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.NotReadyReason, Message: "APIServerAvailable: 0 of 1 replicas available"}
	tc := createTenant(t, c, ns, "acme", status)

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		code, out, errOut := kubeseed(t, "wait", "acme", "-n", ns, "--timeout", "1s")
		if code != ExitError || out != "" || time.Since(start) > 10*time.Second {
			t.Fatalf("exit %d after %s, stdout %q", code, time.Since(start), out)
		}
		for _, want := range []string{
			ns + "/acme Provisioning\n        APIServerAvailable=False Progressing: 0 of 1 replicas available\n",
			"error: timed out after 1s waiting for TenantCluster " + ns + "/acme to be Ready: phase Provisioning; not yet: APIServerAvailable=False (Progressing: 0 of 1 replicas available) (kubeseed describe acme -n " + ns + ")\n",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	})

	t.Run("becomes Ready", func(t *testing.T) {
		type result struct {
			code        int
			out, errOut string
		}
		done := make(chan result)
		go func() {
			code, out, errOut := kubeseed(t, "wait", "tc", "acme", "-n", ns, "--for", "condition=Ready", "--timeout", "1m")
			done <- result{code, out, errOut}
		}()
		time.Sleep(time.Second)
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(tc), tc); err != nil {
			t.Error(err)
		}
		setStatus(t, c, tc, readyStatus("acme"))
		r := <-done
		if r.code != ExitOK || r.out != "tenantcluster.kubeseed.io/acme condition met\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
		}
		if !strings.Contains(r.errOut, "/acme Provisioning\n") || !strings.Contains(r.errOut, "/acme Ready\n") {
			t.Errorf("progress lines:\n%s", r.errOut)
		}
	})

	t.Run("a missing one", func(t *testing.T) {
		code, _, errOut := kubeseed(t, "wait", "nope", "-n", ns, "--timeout", "5s")
		if code != ExitError || !strings.Contains(errOut, `"nope" not found`) {
			t.Errorf("exit %d, %q", code, errOut)
		}
		if code, _, _ := kubeseed(t, "wait", "nope", "-n", ns, "--for", "delete", "--timeout", "5s"); code != ExitOK {
			t.Errorf("waiting for a missing tenant to be deleted: exit %d", code)
		}
	})

	t.Run("usage", func(t *testing.T) {
		if code, _, errOut := kubeseed(t, "wait", "acme", "--for", "condition=Ready=maybe"); code != ExitUsage {
			t.Errorf("exit %d, %q", code, errOut)
		}
	})
}

// playDeploymentController stands in for kube-controller-manager in the given namespaces
// until the test ends: each Deployment gets a ReplicaSet of its current template (Helm's
// wait looks for it) and every replica is reported ready. cert-manager's webhook
// configurations are removed: nothing serves the webhook in envtest.
func playDeploymentController(t *testing.T, c client.Client, namespaces ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		_ = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			for _, ns := range namespaces {
				deps := &appsv1.DeploymentList{}
				if err := c.List(ctx, deps, client.InNamespace(ns)); err != nil {
					continue
				}
				for i := range deps.Items {
					rollOut(ctx, c, &deps.Items[i])
				}
			}
			_ = c.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "cert-manager-webhook"}})
			_ = c.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "cert-manager-webhook"}})
			return false, nil
		})
	}()
}

func rollOut(ctx context.Context, c client.Client, d *appsv1.Deployment) {
	raw, _ := json.Marshal(d.Spec.Template)
	h := fnv.New32a()
	_, _ = h.Write(raw)
	hash := fmt.Sprintf("%08x", h.Sum32())
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name + "-" + hash}}
	if err := c.Get(ctx, client.ObjectKeyFromObject(rs), rs); apierrors.IsNotFound(err) {
		template := d.Spec.Template.DeepCopy()
		template.Labels = maps.Clone(template.Labels)
		template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		selector := d.Spec.Selector.DeepCopy()
		selector.MatchLabels = maps.Clone(selector.MatchLabels)
		selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		rs.Labels = template.Labels
		rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}
		rs.Spec = appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Selector: selector, Template: *template}
		if err := c.Create(ctx, rs); err != nil {
			return
		}
	} else if err != nil {
		return
	}
	if rs.Status.ReadyReplicas != replicas {
		rs.Status = appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas, FullyLabeledReplicas: replicas, ObservedGeneration: rs.Generation}
		_ = c.Status().Update(ctx, rs)
	}
	if d.Status.ObservedGeneration != d.Generation || d.Status.AvailableReplicas != replicas {
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas}
		_ = c.Status().Update(ctx, d)
	}
}

// TestSeedBootstrap installs cert-manager from the embedded chart and the operator from its
// chart into the envtest seed, then runs again, unchanged, then changes a value.
func TestSeedBootstrap(t *testing.T) {
	c := seed(t)
	ctx := context.Background()
	playDeploymentController(t, c, "cert-manager", install.DefaultNamespace)

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"--skip-cert-manager", "--cert-manager-version", "v1.21.2"},
			{"--cert-manager-manifest", "cm.yaml", "--cert-manager-set", "replicaCount=2"},
			{"--image", "kubeseed/manager"},
			{"--set", "novalue"},
			{"extra"},
		} {
			if code, _, errOut := kubeseed(t, append([]string{"seed", "bootstrap"}, args...)...); code != ExitUsage {
				t.Errorf("%v: exit %d, %q", args, code, errOut)
			}
		}
	})

	managerGeneration := func() int64 {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: install.DefaultNamespace, Name: "kubeseed-manager"}, d); err != nil {
			t.Fatal(err)
		}
		return d.Generation
	}
	var generation int64
	for _, run := range []struct {
		name string
		args []string
		want []string
	}{{
		name: "first run installs both",
		want: []string{
			"cert-manager " + certmanager.EmbeddedVersion + ": installed (Deployment cert-manager/cert-manager)\n",
			"kubeseed operator (chart kubeseed-0.1.0): installed (release kubeseed in namespace kubeseed-system, revision 1)\n",
		},
	}, {
		name: "second run changes nothing",
		want: []string{
			"cert-manager " + certmanager.EmbeddedVersion + ": unchanged (Deployment cert-manager/cert-manager is available, installed by kubeseed)\n",
			"kubeseed operator (chart kubeseed-0.1.0): unchanged (release kubeseed in namespace kubeseed-system, revision 2)\n",
		},
	}, {
		name: "a new value upgrades the operator",
		args: []string{"--set", "manager.logLevel=debug"},
		want: []string{"kubeseed operator (chart kubeseed-0.1.0): upgraded from revision 2 (release kubeseed in namespace kubeseed-system, revision 3)\n"},
	}} {
		t.Run(run.name, func(t *testing.T) {
			code, out, errOut := kubeseed(t, append([]string{"seed", "bootstrap", "--timeout", "1m"}, run.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
			}
			t.Logf("stdout:\n%sstderr:\n%s", out, errOut)
			for _, want := range run.want {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			switch g := managerGeneration(); {
			case generation == 0:
			case len(run.args) == 0 && g != generation:
				t.Errorf("an unchanged run changed the manager Deployment: generation %d → %d", generation, g)
			case len(run.args) > 0 && g == generation:
				t.Errorf("a new value did not reach the manager Deployment")
			}
			generation = managerGeneration()
		})
	}

	t.Run("a cert-manager of another version is refused", func(t *testing.T) {
		code, _, errOut := kubeseed(t, "seed", "bootstrap", "--cert-manager-version", "v1.19.0", "--timeout", "10s")
		if code != ExitError || !strings.Contains(errOut, "does not downgrade cert-manager") {
			t.Errorf("exit %d, %q", code, errOut)
		}
	})
}
