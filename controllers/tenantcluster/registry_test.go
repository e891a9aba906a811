package tenantcluster

import (
	"context"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// testComponent is a component only this test knows: one registry row is all it takes for
// observation, holds, status and events to handle it.
var testComponent = controlplane.ComponentSpec{
	Component: "kube-test", Workload: controlplane.Deployment, Condition: "TestComponentAvailable",
	Hold: controlplane.HoldForAPIServer, Container: "kube-test",
}

func withTestRow(t *testing.T) {
	t.Helper()
	saved := controlplane.Registry
	controlplane.Registry = append(slices.Clone(saved), testComponent)
	t.Cleanup(func() { controlplane.Registry = saved })
}

// TestRegistryRowIsPickedUp: a row added to controlplane.Registry is observed from its
// workload, held like its kind, reported in status (Ready names it) and in events. The
// seed is a fake client here: this checks the registry's wiring; envtest and the e2e tier
// check the real API server and pods.
func TestRegistryRowIsPickedUp(t *testing.T) {
	withTestRow(t)
	tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "p1", Name: "acme", UID: "uid-acme", Generation: 1}}
	tc.Spec.Version = "v1.36.3"
	cpns := controlplane.NamespaceOf(tc)
	deployment := func(c controlplane.Component, available int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: c.ObjectName("acme"), Generation: 1},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: available},
		}
	}
	seed := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(
		deployment(controlplane.APIServer, 1), deployment(testComponent.Component, 0),
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: "acme-kube-test-x", Labels: controlplane.Labels("acme", testComponent.Component)},
			Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu.",
			}}},
		},
	).Build()
	r := &Reconciler{Client: seed}
	s := &scope{tc: tc, ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cpns}}, o: newObserved()}

	if _, err := r.reconcileHolds(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if s.o.held[testComponent.Component] {
		t.Errorf("the test component is held although the kube-apiserver answered")
	}
	if _, err := r.observeComponents(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	got := s.o.checks[testComponent.Condition]
	if got.ok || got.reason != v1alpha1.UnschedulableReason || !strings.Contains(got.message, "Insufficient cpu") {
		t.Errorf("observed %+v, want Unschedulable naming the scheduler's cause", got)
	}

	for _, c := range controlplane.Conditions() {
		if c.Ready && c.Type != testComponent.Condition {
			s.o.checks[c.Type] = check{ok: true, reason: v1alpha1.AvailableReason}
		}
	}
	before := tc.DeepCopy()
	setStatus(tc, s.o)
	c := meta.FindStatusCondition(tc.Status.Conditions, testComponent.Condition)
	ready := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition)
	if c == nil || c.Reason != v1alpha1.UnschedulableReason || ready == nil || ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, testComponent.Condition) {
		t.Errorf("status: %s = %+v, Ready = %+v; want the row's condition, and Ready naming it", testComponent.Condition, c, ready)
	}

	rec := events.NewFakeRecorder(10)
	(&Reconciler{Recorder: rec}).recordTransitions(before, tc)
	close(rec.Events)
	var all []string
	for e := range rec.Events {
		all = append(all, e)
	}
	if !slices.ContainsFunc(all, func(e string) bool { return strings.Contains(e, testComponent.Condition) }) {
		t.Errorf("events %q do not name %s", all, testComponent.Condition)
	}
}
