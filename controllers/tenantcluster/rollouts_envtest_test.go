//go:build envtest

package tenantcluster_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestOperatorRolloutsAreBounded: when another release rendered a tenant's workloads (as
// after a kubeseed upgrade) and this one would change their pod templates, only
// suiteMaxRollouts tenants roll at a time: the next waits, untouched, and says so in
// UpToDate, and goes once the first has rolled out.
func TestOperatorRolloutsAreBounded(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	first, second := small(ns, "roll-a"), small(ns, "roll-b")
	for _, tc := range []*v1alpha1.TenantCluster{first, second} {
		if err := k8sClient.Create(ctx, tc); err != nil {
			t.Fatal(err)
		}
	}
	api := func(tc *v1alpha1.TenantCluster) client.ObjectKey {
		return client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: controlplane.APIServer.ObjectName(tc.Name)}
	}
	deployments := playDeployments(t, controlplane.NamespaceOf(first), controlplane.NamespaceOf(second))
	for _, tc := range []*v1alpha1.TenantCluster{first, second} {
		setEtcdReady(t, controlplane.NamespaceOf(tc), tc.Name)
		waitFor(t, tc, "Ready at its version", func(tc *v1alpha1.TenantCluster) bool {
			return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition) && tc.Status.Version == tc.Spec.Version
		})
	}

	// The first tenant's apiserver is mid-rollout, and both were rendered by an older
	// release whose pod template differs.
	deployments.hold(api(first).Name)
	if err := setDeploymentRolling(ctx, api(first)); err != nil {
		t.Fatal(err)
	}
	// A reconcile already under way may apply over a stale stamp, as it read the workload
	// before: stamp again until a reconcile reads it and takes the slot.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if hasEvent(ctx, first, "RolloutStarted") {
			return releaseOf(ctx, api(first)) == suiteRelease, nil
		}
		if releaseOf(ctx, api(first)) != "older" {
			stale(t, ctx, api(first))
		}
		return false, nil
	})
	if err != nil {
		_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(first), first)
		t.Fatalf("the first tenant did not take the slot: %+v", meta.FindStatusCondition(first.Status.Conditions, v1alpha1.UpToDateCondition))
	}
	// The same for the second, which waits.
	waitFor(t, second, "the second tenant waits its turn", func(tc *v1alpha1.TenantCluster) bool {
		c := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.UpToDateCondition)
		if c != nil && c.Reason == v1alpha1.WaitingForRolloutReason && strings.Contains(c.Message, "1 tenants roll at a time") {
			return true
		}
		if releaseOf(ctx, api(second)) != "older" {
			stale(t, ctx, api(second))
		}
		return false
	})
	time.Sleep(2 * time.Second)
	if got := releaseOf(ctx, api(second)); got != "older" {
		t.Fatalf("the waiting tenant's apiserver was rendered anew (release %q) while the slot was taken", got)
	}
	waitFor(t, second, "the waiting tenant Ready: it runs as it was", func(tc *v1alpha1.TenantCluster) bool {
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition)
	})
	if got := releaseOf(ctx, api(second)); got != "older" {
		t.Fatalf("the waiting tenant's apiserver was rendered anew (release %q) while the slot was taken", got)
	}

	// The first finishes its rollout: the second goes.
	deployments.release(api(first).Name)
	eventually(t, "the second tenant rendered anew once the first rolled out", time.Minute, func(ctx context.Context) bool {
		return releaseOf(ctx, api(second)) == suiteRelease
	})
	// Rolled out, each frees its slot (the suite's next test finds it free).
	eventually(t, "both tenants finished their rollouts", time.Minute, func(ctx context.Context) bool {
		return hasEvent(ctx, first, "RolloutFinished") && hasEvent(ctx, second, "RolloutFinished")
	})
}

// deploymentPlayer plays the Deployment controller and the kubelet for the Deployments of
// some namespaces: each is rolled out and available at its latest generation, but for those
// held, whose status a test writes itself.
type deploymentPlayer struct {
	mu   sync.Mutex
	held map[string]bool
}

func (p *deploymentPlayer) hold(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held[name] = true
}

func (p *deploymentPlayer) release(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.held, name)
}

// pass brings every Deployment not held up to date, holding mu: once hold returns, no
// pass writes the held one any more.
func (p *deploymentPlayer) pass(ctx context.Context, namespaces []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ns := range namespaces {
		list := &appsv1.DeploymentList{}
		if err := k8sClient.List(ctx, list, client.InNamespace(ns)); err != nil {
			continue
		}
		for _, d := range list.Items {
			n := ptr.Deref(d.Spec.Replicas, 1)
			if p.held[d.Name] || (d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == n && d.Status.UpdatedReplicas == n && d.Status.Replicas == n) {
				continue
			}
			_ = setDeploymentAvailable(ctx, ns, d.Name, n)
		}
	}
}

func playDeployments(t *testing.T, namespaces ...string) *deploymentPlayer {
	p := &deploymentPlayer{held: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			p.pass(ctx, namespaces)
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return p
}

// stale makes a workload look rendered by an older release, with another pod template:
// a patch of its two annotations, nothing else.
func stale(t *testing.T, ctx context.Context, key client.ObjectKey) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	patch := []byte(`{"metadata":{"annotations":{"` + controlplane.ReleaseAnnotation + `":"older","` + controlplane.TemplateHashAnnotation + `":"0000"}}}`)
	if err := k8sClient.Patch(ctx, d, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
}

func releaseOf(ctx context.Context, key client.ObjectKey) string {
	d := &appsv1.Deployment{}
	if err := k8sClient.Get(ctx, key, d); err != nil {
		return ""
	}
	return d.Annotations[controlplane.ReleaseAnnotation]
}

// setDeploymentRolling writes the status of a rollout under way: the new replica not up yet.
func setDeploymentRolling(ctx context.Context, key client.ObjectKey) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, key, d); err != nil {
			return err
		}
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n + 1, UpdatedReplicas: 0, ReadyReplicas: n, AvailableReplicas: n}
		return k8sClient.Status().Update(ctx, d)
	})
}
