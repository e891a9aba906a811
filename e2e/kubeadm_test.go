//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

// kubeadmJoinScript is the worker's user data (the pod network comes from the tenant's CNI
// addon once joined): the kubelet reservations as a kubeadm patch, then joinCommand (what `kubeadm token create
// --print-join-command` printed) with the flags this machine needs. Preflight checks that
// cannot pass on these hosts are named one by one: there is no systemd (the machine's init
// runs the kubelet), the kernel's config is not readable and the host is on cgroup v1.
func kubeadmJoinScript(joinCommand, kubeletPatch string) string {
	return fmt.Sprintf(`mkdir -p /etc/kubernetes/patches
cat > /etc/kubernetes/patches/kubeletconfiguration+merge.yaml <<'EOF'
%s
EOF
%s \
  --cri-socket unix:///run/containerd/containerd.sock --patches /etc/kubernetes/patches \
  --ignore-preflight-errors=SystemVerification,Service-Kubelet,FileExisting-crictl,FileExisting-ethtool,FileExisting-socat,FileExisting-tc,FileExisting-ebtables
`, kubeletPatch, joinCommand)
}

// kubeadmPrintJoinCommand runs `kubeadm token create --print-join-command` on this host with
// the tenant's admin kubeconfig, as its user would, and returns the command it printed.
func kubeadmPrintJoinCommand(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster) string {
	t.Helper()
	secret, err := clients.CoreV1().Secrets(tc.Namespace).Get(ctx, controlplane.AdminKubeconfigSecret.Name(tc.Name), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("admin kubeconfig Secret: %v", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := os.WriteFile(kubeconfig, secret.Data[controlplane.KubeconfigKey], 0o600); err != nil {
		t.Fatal(err)
	}
	kubeadm := filepath.Join(seed.CacheDir(), "k8s", tc.Spec.Version, "kubeadm")
	cmd := exec.CommandContext(ctx, kubeadm, "token", "create", "--kubeconfig", kubeconfig, "--print-join-command")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubeadm token create --print-join-command: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}
