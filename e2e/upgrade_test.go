//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestControlPlaneUpgrade raises a serving tenant's version by a minor while a client
// sends it a request every 100 ms through its endpoint, as a user's tools would. The
// kube-apiservers roll first and the controller-manager and scheduler only once every
// apiserver runs the new version (the version skew policy: read from the pods' images and
// start times), the status says each stage (phase Upgrading, condition UpToDate), the
// addons are re-pinned to the new version last, and not one request fails. A downgrade is
// refused.
func TestControlPlaneUpgrade(t *testing.T) {
	const from, to = "v1.35.4", "v1.36.3"
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc := smallTenant(newNamespace(t), "upgraded")
	tc.Spec.Version = from
	tc.Spec.ControlPlane.APIServer.Replicas = ptr.To[int32](2)
	if err := kube.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	waitTenantReady(t, ctx, tc)
	if c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.UpToDateCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("a new tenant at %s: UpToDate %+v, want True", from, c)
	}
	tenant := kubernetes.NewForConfigOrDie(tenantConfig(t, ctx, tc))
	cpns := controlplane.NamespaceOf(tc)

	// The steady client: its own connections, kept alive, like kubectl's or a controller's.
	steadyCtx, stopSteady := context.WithCancel(ctx)
	var total, failed atomic.Int64
	var failuresMu sync.Mutex
	var failures []string
	steadyDone := make(chan struct{})
	go func() {
		defer close(steadyDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-steadyCtx.Done():
				return
			case <-tick.C:
			}
			rctx, rcancel := context.WithTimeout(steadyCtx, 5*time.Second)
			_, err := tenant.CoreV1().Namespaces().Get(rctx, "default", metav1.GetOptions{})
			rcancel()
			if steadyCtx.Err() != nil {
				return
			}
			total.Add(1)
			if err != nil {
				failed.Add(1)
				failuresMu.Lock()
				failures = append(failures, time.Now().Format("15:04:05.000")+" "+err.Error())
				failuresMu.Unlock()
			}
		}
	}()

	start := time.Now()
	patch := client.MergeFrom(tc.DeepCopy())
	tc.Spec.Version = to
	if err := kube.Patch(ctx, tc, patch); err != nil {
		t.Fatal(err)
	}
	// Each stage the status went through, with when it was first seen, and what the
	// controllers ran meanwhile.
	type seen struct {
		reason string
		at     time.Duration
	}
	var stages []seen
	var skewed []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.UpToDateCondition)
		if c == nil {
			return false, nil
		}
		if len(stages) == 0 || stages[len(stages)-1].reason != c.Reason {
			stages = append(stages, seen{c.Reason, time.Since(start)})
			t.Logf("%5.1fs UpToDate=%s %s: %s (phase %s, status.version %s)", time.Since(start).Seconds(), c.Status, c.Reason, c.Message, tc.Status.Phase, tc.Status.Version)
		}
		if c.Reason == v1alpha1.UpgradingAPIServersReason && (tc.Status.Phase != v1alpha1.TenantClusterUpgrading || tc.Status.Version != from) {
			t.Errorf("while the apiservers roll: phase %s, status.version %s; want Upgrading, %s", tc.Status.Phase, tc.Status.Version, from)
		}
		// The skew policy, read from the pods at every look: no controller runs the new
		// version while an apiserver (not on its way out) still runs the old one. (The
		// status is written at the end of a reconcile, so it may lag the pods a little.)
		var oldAPI, newControllers []string
		for _, img := range podImages(t, ctx, cpns, tc.Name, controlplane.APIServer) {
			if strings.HasSuffix(img, ":"+from) {
				oldAPI = append(oldAPI, img)
			}
		}
		for _, comp := range []controlplane.Component{controlplane.ControllerManager, controlplane.Scheduler} {
			for _, img := range podImages(t, ctx, cpns, tc.Name, comp) {
				if strings.HasSuffix(img, ":"+to) {
					newControllers = append(newControllers, img)
				}
			}
		}
		if len(oldAPI) > 0 && len(newControllers) > 0 {
			skewed = append(skewed, fmt.Sprintf("%.1fs: %v beside %v", time.Since(start).Seconds(), newControllers, oldAPI))
		}
		return c.Status == metav1.ConditionTrue && tc.Status.Version == to, nil
	})
	stopSteady()
	<-steadyDone
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("the upgrade to %s did not finish: stages %+v, status %+v", to, stages, tc.Status)
	}
	var timeline []string
	for _, st := range stages {
		timeline = append(timeline, fmt.Sprintf("%s@%.1fs", st.reason, st.at.Seconds()))
	}
	t.Logf("upgrade %s → %s done in %.1fs: %s", from, to, time.Since(start).Seconds(), strings.Join(timeline, " → "))

	t.Run("the apiservers rolled before the controllers", func(t *testing.T) {
		reasons := make([]string, len(stages))
		for i, s := range stages {
			reasons[i] = s.reason
		}
		if i := slices.Index(reasons, v1alpha1.UpgradingAPIServersReason); i < 0 || slices.Index(reasons, v1alpha1.UpgradingControllersReason) < i {
			t.Errorf("stages %q: want UpgradingAPIServers, then UpgradingControllers", reasons)
		}
		if len(skewed) > 0 {
			t.Errorf("controllers at %s ran beside apiservers at %s:\n%s", to, from, strings.Join(skewed, "\n"))
		}
		// From the pods themselves: every apiserver at the new version was Ready before
		// the first controller pod at the new version was created.
		var lastAPIReady, firstController time.Time
		for _, p := range pods(t, ctx, cpns, tc.Name, controlplane.APIServer) {
			if ready := podReadyAt(p); ready.After(lastAPIReady) {
				lastAPIReady = ready
			}
		}
		for _, comp := range []controlplane.Component{controlplane.ControllerManager, controlplane.Scheduler} {
			for _, p := range pods(t, ctx, cpns, tc.Name, comp) {
				if at := p.CreationTimestamp.Time; firstController.IsZero() || at.Before(firstController) {
					firstController = at
				}
			}
		}
		if lastAPIReady.IsZero() || firstController.Before(lastAPIReady) {
			t.Errorf("the first controller pod at %s was created at %s, before the last apiserver was Ready at %s", to, firstController, lastAPIReady)
		}
	})

	t.Run("every component and addon runs the new version", func(t *testing.T) {
		for _, comp := range []controlplane.Component{controlplane.APIServer, controlplane.ControllerManager, controlplane.Scheduler} {
			for _, img := range podImages(t, ctx, cpns, tc.Name, comp) {
				if !strings.HasSuffix(img, ":"+to) {
					t.Errorf("%s runs %s, want %s", comp, img, to)
				}
			}
		}
		if a := tc.Status.Addons; a == nil || a.KubernetesVersion != to || a.KubeProxy != to {
			t.Errorf("addons pinned %+v, want kube-proxy %s", a, to)
		}
		v, err := tenant.Discovery().ServerVersion()
		if err != nil || v.GitVersion != to {
			t.Errorf("the tenant's API says version %v (%v), want %s", v, err, to)
		}
		if tc.Status.Phase != v1alpha1.TenantClusterReady {
			t.Errorf("phase %s after the upgrade, want Ready", tc.Status.Phase)
		}
	})

	t.Run("no request of a steady client failed", func(t *testing.T) {
		t.Logf("steady client: %d of %d requests failed", failed.Load(), total.Load())
		if total.Load() < 100 {
			t.Errorf("only %d requests were sent", total.Load())
		}
		if failed.Load() > 0 {
			t.Errorf("%d of %d requests failed during the upgrade:\n%s", failed.Load(), total.Load(), strings.Join(failures, "\n"))
		}
	})

	t.Run("a downgrade is refused", func(t *testing.T) {
		// A merge patch carries no resourceVersion: the refusal, not a conflict with the
		// manager's latest status write, is what comes back.
		down := tc.DeepCopy()
		down.Spec.Version = from
		err := kube.Patch(ctx, down, client.MergeFrom(tc))
		if err == nil || !strings.Contains(err.Error(), "may not be lowered") {
			t.Fatalf("downgrade to %s: %v, want refused", from, err)
		}
	})
}

func pods(t *testing.T, ctx context.Context, ns, cluster string, c controlplane.Component) []corev1.Pod {
	t.Helper()
	list, err := clients.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(controlplane.Labels(cluster, c)).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(list.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
}

func podImages(t *testing.T, ctx context.Context, ns, cluster string, c controlplane.Component) []string {
	t.Helper()
	spec, _ := controlplane.Lookup(c)
	var out []string
	for _, p := range pods(t, ctx, ns, cluster, c) {
		for _, ctr := range p.Spec.Containers {
			if ctr.Name == spec.Container {
				out = append(out, fmt.Sprintf("%s=%s", p.Name, ctr.Image))
			}
		}
	}
	return out
}

func podReadyAt(p corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}
