package health

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// TestPods: the condition reason and message a component's pods give, the first pod by name
// with a problem deciding.
func TestPods(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	pod := func(name string, mutate func(*corev1.Pod)) corev1.Pod {
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/c:v1"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(now.Add(-time.Hour))}},
			}}},
		}
		if mutate != nil {
			mutate(&p)
		}
		return p
	}
	waiting := func(reason string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].Ready = false
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "details"}}
		}
	}
	restarted := func(n int32) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].RestartCount = n
			p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", FinishedAt: metav1.NewTime(now.Add(-time.Minute)),
			}}
		}
	}
	for _, c := range []struct {
		name       string
		pods       []corev1.Pod
		wantOK     bool
		wantReason string
		wantIn     string
	}{
		{name: "healthy", pods: []corev1.Pod{pod("a", nil)}, wantOK: true},
		{name: "no pods", wantOK: true},
		{name: "unschedulable", pods: []corev1.Pod{pod("a", func(p *corev1.Pod) {
			p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu.",
			}}}
		})}, wantReason: v1alpha1.UnschedulableReason, wantIn: "pod a: not scheduled (Unschedulable): 0/1 nodes are available: 1 Insufficient cpu."},
		{name: "image pull", pods: []corev1.Pod{pod("a", waiting("ImagePullBackOff"))}, wantReason: v1alpha1.ImagePullFailedReason, wantIn: "pod a: container c: ImagePullBackOff (image registry.k8s.io/c:v1)"},
		{name: "crash loop", pods: []corev1.Pod{pod("a", waiting("CrashLoopBackOff"))}, wantReason: v1alpha1.CrashLoopingReason, wantIn: "CrashLoopBackOff"},
		{name: "config error", pods: []corev1.Pod{pod("a", waiting("CreateContainerConfigError"))}, wantReason: v1alpha1.ContainerFailingReason, wantIn: "CreateContainerConfigError"},
		{name: "still creating is no problem", pods: []corev1.Pod{pod("a", waiting("ContainerCreating"))}, wantOK: true},
		{name: "one restart, running again, is no crash loop", pods: []corev1.Pod{pod("a", restarted(1))}, wantOK: true},
		{name: "a second restart is", pods: []corev1.Pod{pod("a", restarted(2))}, wantReason: v1alpha1.CrashLoopingReason, wantIn: "pod a: container c: restarting; last exited with code 1 (Error)"},
		{name: "first pod by name decides", pods: []corev1.Pod{pod("b", waiting("CrashLoopBackOff")), pod("a", waiting("ImagePullBackOff"))},
			wantReason: v1alpha1.ImagePullFailedReason, wantIn: "pod a:"},
		{name: "a terminating pod alone is no cause", pods: []corev1.Pod{pod("a", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now} })}, wantOK: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			reason, msg, ok := Pods(c.pods, now)
			if ok != c.wantOK || reason != c.wantReason || !strings.Contains(msg, c.wantIn) {
				t.Errorf("Pods = %q, %q, %t; want %q, containing %q, %t", reason, msg, ok, c.wantReason, c.wantIn, c.wantOK)
			}
		})
	}
}

// TestPodsMessageIsStable: a crash loop that goes on (more restarts, a later exit, time
// passing) gives the same condition message: one that changed by itself would write status,
// and wake the reconciler, at every reconcile.
func TestPodsMessageIsStable(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	crashing := func(restarts int32, finished time.Time) []corev1.Pod {
		return []corev1.Pod{{
			ObjectMeta: metav1.ObjectMeta{Name: "a"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "c", RestartCount: restarts,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container=c"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error", FinishedAt: metav1.NewTime(finished),
				}},
			}}},
		}}
	}
	_, first, _ := Pods(crashing(3, now.Add(-20*time.Second)), now)
	_, later, _ := Pods(crashing(7, now.Add(2*time.Minute)), now.Add(4*time.Minute))
	if first != later || !strings.Contains(first, "CrashLoopBackOff; last exited with code 1 (Error)") {
		t.Errorf("messages %q then %q: want one stable message naming the crash loop and the exit", first, later)
	}
}
