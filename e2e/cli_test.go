//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

// The CLI tests run the kubeseed binary, built from cmd/kubeseed, against the local seed, as
// an admin and a tenant's owner would: bootstrap, get, wait, kubeconfig, describe.

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// kubeseedCLI builds cmd/kubeseed once per run.
func kubeseedCLI(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kubeseed-cli-e2e-")
		if err != nil {
			cliErr = err
			return
		}
		cliPath = filepath.Join(dir, "kubeseed")
		cmd := exec.Command("go", "build", "-o", cliPath, "github.com/kubeseed/kubeseed/cmd/kubeseed")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			cliErr = errors.New("go build ./cmd/kubeseed: " + err.Error() + "\n" + string(out))
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliPath
}

// cli runs kubeseed against the seed and returns its exit code, stdout and stderr.
func cli(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, kubeseedCLI(t), append([]string{"--kubeconfig", provider.Kubeconfig()}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errOut.String()
	default:
		t.Fatalf("kubeseed %v: %v", args, err)
		return 0, "", ""
	}
}

// mustCLI runs kubeseed and fails the test unless it exits 0.
func mustCLI(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, ctx, args...)
	if code != 0 {
		t.Fatalf("kubeseed %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// TestCLIBootstrapTwice runs `kubeseed seed bootstrap` twice on the seed TestMain installed
// the operator into: cert-manager (the seed's own) and the operator are found up to date,
// nothing is replaced. The manager image's digest goes in as TestMain's installOperator
// passes it, so the values are the same.
func TestCLIBootstrapTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stamp, err := os.ReadFile(managerImage() + ".sha256")
	if err != nil {
		t.Fatalf("read the manager image's digest (make manager-image): %v", err)
	}
	imageID := strings.TrimPrefix(strings.SplitN(string(stamp), "\n", 2)[0], "sha256:")
	before := managerPods(t, ctx)
	for i := 1; i <= 2; i++ {
		out := mustCLI(t, ctx, "seed", "bootstrap", "--timeout", "5m", "--set", `podAnnotations.kubeseed\.io/image-id=`+imageID,
			"--set", "manager.workerIgnorePreflightErrors={"+strings.Join(workerPreflightIgnores, ",")+"}",
			"--set", "manager.allowedAuthURLs={"+strings.Join(allowedAuthURLs(), ",")+"}",
			"--set", "controlPlane.spread=preferred", "--set", "magnum.enabled=true",
			// installOperator's autoscaler timings, or the reinstall would change them.
			"--set", "controlPlane.autoscaler.scanInterval=2s", "--set", "controlPlane.autoscaler.scaleDownUnneededTime="+autoscalerUnneededTime.String(),
			"--set", "controlPlane.autoscaler.scaleDownDelayAfterAdd=20s")
		t.Logf("run %d:\n%s", i, out)
		for _, want := range []string{
			"cert-manager " + seed.CertManagerVersion + ": unchanged (Deployment cert-manager/cert-manager is available, not installed by kubeseed)\n",
			"kubeseed operator (chart kubeseed-", "): unchanged (release kubeseed in namespace kubeseed-system, revision ",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("run %d: output lacks %q", i, want)
			}
		}
	}
	after := managerPods(t, ctx)
	if len(before) == 0 || len(after) != len(before) {
		t.Fatalf("manager pods before %v, after %v", before, after)
	}
	for uid := range before {
		if !after[uid] {
			t.Errorf("manager pod %s was replaced by a bootstrap that changed nothing", uid)
		}
	}
}

// TestCLITenantLifecycle follows one tenant with the CLI. It is created with a kube-scheduler
// broken on purpose (an unknown feature gate through spec extraArgs, which admission lets
// pass since feature-gates is an allowed flag, so the operator itself renders it, and no
// older scheduler pod serves meanwhile): describe must name kube-scheduler and
// give the command for its logs, and wait must time out naming SchedulerAvailable. Once
// repaired, wait sees it Ready, get shows it, and its admin kubeconfig, written to a file and
// merged into another, reaches /readyz.
func TestCLITenantLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	ns := newNamespace(t)
	tc := smallTenant(ns, "cli")
	tc.Spec.ControlPlane.Scheduler.ExtraArgs = map[string]string{"feature-gates": "KubeseedE2ENoSuchGate=true"}
	if err := kube.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			_, out, _ := cli(t, context.Background(), "describe", "cli", "-n", ns)
			t.Logf("kubeseed describe cli -n %s:\n%s", ns, out)
			dumpManagerLogs(t)
		}
		_ = kube.Delete(context.Background(), tc)
		_, _, _ = cli(t, context.Background(), "wait", "cli", "-n", ns, "--for", "delete", "--timeout", "3m")
	}()

	t.Run("describe names the broken kube-scheduler and its logs command", func(t *testing.T) {
		var out string
		err := wait.PollUntilContextTimeout(ctx, 3*time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, out, _ = cli(t, ctx, "describe", "cli", "-n", ns)
			if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
				return false, nil
			}
			// The kube-apiserver serves, so the scheduler has been given its replica.
			return strings.Contains(out, "Diagnosis:    kube-scheduler is failing: ") &&
				meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.APIServerAvailableCondition) &&
				meta.IsStatusConditionFalse(tc.Status.Conditions, v1alpha1.SchedulerAvailableCondition), nil
		})
		t.Logf("kubeseed describe cli -n %s:\n%s", ns, out)
		if err != nil {
			t.Fatalf("describe never named kube-scheduler as failing with SchedulerAvailable=False")
		}
		for _, want := range []string{
			"kube-scheduler (failing), the likely cause:\n",
			"    last log lines of kube-scheduler",
			"    logs: kubectl --kubeconfig " + provider.Kubeconfig() + " -n " + controlplane.NamespaceOf(tc) + " logs cli-kube-scheduler-",
			" -c kube-scheduler",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("describe lacks %q", want)
			}
		}
		if wide := mustCLI(t, ctx, "get", "cli", "-n", ns, "-o", "wide"); !strings.Contains(wide, "SchedulerAvailable") {
			t.Errorf("get -o wide does not list SchedulerAvailable as not Ready:\n%s", wide)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("wait times out naming what is not Ready", func(t *testing.T) {
		code, out, errOut := cli(t, ctx, "wait", "cli", "-n", ns, "--timeout", "5s")
		if code != 1 || out != "" || !strings.Contains(errOut, "error: timed out after 5s waiting for TenantCluster "+ns+"/cli to be Ready: phase ") ||
			!strings.Contains(errOut, "SchedulerAvailable=False") {
			t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
		}
	})

	t.Run("repaired, wait sees it Ready", func(t *testing.T) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(tc.DeepCopy())
		tc.Spec.ControlPlane.Scheduler.ExtraArgs = nil
		if err := kube.Patch(ctx, tc, patch); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := cli(t, ctx, "wait", "cli", "-n", ns, "--timeout", "5m")
		t.Logf("progress:\n%s", errOut)
		if code != 0 || out != "tenantcluster.kubeseed.io/cli condition met\n" {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
		if !strings.Contains(errOut, ns+"/cli Ready\n") {
			t.Errorf("the progress lines do not end Ready:\n%s", errOut)
		}
		if out := mustCLI(t, ctx, "describe", "cli", "-n", ns); !strings.Contains(out, "Diagnosis:    Ready: the control plane serves.") {
			t.Errorf("describe after the repair:\n%s", out)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("get shows it Ready", func(t *testing.T) {
		out := mustCLI(t, ctx, "get", "-n", ns)
		t.Logf("\n%s", out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME PHASE VERSION ENDPOINT WORKERS AGE" {
			t.Fatalf("table:\n%s", out)
		}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			t.Fatal(err)
		}
		row := strings.Fields(lines[1])
		if len(row) != 6 || row[0] != "cli" || row[1] != "Ready" || row[2] != tc.Spec.Version || row[3] != tc.Status.Endpoint || row[4] != "0/0" {
			t.Errorf("row %q; status %+v", row, tc.Status)
		}
		var got v1alpha1.TenantCluster
		if err := json.Unmarshal([]byte(mustCLI(t, ctx, "get", "tc/cli", "-n", ns, "-o", "json")), &got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase != v1alpha1.TenantClusterReady {
			t.Errorf("-o json: phase %q", got.Status.Phase)
		}
	})

	t.Run("kubeconfig reaches /readyz", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "cli.kubeconfig")
		mustCLI(t, ctx, "kubeconfig", "cli", "-n", ns, "--output-file", file)
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", file, fi, err)
		}
		readyz(t, ctx, file, "")

		// Merged beside the seed's own entries, then used by its context name.
		merged := filepath.Join(dir, "config")
		seedCfg, err := os.ReadFile(provider.Kubeconfig())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(merged, seedCfg, 0o600); err != nil {
			t.Fatal(err)
		}
		before, err := clientcmd.LoadFromFile(merged)
		if err != nil {
			t.Fatal(err)
		}
		mustCLI(t, ctx, "kubeconfig", "cli", "-n", ns, "--merge", "--kubeconfig-file", merged, "--set-context")
		after, err := clientcmd.LoadFromFile(merged)
		if err != nil {
			t.Fatal(err)
		}
		if after.CurrentContext != ns+"/cli" {
			t.Errorf("current context %q", after.CurrentContext)
		}
		for name := range before.Contexts {
			if after.Contexts[name] == nil {
				t.Errorf("merging lost context %q", name)
			}
		}
		if len(after.Contexts) != len(before.Contexts)+1 {
			t.Errorf("contexts before %d, after %d", len(before.Contexts), len(after.Contexts))
		}
		readyz(t, ctx, merged, ns+"/cli")
	})
}

// readyz asks the tenant's /readyz with the kubeconfig file (and context, when given).
func readyz(t *testing.T, ctx context.Context, file, contextName string) {
	t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: file},
		&clientcmd.ConfigOverrides{CurrentContext: contextName},
	).ClientConfig()
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var (
		body   []byte
		getErr error
	)
	// The first request through a new NodePort may race kube-proxy's sync.
	_ = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		body, getErr = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return getErr == nil, nil
	})
	if getErr != nil || string(body) != "ok" {
		t.Fatalf("GET /readyz through %s (context %q): %q, %v", file, contextName, body, getErr)
	}
	// And the admin user may do what an admin does.
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("the admin kubeconfig cannot read namespaces: %v", err)
	}
}
