//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// redTeamAuthURL is on the operator's allow-list in every e2e install, beside the test
// cloud's Keystone, so that the list is never empty (empty allows any URL).
const redTeamAuthURL = "https://keystone.e2e.invalid:5000/v3"

// trap is a TCP listener on the seed node's address, reachable from the manager's pod,
// that counts who connects and never answers.
type trap struct {
	l     net.Listener
	conns atomic.Int64
	mu    sync.Mutex
	held  []net.Conn
}

func newTrap(t *testing.T, host string) *trap {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &trap{l: l}
	t.Cleanup(func() {
		_ = l.Close()
		tr.mu.Lock()
		defer tr.mu.Unlock()
		for _, c := range tr.held {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tr.conns.Add(1)
			tr.mu.Lock()
			tr.held = append(tr.held, c) // held open, never answered
			tr.mu.Unlock()
		}
	}()
	return tr
}

func (tr *trap) addr() string { return tr.l.Addr().String() }

// redTeam acts as a customer of a's namespace holding only the kubeseed-customer role
// (impersonated, as `kubectl --as` does), against tenants a and b that are Ready.
// cfgA is a's admin kubeconfig as first published.
func redTeam(t *testing.T, ctx context.Context, a, b *v1alpha1.TenantCluster, cfgA *rest.Config) {
	const mallory = "mallory@customer-a"
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: "kubeseed-customer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kubeseed-customer"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: mallory}},
	}
	if err := kube.Create(ctx, rb); err != nil {
		t.Fatalf("bind kubeseed-customer: %v", err)
	}
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: mallory, Groups: []string{"system:authenticated"}}
	as, err := client.New(cfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	host := seedNodeIP(t, ctx)

	t.Run("a customer cannot write status or reach any control-plane namespace or another customer", func(t *testing.T) {
		patch := client.MergeFrom(a.DeepCopy())
		forged := a.DeepCopy()
		forged.Status.Endpoint = "https://203.0.113.66:6443"
		forbidden(t, as.Status().Patch(ctx, forged, patch), "patch its TenantCluster's status")
		for _, ns := range []string{controlplane.NamespaceOf(a), controlplane.NamespaceOf(b)} {
			forbidden(t, as.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)), "list Secrets in "+ns)
			forbidden(t, as.List(ctx, &corev1.PodList{}, client.InNamespace(ns)), "list pods in "+ns)
			forbidden(t, as.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: controlplane.APIServer.ObjectName(a.Name)}}), "delete a Service in "+ns)
		}
		forbidden(t, as.Get(ctx, client.ObjectKeyFromObject(b), &v1alpha1.TenantCluster{}), "read another customer's TenantCluster")
	})

	t.Run("what a customer writes never makes the manager connect anywhere", func(t *testing.T) {
		tr := newTrap(t, host)
		// Positive control: the trap is reachable, and counts.
		c, err := net.DialTimeout("tcp", tr.addr(), 5*time.Second)
		if err != nil {
			t.Fatalf("the trap itself is unreachable: %v", err)
		}
		_ = c.Close()
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
			return tr.conns.Load() == 1, nil
		}); err != nil {
			t.Fatalf("the trap counted %d connections, want 1", tr.conns.Load())
		}
		tr.conns.Store(0)

		// The published kubeconfig, rewritten to send the reader's token through a proxy.
		kc := clientcmdapi.NewConfig()
		kc.Clusters["evil"] = &clientcmdapi.Cluster{Server: "https://" + tr.addr(), ProxyURL: "http://" + tr.addr(), InsecureSkipTLSVerify: true}
		kc.AuthInfos["evil"] = &clientcmdapi.AuthInfo{TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"}
		kc.Contexts["evil"] = &clientcmdapi.Context{Cluster: "evil", AuthInfo: "evil"}
		kc.CurrentContext = "evil"
		raw, err := clientcmd.Write(*kc)
		if err != nil {
			t.Fatal(err)
		}
		published := &corev1.Secret{}
		if err := as.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: controlplane.AdminKubeconfigSecret.Name(a.Name)}, published); err != nil {
			t.Fatalf("the customer cannot read its published kubeconfig: %v", err)
		}
		published.Data[controlplane.KubeconfigKey] = raw
		if err := as.Update(ctx, published); err != nil {
			t.Fatalf("the customer cannot write Secrets in its namespace: %v", err)
		}
		// Cloud credentials whose Keystone is the trap, in a WorkerPool of the same tenant.
		creds := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: "evil-cloud"},
			StringData: map[string]string{"clouds.yaml": fmt.Sprintf(`clouds:
  openstack:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://%s/v3
      application_credential_id: 0123456789abcdef
      application_credential_secret: s3cr3t
`, tr.addr())},
		}
		if err := as.Create(ctx, creds); err != nil {
			t.Fatal(err)
		}
		pool := &v1alpha1.WorkerPool{
			ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: "evil"},
			Spec: v1alpha1.WorkerPoolSpec{
				ClusterName: a.Name, Replicas: ptr.To[int32](1), Flavor: "m1.small", Image: "ubuntu-22.04",
				NetworkID: "4f8a2c7e-1d3b-4e5f-9a6b-7c8d9e0f1a2b", CredentialsSecretRef: corev1.LocalObjectReference{Name: creds.Name},
			},
		}
		if err := as.Create(ctx, pool); err != nil {
			t.Fatalf("create the WorkerPool as the customer: %v", err)
		}
		// The manager read the pool and refused its cloud, naming the cause.
		err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			if err := kube.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
				return false, nil
			}
			c := meta.FindStatusCondition(pool.Status.Conditions, v1alpha1.ServersReadyCondition)
			return c != nil && c.Reason == v1alpha1.AuthURLNotAllowedReason, nil
		})
		if err != nil {
			t.Fatalf("the WorkerPool's ServersReady does not say AuthURLNotAllowed: %+v", pool.Status.Conditions)
		}
		// And a full reconcile of the tenant happened after the rewrite: unpause it.
		togglePaused(t, ctx, a)
		if n := tr.conns.Load(); n != 0 {
			t.Errorf("the manager connected %d times to the address a customer wrote", n)
		}
		// Nothing lost: the manager publishes its kubeconfig again over the customer's.
		if got := tenantConfig(t, ctx, a); got.Host != cfgA.Host || got.BearerTokenFile != "" || got.Proxy != nil {
			t.Errorf("the published kubeconfig was not restored: host %s, token file %q", got.Host, got.BearerTokenFile)
		}
		if err := kube.Delete(ctx, pool); err != nil {
			t.Fatal(err)
		}
		if err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
			return apierrors.IsNotFound(kube.Get(ctx, client.ObjectKeyFromObject(pool), &v1alpha1.WorkerPool{})), nil
		}); err != nil {
			t.Errorf("the refused WorkerPool is not gone a minute after delete: %+v", pool.Status.Conditions)
		}
		if n := tr.conns.Load(); n != 0 {
			t.Errorf("the manager connected %d times to the address a customer wrote", n)
		}
	})

	t.Run("a tenant whose apiserver hangs does not hold up another tenant", func(t *testing.T) {
		// a's kube-apiserver stopped (SIGSTOP): its Service still accepts connections and
		// nothing answers them, as with an apiserver wedged by a webhook or a full disk.
		pids := apiserverPIDs(t, controlplane.NamespaceOf(a))
		stopped := metav1.NewTime(time.Now().Truncate(time.Second))
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatalf("stop a's kube-apiserver %d: %v", pid, err)
			}
		}
		resume := func() {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGCONT) // the kubelet may have restarted it already
			}
		}
		t.Cleanup(resume)
		// Make the manager reconcile a (paused and resumed without waiting), then see b's
		// reconciles complete while a's hang.
		for range 2 {
			patch := client.MergeFrom(a.DeepCopy())
			a.Spec.Paused = !a.Spec.Paused
			if err := kube.Patch(ctx, a, patch); err != nil {
				t.Fatal(err)
			}
		}
		togglePaused(t, ctx, b)
		// The hang was real: the manager says so of a, after the stop.
		err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			if err := kube.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
				return false, nil
			}
			return slices.ContainsFunc(a.Status.Conditions, func(c metav1.Condition) bool {
				return !c.LastTransitionTime.Before(&stopped) && (c.Reason == v1alpha1.TenantUnreachableReason ||
					(c.Type == v1alpha1.APIServerAvailableCondition && c.Status != metav1.ConditionTrue))
			}), nil
		})
		if err != nil {
			t.Errorf("a's status never showed its apiserver hanging: %+v", a.Status.Conditions)
		}
		resume()
		// a recovers (the kubelet may have restarted its apiserver meanwhile) and has
		// reconciled every change made while it hung.
		err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
			if err := kube.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
				return false, nil
			}
			return a.Status.ObservedGeneration == a.Generation &&
				meta.IsStatusConditionTrue(a.Status.Conditions, v1alpha1.ReadyCondition) &&
				meta.IsStatusConditionTrue(a.Status.Conditions, v1alpha1.APIServerAvailableCondition), nil
		})
		if err != nil {
			dumpManagerLogs(t)
			t.Fatalf("a did not recover after its apiserver was resumed: generation %d, %+v", a.Generation, a.Status)
		}
	})
}

// apiserverPIDs finds the kube-apiserver processes of the control plane in namespace cpns
// on this seed (their --etcd-servers name it).
func apiserverPIDs(t *testing.T, cpns string) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		raw, err := os.ReadFile(d)
		if err != nil || len(raw) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if filepath.Base(argv[0]) != "kube-apiserver" || !strings.Contains(string(raw), "."+cpns+".svc") {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(d))); err == nil {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		t.Fatalf("no kube-apiserver process of %s on this seed", cpns)
	}
	return pids
}

// togglePaused pauses tc and resumes it, waiting each time for the manager to have
// reconciled that generation: a full reconcile, ending Ready.
func togglePaused(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster) {
	t.Helper()
	for _, paused := range []bool{true, false} {
		patch := client.MergeFrom(tc.DeepCopy())
		tc.Spec.Paused = paused
		if err := kube.Patch(ctx, tc, patch); err != nil {
			t.Fatal(err)
		}
		gen := tc.Generation
		err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
				return false, nil
			}
			c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition)
			if c == nil || c.ObservedGeneration < gen {
				return false, nil
			}
			if paused {
				return c.Reason == v1alpha1.PausedReason, nil
			}
			return c.Status == metav1.ConditionTrue && tc.Status.ObservedGeneration >= gen, nil
		})
		if err != nil {
			dumpManagerLogs(t)
			t.Fatalf("%s/%s (paused=%t) not reconciled within 2m: %+v", tc.Namespace, tc.Name, paused, tc.Status.Conditions)
		}
	}
}

func seedNodeIP(t *testing.T, ctx context.Context) string {
	t.Helper()
	nodes, err := clients.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if strings.HasPrefix(n.Name, "e2e-") || strings.HasPrefix(n.Name, "pool-") {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				return a.Address
			}
		}
	}
	t.Fatal("no seed node with an InternalIP")
	return ""
}

func forbidden(t *testing.T, err error, what string) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("a customer may not %s, but got err = %v", what, err)
	}
}
