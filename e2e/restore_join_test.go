//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
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

// joiningWorker is a machine joining a tenant with stock `kubeadm join` (the join command
// `kubeadm token create --print-join-command` prints with the tenant's admin kubeconfig),
// in the background, so that the drill goes on while it boots.
type joiningWorker struct {
	name  string
	dir   string
	start time.Time
	done  chan error
	// remove stops the join and removes the machine; the test's end does it too.
	remove func()
}

// startWorker starts machine name joining tc; nil when the seed provider cannot start
// machines (kind). The machine is removed when the test ends.
func startWorker(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, tenant kubernetes.Interface, name string) *joiningWorker {
	t.Helper()
	host, ok := provider.(seed.MachineHost)
	if !ok {
		t.Logf("this seed provider cannot start extra machines (kind): worker %s does not join", name)
		return nil
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
	spec := seed.MachineSpec{
		Name: name, KubernetesVersion: tc.Spec.Version, Images: dataplane.NodeImages(seed.ImagesDir(seed.CacheDir())),
		Bootstrap: kubeadmJoinScript(joinCommand, reservationsPatch(t, reserved)),
	}
	ctx, cancel := context.WithCancel(ctx)
	finished := make(chan struct{})
	w := &joiningWorker{name: name, start: time.Now(), done: make(chan error, 1)}
	var once sync.Once
	w.remove = func() {
		once.Do(func() {
			cancel()
			<-finished // a machine being made is removed once it is made
			_ = host.RemoveMachine(context.Background(), name)
		})
	}
	t.Cleanup(w.remove)
	go func() {
		defer close(finished)
		m, err := host.AddMachine(ctx, spec)
		if err != nil {
			w.done <- fmt.Errorf("start machine %s: %w", name, err)
			return
		}
		w.dir = m.Dir
		if err := host.WaitBootstrap(ctx, name); err != nil {
			w.done <- fmt.Errorf("kubeadm join of %s: %w", name, err)
			return
		}
		w.done <- wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			n, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			return err == nil && nodeIsReady(n), nil
		})
	}()
	return w
}

// wait waits for w's node to be Ready and returns how long that took from its machine's start.
func (w *joiningWorker) wait(t *testing.T) time.Duration {
	t.Helper()
	if err := <-w.done; err != nil {
		log, _ := os.ReadFile(filepath.Join(w.dir, "logs", "kubelet.log"))
		t.Fatalf("worker %s did not join and get Ready: %v\nkubelet log tail:\n%s", w.name, err, lastLines(string(log), 30))
	}
	return time.Since(w.start)
}

// testNewWorkerJoinsRestoredTenant ends drill (a): a new machine joins the tenant made from
// a backup and its node is Ready: the restored cluster-info, bootstrap RBAC and CAs serve
// a new worker as the old tenant's did.
func testNewWorkerJoinsRestoredTenant(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, tenant kubernetes.Interface) {
	t.Helper()
	if w := startWorker(t, ctx, tc, tenant, "e2e-restored-worker"); w != nil {
		t.Logf("a new worker joined the restored tenant: Node Ready %.1fs after its machine started", w.wait(t).Seconds())
		w.remove() // what follows needs no worker
	}
}

// testOldWorkerServesRestoredTenant: the worker that joined the tenant before its backup
// works on against the tenant made from it, with nothing done to it: its kubelet, with the
// client certificate the old tenant's CA signed, renews its node's lease in the restored
// tenant after the restore, at the old address, and its node is Ready.
func testOldWorkerServesRestoredTenant(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, tenant kubernetes.Interface, name string) {
	t.Helper()
	if tc.Status.Restore == nil || tc.Status.Restore.CompletedTime == nil {
		t.Fatal("status.restore records no completed restore")
	}
	restored := tc.Status.Restore.CompletedTime.Time
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		lease, err := tenant.CoordinationV1().Leases("kube-node-lease").Get(ctx, name, metav1.GetOptions{})
		if err != nil || lease.Spec.RenewTime == nil || !lease.Spec.RenewTime.After(restored) {
			return false, nil
		}
		n, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		return err == nil && nodeIsReady(n), nil
	})
	if err != nil {
		t.Fatalf("worker %s, joined before the backup, does not renew its lease in the restored tenant or is not Ready: %v", name, err)
	}
	t.Logf("worker %s, joined before the backup, serves the restored tenant: lease renewed and Node Ready", name)
}
