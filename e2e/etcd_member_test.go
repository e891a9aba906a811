//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// memberRecoveryDrill is issue 21's drill (b): a three-member tenant under a steady writer
// that records every acknowledged write loses member 1's volume, then member 2's database
// is damaged (truncated, as by a failing disk); each member is replaced in turn (removed,
// added back as a learner on an empty data directory, promoted) and every acknowledged
// write is readable.
func memberRecoveryDrill(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, tenant kubernetes.Interface) {
	createNamespaceIn(t, ctx, tenant, "writer")
	w := startWriter(ctx, tenant, "writer")
	time.Sleep(3 * time.Second) // some writes before the loss
	for _, loss := range []struct {
		what   string
		member int
		lose   func(*testing.T, context.Context, *v1alpha1.TenantCluster, int)
	}{
		{"its volume replaced", 1, replaceEtcdVolume},
		{"its database truncated", 2, truncateEtcdDatabase},
	} {
		name := controlplane.EtcdMemberName(tc.Name, loss.member)
		before := replacedEvents(ctx, tc, name)
		loss.lose(t, ctx, tc, loss.member)
		start := time.Now()
		// What the manager says it is doing, as it changes: the timeline of a failure.
		stop := traceCondition(t, ctx, tc, v1alpha1.EtcdAvailableCondition, start)
		// The member was replaced (an event of its own: it names the removed member's ID),
		// and a learner's pod is not ready (etcd's /readyz check non_learner): three ready
		// pods are three voting members.
		sts, err := waitEtcd(ctx, tc, func(sts *appsv1.StatefulSet) bool {
			return sts.Status.ReadyReplicas == 3 && meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.EtcdAvailableCondition) &&
				replacedEvents(ctx, tc, name) > before
		})
		stop()
		if err != nil {
			w.stop()
			dumpPodsOf(t, controlplane.NamespaceOf(tc))
			dumpEventsOf(t, tc)
			dumpManagerLogs(t)
			t.Fatalf("etcd of %s/%s did not replace %s (event EtcdMemberDataLost: %v) and get it back: %d ready; conditions %+v",
				tc.Namespace, tc.Name, name, replacedEvents(ctx, tc, name) > before, sts.Status.ReadyReplicas, tc.Status.Conditions)
		}
		t.Logf("member %s, %s, voting again %.1fs later", name, loss.what, time.Since(start).Seconds())
	}
	time.Sleep(2 * time.Second) // writes after the recovery too
	acked, failed := w.stop()
	t.Logf("the writer had %d writes acknowledged, %d not", len(acked), failed)
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged: the drill tested nothing")
	}
	cms, err := tenant.CoreV1().ConfigMaps("writer").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, cm := range cms.Items {
		have[cm.Name] = true
	}
	lost := 0
	for _, name := range acked {
		if !have[name] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes are lost", lost, len(acked))
	}
	for _, ns := range []string{"only-in-globex", "after-growth"} {
		if _, err := tenant.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s, written before the volume was lost: %v", ns, err)
		}
	}
}

// writer creates a ConfigMap every 100 ms and records those the apiserver acknowledged.
type writer struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	acked  []string
	failed int
}

func startWriter(ctx context.Context, tenant kubernetes.Interface, ns string) *writer {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ctx.Err() == nil; i++ {
			name := fmt.Sprintf("w-%05d", i)
			wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := tenant.CoreV1().ConfigMaps(ns).Create(wctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": name}}, metav1.CreateOptions{})
			wcancel()
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, name)
			} else if ctx.Err() == nil {
				w.failed++
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

// stop ends the writer and returns the acknowledged writes and how many failed.
func (w *writer) stop() ([]string, int) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked, w.failed
}

// waitEtcd polls tc and its etcd StatefulSet, both refreshed in place, for up to 5 minutes
// until done says so.
func waitEtcd(ctx context.Context, tc *v1alpha1.TenantCluster, done func(*appsv1.StatefulSet) bool) (*appsv1.StatefulSet, error) {
	sts := &appsv1.StatefulSet{}
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: controlplane.Etcd.ObjectName(tc.Name)}, sts); err != nil {
			return false, nil
		}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return done(sts), nil
	})
	return sts, err
}

// replaceEtcdVolume loses etcd member i's data the way a lost disk does: its claim is
// deleted, and its pod until the StatefulSet has made it a new, empty claim.
func replaceEtcdVolume(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, i int) {
	t.Helper()
	ns, claim := controlplane.NamespaceOf(tc), controlplane.EtcdDataClaimName(tc.Name, i)
	old, err := clients.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := clients.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, claim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pvc, err := clients.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
		if err == nil && pvc.UID != old.UID {
			return true, nil
		}
		// The pod holds the old claim (pvc-protection) or was made on it while it went.
		_ = clients.CoreV1().Pods(ns).Delete(ctx, controlplane.EtcdMemberName(tc.Name, i), metav1.DeleteOptions{})
		return false, nil
	})
	if err != nil {
		t.Fatalf("claim %s/%s was not replaced: %v", ns, claim, err)
	}
}

// truncateEtcdDatabase damages etcd member i's database as a failing disk does: the file,
// on the seed's local-path volume, is cut to its first four pages (bbolt's meta pages stay,
// the pages they point to go) while etcd runs, and its pod is deleted so that etcd opens
// it again at once, whether or not it met the damage first.
func truncateEtcdDatabase(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, i int) {
	t.Helper()
	ns, claim := controlplane.NamespaceOf(tc), controlplane.EtcdDataClaimName(tc.Name, i)
	pvc, err := clients.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := clients.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	switch {
	case pv.Spec.HostPath != nil:
		dir = pv.Spec.HostPath.Path
	case pv.Spec.Local != nil:
		dir = pv.Spec.Local.Path
	}
	// The local seed's nodes share this machine's file system (pkg/seed).
	dbs, _ := filepath.Glob(filepath.Join(dir, "*", "member", "snap", "db"))
	if direct := filepath.Join(dir, "member", "snap", "db"); fileExists(direct) {
		dbs = append(dbs, direct)
	}
	if len(dbs) != 1 {
		t.Fatalf("volume %s of %s/%s: want one etcd database under %q, found %v", pv.Name, ns, claim, dir, dbs)
	}
	if err := os.Truncate(dbs[0], 4*4096); err != nil {
		t.Fatal(err)
	}
	if err := clients.CoreV1().Pods(ns).Delete(ctx, controlplane.EtcdMemberName(tc.Name, i), metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
}

// replacedEvents counts the manager's reports of member name's replacement: each names the
// removed member's ID, so each replacement is an event of its own.
func replacedEvents(ctx context.Context, tc *v1alpha1.TenantCluster, name string) int {
	events, err := clients.CoreV1().Events(tc.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "reason=EtcdMemberDataLost"})
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range events.Items {
		if e.InvolvedObject.UID == tc.UID && strings.Contains(e.Message, name+" (") {
			n++
		}
	}
	return n
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
