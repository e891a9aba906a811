//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// TestMachineJoinsAndIsRemovedCleanly starts two extra machines beside the seed. The routed
// one joins the seed itself as a node through kubelet TLS bootstrap (the seed is the only
// cluster this test can rely on; joining tenants with kubeadm is the join issue's e2e): its
// kubelet is started by the machine once the bootstrap wrote its config, is restarted when
// killed, runs a pod and serves its logs. The unrouted one reaches the seed, but the seed
// cannot reach it. Removing both leaves nothing on the host.
func TestMachineJoinsAndIsRemovedCleanly(t *testing.T) {
	host, ok := provider.(seed.MachineHost)
	if !ok {
		t.Skip("this seed provider cannot start extra machines (kind); see docs/seed.md")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	createdByTest := map[string]bool{}
	for _, p := range []string{"/etc/kubernetes", "/var/lib/kubelet", "/etc/cni"} {
		if _, err := os.Stat(p); err != nil {
			createdByTest[p] = true
		}
	}

	token := bootstrapToken(t, ctx)
	script := joinSeedScript(t, token)
	images := []string{
		filepath.Join(seed.ImagesDir(seed.CacheDir()), "pause.tar"),
		filepath.Join(seed.ImagesDir(seed.CacheDir()), "testserver.tar"),
	}
	const name = "e2e-machine"
	m, err := host.AddMachine(ctx, seed.MachineSpec{Name: name, KubernetesVersion: versions.Seed, Bootstrap: script, Images: images, Routed: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = host.RemoveMachine(context.Background(), name)
		_ = clients.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	if err := host.WaitBootstrap(ctx, name); err != nil {
		t.Fatal(err)
	}

	t.Run("node joins the seed with the machine's address", func(t *testing.T) {
		node := waitNodeReady(t, ctx, name, m)
		var internal string
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				internal = a.Address
			}
		}
		if internal != m.IP {
			t.Fatalf("node InternalIP = %q, want the machine's %s", internal, m.IP)
		}
	})

	t.Run("kubelet is restarted when it exits", func(t *testing.T) {
		pidFile := filepath.Join(m.Dir, "kubelet.pid")
		first := readPid(t, pidFile)
		if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
			t.Fatalf("kill kubelet %d: %v", first, err)
		}
		err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			pid := readPid(t, pidFile)
			return pid != first && syscall.Kill(pid, 0) == nil, nil
		})
		if err != nil {
			t.Fatalf("kubelet not restarted after it was killed: %v", err)
		}
		waitNodeReady(t, ctx, name, m)
	})

	t.Run("a pod runs on the machine and its logs are served through the seed", func(t *testing.T) {
		ns := newNamespace(t)
		tmpl := testServerPod(map[string]string{"app": "on-machine"})
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "on-machine"}, Spec: tmpl.Spec}
		pod.Spec.NodeName = name
		pod.Spec.Tolerations = []corev1.Toleration{{Key: machineTaint, Operator: corev1.TolerationOpExists}}
		if _, err := clients.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPodReady(t, ns, pod.Name, "")
		var last error
		err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
			// The kubelet restarted above may ask for a serving certificate again after its
			// node was Ready: logs are served over that certificate.
			approveServingCSRs(ctx, name)
			_, last = clients.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
			return last == nil, nil
		})
		if err != nil {
			t.Fatalf("logs of the pod on the routed machine %s (%s): %v (last: %v)", name, m.IP, err, last)
		}
	})

	t.Run("the seed reaches a routed machine but not an unrouted one", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(m.IP, "10250"), 5*time.Second)
		if err != nil {
			t.Fatalf("dial the routed machine's kubelet: %v", err)
		}
		_ = conn.Close()

		const private = "e2e-private"
		p, err := host.AddMachine(ctx, seed.MachineSpec{Name: private, KubernetesVersion: versions.Seed, Bootstrap: "true\n"})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = host.RemoveMachine(context.Background(), private) }()
		if err := host.WaitBootstrap(ctx, private); err != nil {
			t.Fatal(err)
		}
		_, err = net.DialTimeout("tcp", net.JoinHostPort(p.IP, "22"), 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "no route to host") {
			t.Fatalf("dial an unrouted machine from the seed: err = %v, want no route to host", err)
		}
		out, err := host.MachineExec(ctx, private, "kubectl", "--kubeconfig", provider.Kubeconfig(), "get", "--raw", "/healthz")
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Fatalf("the unrouted machine does not reach the seed's apiserver: %s %v", out, err)
		}
		if hostname, err := host.MachineExec(ctx, private, "hostname"); err != nil || strings.TrimSpace(string(hostname)) != private {
			t.Fatalf("hostname in the machine = %q (%v), want %s", hostname, err, private)
		}
	})

	t.Run("removal leaves nothing behind", func(t *testing.T) {
		if err := host.RemoveMachine(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(m.Dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", m.Dir, err)
		}
		if cg, _ := filepath.Glob("/sys/fs/cgroup/*/kubeseed-machines"); len(cg) > 0 {
			t.Errorf("machine cgroups left: %v", cg)
		}
		if out, err := hostCmd("ip", "-o", "link", "show"); err != nil || strings.Contains(out, "ksm-uplink") {
			t.Errorf("machine uplink left on the host (%v):\n%s", err, out)
		}
		if out, _ := hostCmd("ip", "route", "show"); strings.Contains(out, "10.220.0.") {
			t.Errorf("machine routes left on the host:\n%s", out)
		}
		raw, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(raw), "/machines/") {
			t.Errorf("machine mounts left:\n%s", raw)
		}
		for p := range createdByTest {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s was created for the machine and not removed", p)
			}
		}
	})
}

const machineTaint = "kubeseed.io/machine"

// bootstrapToken creates a bootstrap token in the seed and the RBAC kubeadm's init would
// have made for it: bootstrappers may create CSRs, which are approved for node clients.
func bootstrapToken(t *testing.T, ctx context.Context) string {
	t.Helper()
	id, secret := randomHex(t, 3), randomHex(t, 8)
	tokenSecret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: "kube-system"},
		Type:       corev1.SecretTypeBootstrapToken,
		StringData: map[string]string{
			"token-id": id, "token-secret": secret,
			"usage-bootstrap-authentication": "true",
			"expiration":                     time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339),
		},
	}
	if _, err := clients.CoreV1().Secrets("kube-system").Create(ctx, tokenSecret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bindings := map[string]string{
		"e2e-machine-bootstrap":   "system:node-bootstrapper",
		"e2e-machine-autoapprove": "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
		"e2e-machine-autorenew":   "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
	}
	for name, role := range bindings {
		group := "system:bootstrappers"
		if strings.HasSuffix(role, "selfnodeclient") {
			group = "system:nodes"
		}
		crb := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: group}},
		}
		if _, err := clients.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = clients.CoreV1().Secrets("kube-system").Delete(context.Background(), tokenSecret.Name, metav1.DeleteOptions{})
		for name := range bindings {
			_ = clients.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	})
	return id + "." + secret
}

// joinSeedScript is the bootstrap: it writes what kubeadm join would (a bootstrap kubeconfig,
// the CA, a kubelet config) and a CNI config, and leaves starting the kubelet to the machine.
func joinSeedScript(t *testing.T, token string) string {
	t.Helper()
	ca, err := os.ReadFile(restConfig.CAFile)
	if err != nil {
		t.Fatalf("read the seed's CA: %v", err)
	}
	return fmt.Sprintf(`mkdir -p /etc/kubernetes/pki /etc/cni/net.d
cat > /etc/kubernetes/pki/ca.crt <<'EOF'
%s
EOF
kubectl config set-cluster seed --kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
  --server=%s --certificate-authority=/etc/kubernetes/pki/ca.crt --embed-certs
kubectl config set-credentials kubelet --kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --token=%s
kubectl config set-context seed --kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --cluster=seed --user=kubelet
kubectl config use-context seed --kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf
# The seed installs no CNI on extra nodes: this machine's image brings the seed's plugins.
mkdir -p /opt/cni/bin && cp /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/portmap /usr/lib/cni/loopback /opt/cni/bin/
cat > /etc/cni/net.d/10-machine.conflist <<'EOF'
{"cniVersion": "0.4.0", "name": "machine", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.89.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
cat > /var/lib/kubelet/config.yaml <<'EOF'
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  x509: {clientCAFile: /etc/kubernetes/pki/ca.crt}
  webhook: {enabled: true}
  anonymous: {enabled: false}
authorization: {mode: Webhook}
clusterDNS: [%s]
clusterDomain: cluster.local
serverTLSBootstrap: true
# The machine shares the host's disk: thresholds as small as the seed node's.
evictionHard: {memory.available: 100Mi, nodefs.available: 2%%, imagefs.available: 2%%}
registerWithTaints:
  - {key: %s, effect: NoSchedule}
EOF
kubelet --version
`, strings.TrimSpace(string(ca)), restConfig.Host, token, seed.DNSServiceIP, machineTaint)
}

// waitNodeReady waits for the machine's node, approving its kubelet serving certificate as
// a cluster's approver would (the seed's controller-manager approves only client CSRs).
func waitNodeReady(t *testing.T, ctx context.Context, name string, m *seed.Machine) *corev1.Node {
	t.Helper()
	var node *corev1.Node
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		approveServingCSRs(ctx, name)
		n, err := clients.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				node = n
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(m.Dir, "logs", "kubelet.log"))
		lines := strings.Split(string(log), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		t.Fatalf("node %s not Ready: %v; kubelet log:\n%s", name, err, strings.Join(lines, "\n"))
	}
	return node
}

func approveServingCSRs(ctx context.Context, node string) {
	list, err := clients.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range list.Items {
		csr := &list.Items[i]
		if csr.Spec.SignerName != certificatesv1.KubeletServingSignerName || csr.Spec.Username != "system:node:"+node || len(csr.Status.Conditions) > 0 {
			continue
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "E2EApproved", Message: "the e2e test approves its machine's serving certificate",
		})
		_, _ = clients.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{})
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("pid in %s: %v", path, err)
	}
	return pid
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// hostCmd runs a command on the host and returns its output.
func hostCmd(name string, args ...string) (string, error) {
	out, err := osexec.Command(name, args...).CombinedOutput()
	return string(out), err
}
