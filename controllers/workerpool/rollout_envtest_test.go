//go:build envtest

package workerpool_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/workerpool"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// TestRollingReplacement: a pool follows spec.version by replacing its servers one at a
// time (maxSurge 1: never more than replicas+1 servers, never fewer Ready Nodes than
// replicas); a version newer than the control plane holds the pool at the version it has
// (it still scales) until the control plane runs it; status says where it is.
func TestRollingReplacement(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	// The control plane runs v1.35.4 (an upgrade to v1.36.3 not done yet).
	w.tc.Status.Version = "v1.35.4"
	if err := k8sClient.Status().Update(ctx, w.tc); err != nil {
		t.Fatal(err)
	}
	// Node names are the tenant's, shared by the package's tests (and -count runs).
	wp := w.pool("roll-"+w.ns[len(w.ns)-5:], 2)
	create(t, wp)
	w.fakeKubelets(t, wp.Name)
	waitPool(t, wp, time.Minute, "two servers joined at the control plane's version", func(wp *v1alpha1.WorkerPool) bool {
		return readyWith(2)(wp) && wp.Status.Version == "v1.35.4" && wp.Status.UpdatedReplicas == 2 &&
			meta.IsStatusConditionFalse(wp.Status.Conditions, v1alpha1.ProgressingCondition)
	})
	before := poolServers(t, w.cloud, wp)
	for _, s := range before {
		if s.Metadata[workerpool.MetadataKubernetesVersion] != "v1.35.4" || len(s.Metadata[workerpool.MetadataTemplateHash]) != 10 {
			t.Fatalf("server %s metadata %v: want version v1.35.4 and a template hash", s.Name, s.Metadata)
		}
		jc := mustParseUserData(t, mustUserData(t, w, s.ID))
		if jc.NodeLabels[bootstrap.KubeletVersionLabel] != "v1.35.4" {
			t.Errorf("server %s registers labels %v, want %s=v1.35.4", s.Name, jc.NodeLabels, bootstrap.KubeletVersionLabel)
		}
		if len(jc.RunCmd) != 2 || !strings.Contains(jc.RunCmd[0], "v1.35.4") {
			t.Errorf("server %s runcmd %q: want the version check before the join", s.Name, jc.RunCmd)
		}
	}

	// Newer than the control plane: the pool holds its version, says why, and still scales.
	setPoolVersion(t, wp, "v1.36.3")
	waitPool(t, wp, 30*time.Second, "Progressing=False VersionSkew", func(wp *v1alpha1.WorkerPool) bool {
		c := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ProgressingCondition)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.VersionSkewReason &&
			strings.Contains(c.Message, "newer than the control plane's v1.35.4") && wp.Status.ObservedGeneration == wp.Generation &&
			wp.Status.Version == "v1.35.4" && meta.IsStatusConditionTrue(wp.Status.Conditions, v1alpha1.ReadyCondition)
	})
	time.Sleep(time.Second)
	if got := poolServers(t, w.cloud, wp); len(got) != 2 || got[0].ID != before[0].ID || got[1].ID != before[1].ID {
		t.Fatalf("servers %v changed while the version was refused", names(got))
	}
	scale(t, wp, 3)
	waitPool(t, wp, time.Minute, "scaled to 3 at the held version", readyWith(3))
	before = poolServers(t, w.cloud, wp)
	for _, s := range before {
		if v := s.Metadata[workerpool.MetadataKubernetesVersion]; v != "v1.35.4" {
			t.Errorf("server %s made at %s while the pool was held at v1.35.4", s.Name, v)
		}
	}

	// Watch the rollout from the cloud's and the tenant's side.
	var most, fewestReady atomic.Int32
	var lowest atomic.Value // the Nodes when fewest were Ready
	fewestReady.Store(3)
	name := wp.Name // waitPool writes wp while the watcher runs
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for watchCtx.Err() == nil {
			servers, err := w.cloud.ListServers(watchCtx, "")
			if err == nil {
				n := int32(0)
				for _, s := range servers {
					if strings.HasPrefix(s.Name, name+"-") {
						n++
					}
				}
				if n > most.Load() {
					most.Store(n)
				}
			}
			nodes := &corev1.NodeList{}
			if err := tenantClient.List(watchCtx, nodes, client.MatchingLabels{workerpool.PoolLabel: name}); err == nil {
				ready := int32(0)
				for _, n := range nodes.Items {
					if nodeReadyAndSchedulable(n.Status.Conditions, n.Spec.Unschedulable) {
						ready++
					}
				}
				if ready < fewestReady.Load() {
					fewestReady.Store(ready)
					var desc []string
					for _, n := range nodes.Items {
						desc = append(desc, fmt.Sprintf("%s unschedulable=%v %v", n.Name, n.Spec.Unschedulable, n.Status.Conditions))
					}
					lowest.Store(strings.Join(desc, "; "))
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// The control plane finishes its upgrade: the pool rolls.
	w.tc.Status.Version = "v1.36.3"
	if err := k8sClient.Status().Update(ctx, w.tc); err != nil {
		t.Fatal(err)
	}
	waitPool(t, wp, 30*time.Second, "Progressing=True naming a server being replaced", func(wp *v1alpha1.WorkerPool) bool {
		c := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ProgressingCondition)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == v1alpha1.RollingUpdateReason && strings.Contains(c.Message, "replacing "+wp.Name+"-")
	})
	waitPool(t, wp, 2*time.Minute, "every server replaced at v1.36.3", func(wp *v1alpha1.WorkerPool) bool {
		return readyWith(3)(wp) && wp.Status.Version == "v1.36.3" && wp.Status.UpdatedReplicas == 3 &&
			meta.IsStatusConditionFalse(wp.Status.Conditions, v1alpha1.ProgressingCondition)
	})
	stop()
	after := poolServers(t, w.cloud, wp)
	for _, s := range after {
		if slices.ContainsFunc(before, func(b openstack.Server) bool { return b.ID == s.ID }) {
			t.Errorf("server %s (%s) was not replaced", s.Name, s.ID)
		}
		if s.Metadata[workerpool.MetadataKubernetesVersion] != "v1.36.3" {
			t.Errorf("server %s metadata %v: want version v1.36.3", s.Name, s.Metadata)
		}
	}
	if len(after) != 3 {
		t.Errorf("servers %v, want 3", names(after))
	}
	if m := most.Load(); m > 4 {
		t.Errorf("%d servers at once: maxSurge 1 allows 4", m)
	}
	if f := fewestReady.Load(); f < 3 {
		t.Errorf("only %d schedulable Ready Nodes at one point: maxUnavailable 0 keeps 3; Nodes then: %v", f, lowest.Load())
	}
	for _, reason := range []string{v1alpha1.RollingUpdateReason, "ServerDeleted"} {
		if !hasEventQuickly(t, wp, reason) {
			t.Errorf("no %s event", reason)
		}
	}
}

// nodeReadyAndSchedulable: Ready and not cordoned.
func nodeReadyAndSchedulable(conds []corev1.NodeCondition, unschedulable bool) bool {
	for _, c := range conds {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue && !unschedulable
		}
	}
	return false
}

func setPoolVersion(t *testing.T, wp *v1alpha1.WorkerPool, version string) {
	t.Helper()
	patch := client.MergeFrom(wp.DeepCopy())
	wp.Spec.Version = version
	if err := k8sClient.Patch(context.Background(), wp, patch); err != nil {
		t.Fatalf("set spec.version %s: %v", version, err)
	}
}

func mustUserData(t *testing.T, w *world, id string) []byte {
	t.Helper()
	data, err := w.cloud.ServerUserData(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func scale(t *testing.T, wp *v1alpha1.WorkerPool, n int32) {
	t.Helper()
	patch := client.MergeFrom(wp.DeepCopy())
	wp.Spec.Replicas = &n
	if err := k8sClient.Patch(context.Background(), wp, patch); err != nil {
		t.Fatalf("scale to %d: %v", n, err)
	}
}
