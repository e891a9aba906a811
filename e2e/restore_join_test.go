//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/e2e/dataplane"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

// testNewWorkerJoinsRestoredTenant ends drill (a): a machine joins the tenant made from a
// backup with stock `kubeadm join` (the join command `kubeadm token create
// --print-join-command` prints with the tenant's admin kubeconfig), and its node is Ready:
// the restored cluster-info, bootstrap RBAC and CAs serve a new worker as the old tenant's
// did. The machine is removed at the end.
func testNewWorkerJoinsRestoredTenant(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, tenant kubernetes.Interface) {
	t.Helper()
	host, ok := provider.(seed.MachineHost)
	if !ok {
		t.Log("this seed provider cannot start extra machines (kind): no worker joins the restored tenant here")
		return
	}
	waitCondition(t, ctx, tc, v1alpha1.TenantBootstrappedCondition, 2*time.Minute)
	joinCommand := kubeadmPrintJoinCommand(t, ctx, tc)
	reserved, err := bootstrap.Reservations(*resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI), hostMemory(t),
		v1alpha1.KubeletSpec{EvictionHard: map[string]v1alpha1.EvictionThreshold{
			"memory.available": "500Mi", "nodefs.available": "2%", "imagefs.available": "2%",
		}})
	if err != nil {
		t.Fatal(err)
	}
	const name = "e2e-restored-worker"
	start := time.Now()
	m, err := host.AddMachine(ctx, seed.MachineSpec{
		Name: name, KubernetesVersion: tc.Spec.Version, Images: dataplane.NodeImages(seed.ImagesDir(seed.CacheDir())),
		Bootstrap: kubeadmJoinScript(joinCommand, reservationsPatch(t, reserved)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = host.RemoveMachine(context.Background(), name) }()
	if err := host.WaitBootstrap(ctx, name); err != nil {
		t.Fatalf("kubeadm join into the restored tenant: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		return err == nil && nodeIsReady(n), nil
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(m.Dir, "logs", "kubelet.log"))
		t.Fatalf("node %s not Ready in the restored tenant: %v\nkubelet log tail:\n%s", name, err, lastLines(string(log), 30))
	}
	t.Logf("a new worker joined the restored tenant: Node Ready %.1fs after its machine started", time.Since(start).Seconds())
}
