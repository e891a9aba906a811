//go:build envtest

package tenantcluster_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
)

// TestEtcdMemberThatLostItsDataIsAddedBack: a member of three whose pod says its data is
// gone (etcd's own words, as a member started on a replaced volume says them) is removed
// while the other two keep the quorum, added back as a learner, its pod told to wipe what
// its crashed runs left (the cluster ConfigMap) and restarted, then promoted, the marker
// dropped. It is told so either by etcd's last words or by the refusal of the pod's init
// container to start etcd on an empty data directory (which etcd, after a change of leader,
// would join under the member's old ID without a word). envtest runs no pods: the test
// makes the pod and says what its kubelet would, and etcd is a fake;
// e2e/tenantcluster_test.go replaces a real member's volume.
func TestEtcdMemberThatLostItsDataIsAddedBack(t *testing.T) {
	for _, c := range []struct {
		name      string
		container string
		lastWords string
	}{
		{"amnesia", "etcd", "panic: tocommit(1207) is out of range [lastIndex(0)]. Was the raft log corrupted, truncated, or lost?"},
		{"amnesia-init", "wipe", controlplane.EtcdNoDataReport + "/var/lib/etcd/data while its cluster runs: the data of member amnesia-init-etcd-1 is lost"},
	} {
		t.Run(c.container, func(t *testing.T) { testMemberAddedBack(t, c.name, c.container, c.lastWords) })
	}
}

func testMemberAddedBack(t *testing.T, name, container, lastWords string) {
	ctx := context.Background()
	ns := newNamespace(t)
	cpns := controlplane.NamespaceName(ns, name)
	target := func(i int) etcd.Target {
		return etcd.Target{Name: controlplane.EtcdMemberName(name, i), PeerURL: controlplane.EtcdPeerURL(name, cpns, i)}
	}
	fake := etcd.NewFake(target(0), target(1), target(2)) // IDs 1, 2, 3
	fakeEtcds.Store(controlplane.EtcdClientURL(name, cpns), fake)
	t.Cleanup(func() { fakeEtcds.Delete(controlplane.EtcdClientURL(name, cpns)) })

	tc := small(ns, name)
	tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](3)
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	setEtcdReady(t, cpns, name)
	waitFor(t, tc, "etcd available", func(tc *v1alpha1.TenantCluster) bool {
		return condition(tc, v1alpha1.EtcdAvailableCondition).Status == metav1.ConditionTrue
	})

	// Member 1's volume was replaced: its etcd stops at the leader's first heartbeat, or
	// its init container refuses the empty directory.
	fake.SetProblem(target(1).Name, "connection refused")
	pod := crashedEtcdPod(t, ctx, cpns, name, target(1).Name, container, lastWords)
	setEtcdStatusReady(t, ctx, cpns, name, 2)

	eventually(t, "member 1 removed and added back as a learner", time.Minute, func(context.Context) bool {
		return slices.Equal(fake.Calls(), []string{"Remove 2", "AddLearner " + target(1).PeerURL})
	})
	cm := &corev1.ConfigMap{}
	eventually(t, "its pod told to wipe for the new member", time.Minute, func(ctx context.Context) bool {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: controlplane.EtcdClusterConfigMapName(name)}, cm) == nil &&
			cm.Data[controlplane.EtcdWipeKey] == target(1).Name+"=4"
	})
	eventually(t, "the crashed pod restarted, so its init container wipes", time.Minute, func(ctx context.Context) bool {
		got := &corev1.Pod{}
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), got)
		return apierrors.IsNotFound(err) || err == nil && got.UID != pod.UID || err == nil && !got.DeletionTimestamp.IsZero()
	})
	var events corev1.EventList
	if err := k8sClient.List(ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events.Items, func(e corev1.Event) bool { return e.Reason == "EtcdMemberDataLost" }) {
		t.Error("no EtcdMemberDataLost event")
	}

	// The new pod's etcd joins as the learner and catches up.
	if err := fake.Start(target(1).PeerURL, target(1).Name); err != nil {
		t.Fatal(err)
	}
	fake.SetProblem(target(1).Name, "")
	eventually(t, "the learner promoted and the marker dropped", time.Minute, func(ctx context.Context) bool {
		return slices.Contains(fake.Calls(), "Promote 4") &&
			k8sClient.Get(ctx, client.ObjectKeyFromObject(cm), cm) == nil && cm.Data[controlplane.EtcdWipeKey] == ""
	})
	setEtcdStatusReady(t, ctx, cpns, name, 3)
	waitFor(t, tc, "etcd available with three members", func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.EtcdAvailableCondition)
		return c.Status == metav1.ConditionTrue && c.Reason == v1alpha1.AvailableReason
	})
	if got := fake.Calls(); len(got) != 3 {
		t.Errorf("etcd saw %v, want the removal, the learner and its promotion only", got)
	}
}

// crashedEtcdPod makes etcd pod podName as its kubelet reports a container ("etcd" or the
// init container "wipe") that ended with lastWords and waits in back-off.
func crashedEtcdPod(t *testing.T, ctx context.Context, cpns, cluster, podName, container, lastWords string) *corev1.Pod {
	t.Helper()
	restricted := &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: podName, Labels: controlplane.Labels(cluster, controlplane.Etcd)},
		Spec: corev1.PodSpec{
			// The control-plane namespace enforces Pod Security "restricted".
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers:      []corev1.Container{{Name: "etcd", Image: "etcd", SecurityContext: restricted}},
		},
	}
	if container != "etcd" {
		pod.Spec.InitContainers = []corev1.Container{{Name: container, Image: "tunnel", SecurityContext: restricted}}
	}
	if err := k8sClient.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	crashed := corev1.ContainerStatus{
		Name: container, RestartCount: 3,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Message: lastWords}},
	}
	if container == "etcd" {
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{crashed}
	} else {
		pod.Status.InitContainerStatuses = []corev1.ContainerStatus{crashed}
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "etcd", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
	}
	if err := k8sClient.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// setEtcdStatusReady says ready of the etcd StatefulSet's pods are ready.
func setEtcdStatusReady(t *testing.T, ctx context.Context, cpns, cluster string, ready int32) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sts := &appsv1.StatefulSet{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: controlplane.Etcd.ObjectName(cluster)}, sts); err != nil {
			return err
		}
		n := ptr.Deref(sts.Spec.Replicas, 1)
		sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, Replicas: n, ReadyReplicas: ready, AvailableReplicas: ready, CurrentReplicas: n, UpdatedReplicas: n}
		return k8sClient.Status().Update(ctx, sts)
	})
	if err != nil {
		t.Fatal(fmt.Errorf("etcd status: %w", err))
	}
}
