//go:build envtest

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

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
		// 15s, or 16s when the stored, whole-second time and a slow describe round it up.
		"last terminated with exit code 1 (Error) 1",
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
