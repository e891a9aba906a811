//go:build envtest

package tenantcluster_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
)

// eventually polls cond every 200 ms until it holds or timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func(ctx context.Context) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		return cond(ctx), nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s", what, timeout)
	}
}

func replicasOf(t *testing.T, ctx context.Context, obj client.Object) (int32, bool) {
	t.Helper()
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return 0, false
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return ptr.Deref(o.Spec.Replicas, 1), true
	case *appsv1.StatefulSet:
		return ptr.Deref(o.Spec.Replicas, 1), true
	}
	t.Fatalf("no replicas in %T", obj)
	return 0, false
}

// setDeploymentAvailable writes the status the Deployment controller would (envtest has
// none): the current generation observed, every replica updated, available ones as given.
func setDeploymentAvailable(ctx context.Context, ns, name string, available int32) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d := &appsv1.Deployment{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return err
		}
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n,
			ReadyReplicas: available, AvailableReplicas: available, UnavailableReplicas: n - available,
		}
		return k8sClient.Status().Update(ctx, d)
	})
}

// setEtcdReady plays the StatefulSet controller and the kubelet for a tenant's etcd: every
// member the StatefulSet has is ready, once it has any.
func setEtcdReady(t *testing.T, ns, cluster string) {
	t.Helper()
	eventually(t, "etcd members ready", time.Minute, func(ctx context.Context) bool {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			sts := &appsv1.StatefulSet{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controlplane.Etcd.ObjectName(cluster)}, sts); err != nil {
				return err
			}
			n := ptr.Deref(sts.Spec.Replicas, 1)
			if n == 0 {
				return errors.New("etcd held at 0 replicas")
			}
			sts.Status = appsv1.StatefulSetStatus{
				ObservedGeneration: sts.Generation, Replicas: n, ReadyReplicas: n, AvailableReplicas: n, CurrentReplicas: n, UpdatedReplicas: n,
			}
			return k8sClient.Status().Update(ctx, sts)
		})
		return err == nil
	})
}

// startAPIServer plays the StatefulSet controller for etcd (every member ready) and the
// Deployment controller for the kube-apiserver (one replica available) once it is released.
func startAPIServer(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster) {
	t.Helper()
	ns := controlplane.NamespaceOf(tc)
	setEtcdReady(t, ns, tc.Name)
	api := &appsv1.Deployment{}
	api.Namespace, api.Name = ns, controlplane.APIServer.ObjectName(tc.Name)
	eventually(t, "kube-apiserver released", time.Minute, func(ctx context.Context) bool {
		n, _ := replicasOf(t, ctx, api)
		return n > 0
	})
	if err := setDeploymentAvailable(ctx, ns, api.Name, 1); err != nil {
		t.Fatal(err)
	}
}

// condition is the named condition, or a zero one.
func condition(tc *v1alpha1.TenantCluster, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(tc.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// TestControllersWaitForTheAPIServer: kube-controller-manager and kube-scheduler get no
// replica until the kube-apiserver Deployment has had an available one, say so in their
// conditions, and keep their replicas when the apiserver later stops answering.
func TestControllersWaitForTheAPIServer(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tc := small(ns, "gate")
	cpns := controlplane.NamespaceOf(tc)
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatalf("create: %v", err)
	}
	held := func(tc *v1alpha1.TenantCluster, typ string) bool {
		c := condition(tc, typ)
		return c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.WaitingForDependencyReason && c.Message == "waiting for the kube-apiserver to answer"
	}
	// Held even once everything else is in place.
	waitFor(t, tc, "controllers held with certificates issued", func(tc *v1alpha1.TenantCluster) bool {
		return held(tc, v1alpha1.ControllerManagerAvailableCondition) && held(tc, v1alpha1.SchedulerAvailableCondition) &&
			meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.CertificatesReadyCondition) && tc.Status.KubeconfigSecretRef != nil
	})
	kcm := &appsv1.Deployment{}
	kcm.Namespace, kcm.Name = cpns, controlplane.ControllerManager.ObjectName("gate")
	sched := &appsv1.Deployment{}
	sched.Namespace, sched.Name = cpns, controlplane.Scheduler.ObjectName("gate")
	for _, d := range []*appsv1.Deployment{kcm, sched} {
		if n, ok := replicasOf(t, ctx, d); !ok || n != 0 {
			t.Errorf("%s: %d replicas (exists: %t) while the apiserver never answered, want 0", d.Name, n, ok)
		}
	}

	apiserver := controlplane.APIServer.ObjectName("gate")
	startAPIServer(t, ctx, tc)
	eventually(t, "controllers released once the apiserver answers", time.Minute, func(ctx context.Context) bool {
		a, _ := replicasOf(t, ctx, kcm)
		b, _ := replicasOf(t, ctx, sched)
		return a == 1 && b == 1
	})
	waitFor(t, tc, "controller conditions no longer held", func(tc *v1alpha1.TenantCluster) bool {
		return condition(tc, v1alpha1.ControllerManagerAvailableCondition).Reason == v1alpha1.ProgressingReason &&
			condition(tc, v1alpha1.SchedulerAvailableCondition).Reason == v1alpha1.ProgressingReason
	})

	// The apiserver blips: a reconcile sees it unavailable, the controllers stay.
	if err := setDeploymentAvailable(ctx, cpns, apiserver, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "the blip observed", func(tc *v1alpha1.TenantCluster) bool {
		return strings.Contains(condition(tc, v1alpha1.APIServerAvailableCondition).Message, "0 of 1 replicas available")
	})
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		for _, d := range []*appsv1.Deployment{kcm, sched} {
			if n, _ := replicasOf(t, ctx, d); n != 1 {
				t.Fatalf("%s went to %d replicas when the apiserver blipped", d.Name, n)
			}
		}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			t.Fatal(err)
		}
		if held(tc, v1alpha1.ControllerManagerAvailableCondition) {
			t.Fatalf("ControllerManagerAvailable is held again after a blip")
		}
	}
}

// TestEtcdGrowsOneMemberAtATime raises a running one-member tenant to three members. The
// reconciler talks to a fake etcd (envtest runs no etcd pods); the test plays the
// StatefulSet controller and the kubelet: a pod the StatefulSet gains starts its member,
// and a voting member's pod is ready. It checks the order etcd saw, that no pod ever ran
// before its member was listed in the ConfigMap and etcd, and that the members' pod template
// never changed (changing it would roll the members that serve).
func TestEtcdGrowsOneMemberAtATime(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	const name = "grow"
	cpns := controlplane.NamespaceName(ns, name)
	target := func(i int) etcd.Target {
		return etcd.Target{Name: controlplane.EtcdMemberName(name, i), PeerURL: controlplane.EtcdPeerURL(name, cpns, i)}
	}
	fake := etcd.NewFake(target(0))
	fakeEtcds.Store(controlplane.EtcdClientURL(name, cpns), fake)
	t.Cleanup(func() { fakeEtcds.Delete(controlplane.EtcdClientURL(name, cpns)) })

	tc := small(ns, name)
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatalf("create: %v", err)
	}
	waitFor(t, tc, "certificates issued", func(tc *v1alpha1.TenantCluster) bool {
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.CertificatesReadyCondition)
	})
	sts := &appsv1.StatefulSet{}
	sts.Namespace, sts.Name = cpns, controlplane.Etcd.ObjectName(name)
	var template *corev1.PodTemplateSpec
	eventually(t, "the etcd pod template settles", time.Minute, func(ctx context.Context) bool {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(sts), sts); err != nil {
			return false
		}
		same := template != nil && reflect.DeepEqual(*template, sts.Spec.Template)
		template = sts.Spec.Template.DeepCopy()
		time.Sleep(time.Second)
		return same
	})

	sim := &podSimulator{t: t, fake: fake, ns: ns, cpns: cpns, name: name, target: target, messages: map[string]bool{}}
	simCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sim.run(simCtx) }()
	defer func() { stop(); <-done }()

	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return err
		}
		tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](3)
		return k8sClient.Update(ctx, tc)
	}); err != nil {
		t.Fatalf("raise etcd replicas: %v", err)
	}

	eventually(t, "three voting members with their pods, EtcdAvailable", 2*time.Minute, func(ctx context.Context) bool {
		ms, _ := fake.Members(ctx)
		voting := 0
		for _, m := range ms {
			if !m.IsLearner && m.Started() {
				voting++
			}
		}
		n, _ := replicasOf(t, ctx, sts)
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false
		}
		c := condition(tc, v1alpha1.EtcdAvailableCondition)
		return voting == 3 && n == 3 && c.Status == metav1.ConditionTrue && c.Reason == v1alpha1.AvailableReason
	})
	stop()
	<-done

	want := []string{"AddLearner " + target(1).PeerURL, "Promote 2", "AddLearner " + target(2).PeerURL, "Promote 3"}
	if got := fake.Calls(); !slices.Equal(got, want) {
		t.Errorf("etcd saw %v, want %v", got, want)
	}
	sim.mu.Lock()
	for _, v := range sim.violations {
		t.Error(v)
	}
	var scaling []string
	for m := range sim.messages {
		if strings.HasPrefix(m, "scaling etcd: ") {
			scaling = append(scaling, m)
		}
	}
	sim.mu.Unlock()
	if len(scaling) == 0 {
		t.Errorf("EtcdAvailable never said it was scaling")
	}
	t.Logf("EtcdAvailable said: %q", scaling)
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(sts), sts); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*template, sts.Spec.Template) {
		t.Errorf("the etcd pod template changed while members were added")
	}
	cm := &corev1.ConfigMap{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: controlplane.EtcdClusterConfigMapName(name)}, cm); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(cm.Data[controlplane.EtcdInitialClusterKey], ",") + 1; got != 3 || cm.Data[controlplane.EtcdInitialClusterStateKey] != "existing" {
		t.Errorf("ConfigMap %v, want three members, existing", cm.Data)
	}
}

// podSimulator plays the StatefulSet controller and the kubelet for the etcd StatefulSet.
type podSimulator struct {
	t      *testing.T
	fake   *etcd.Fake
	ns     string // the TenantCluster's
	cpns   string // its control plane's
	name   string
	target func(int) etcd.Target

	mu         sync.Mutex
	violations []string
	messages   map[string]bool
}

func (s *podSimulator) run(ctx context.Context) {
	for ctx.Err() == nil {
		s.step(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *podSimulator) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

func (s *podSimulator) step(ctx context.Context) {
	sts := &appsv1.StatefulSet{}
	cm := &corev1.ConfigMap{}
	if k8sClient.Get(ctx, client.ObjectKey{Namespace: s.cpns, Name: controlplane.Etcd.ObjectName(s.name)}, sts) != nil ||
		k8sClient.Get(ctx, client.ObjectKey{Namespace: s.cpns, Name: controlplane.EtcdClusterConfigMapName(s.name)}, cm) != nil {
		return
	}
	pods := int(ptr.Deref(sts.Spec.Replicas, 1))
	members, err := s.fake.Members(ctx)
	if err != nil {
		return
	}
	if pods > len(members) {
		s.violation("the StatefulSet has %d pods for %d etcd members: a pod started before its member was added", pods, len(members))
	}
	listed := strings.Count(cm.Data[controlplane.EtcdInitialClusterKey], ",") + 1
	if pods > 1 && (listed < pods || cm.Data[controlplane.EtcdInitialClusterStateKey] != "existing") {
		s.violation("pod %d would start with ConfigMap %v", pods-1, cm.Data)
	}
	var ready int32
	for i := range pods {
		t := s.target(i)
		idx := slices.IndexFunc(members, func(m etcd.Member) bool { return slices.Contains(m.PeerURLs, t.PeerURL) })
		if idx < 0 {
			continue
		}
		if !members[idx].Started() {
			_ = s.fake.Start(t.PeerURL, t.Name) // the pod came up and joined
		}
		if !members[idx].IsLearner {
			ready++ // a learner fails /readyz
		}
	}
	st := sts.Status
	if st.ObservedGeneration != sts.Generation || st.Replicas != int32(pods) || st.ReadyReplicas != ready {
		sts.Status = appsv1.StatefulSetStatus{
			ObservedGeneration: sts.Generation, Replicas: int32(pods), ReadyReplicas: ready,
			AvailableReplicas: ready, CurrentReplicas: int32(pods), UpdatedReplicas: int32(pods),
		}
		_ = k8sClient.Status().Update(ctx, sts)
	}
	tc := &v1alpha1.TenantCluster{}
	if k8sClient.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: s.name}, tc) == nil {
		s.mu.Lock()
		s.messages[condition(tc, v1alpha1.EtcdAvailableCondition).Message] = true
		s.mu.Unlock()
	}
}
