package tenantcluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
)

// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get

// PodLogs reads the end of a container's log, of its previous run when previous: how the
// manager learns that an etcd member lost its data (pkg/podexec is the real one).
type PodLogs func(ctx context.Context, namespace, pod, container string, previous bool) (string, error)

// etcdContainer and etcdWipeContainer are the etcd StatefulSet's container and init
// container (charts/tenant-control-plane).
const (
	etcdContainer     = "etcd"
	etcdWipeContainer = "wipe"
)

// etcdPodStates is what the etcd pods say, by ordinal, while one is not ready.
type etcdPodStates struct {
	// lost: its etcd refuses to start because its member's data is gone or unreadable
	// (etcd.DataLostIn: its volume was replaced, wiped or damaged).
	lost []bool
	// crashed: its etcd container ended at least once and does not run now.
	crashed []bool
	// uids are the pods', to restart the one read and no other.
	uids []types.UID
	// wiped is the token the pod's init container "wipe" ran with (its termination
	// message), empty when it ran with none for this pod.
	wiped []string
	// refused: its init container refused an empty data directory (noData).
	refused []bool
}

// etcdPods reads the etcd pods whose container is not running, and only while the
// StatefulSet has a pod that is not ready: a settled tenant costs no read.
func (r *Reconciler) etcdPods(ctx context.Context, s *scope, sts *appsv1.StatefulSet) etcdPodStates {
	var out etcdPodStates
	if sts == nil || r.PodLogs == nil || sts.Status.ReadyReplicas >= ptr.Deref(sts.Spec.Replicas, 1) {
		return out
	}
	pods := &corev1.PodList{}
	if err := r.apiReader().List(ctx, pods, client.InNamespace(s.namespace()), client.MatchingLabels(controlplane.Labels(s.tc.Name, controlplane.Etcd))); err != nil {
		return out // the next reconcile looks again
	}
	n := int(ptr.Deref(sts.Spec.Replicas, 1))
	out.lost, out.crashed, out.uids, out.wiped, out.refused = make([]bool, n), make([]bool, n), make([]types.UID, n), make([]string, n), make([]bool, n)
	for _, p := range pods.Items {
		i, err := strconv.Atoi(strings.TrimPrefix(p.Name, sts.Name+"-"))
		if err != nil || i < 0 || i >= n {
			continue
		}
		out.crashed[i], out.lost[i] = r.etcdPodEnded(ctx, &p)
		out.uids[i] = p.UID
		for _, st := range p.Status.InitContainerStatuses {
			if st.Name != etcdWipeContainer {
				continue
			}
			if t := st.State.Terminated; t != nil {
				out.wiped[i] = strings.TrimPrefix(strings.TrimSpace(t.Message), "token=")
			}
			if noData(st) {
				// Its init container refused an empty data directory: etcd never ran.
				out.crashed[i], out.lost[i], out.refused[i] = true, true, true
			}
		}
	}
	return out
}

// noData says whether the wipe init container refused its data directory for holding no
// member data while the cluster runs (controlplane.EtcdNoDataReport): it just did, or did
// at its last run and waits in back-off. A refusal followed by a run that passed is over.
func noData(st corev1.ContainerStatus) bool {
	t := st.State.Terminated
	if st.State.Waiting != nil {
		t = st.LastTerminationState.Terminated
	}
	return t != nil && t.ExitCode != 0 && strings.HasPrefix(t.Message, controlplane.EtcdNoDataReport)
}

// etcdPodEnded says whether a pod's etcd container ended and does not run, and whether its
// last words (its termination message, else the end of its log) say its data is lost.
func (r *Reconciler) etcdPodEnded(ctx context.Context, p *corev1.Pod) (ended, lost bool) {
	for _, st := range p.Status.ContainerStatuses {
		if st.Name != etcdContainer || st.State.Running != nil {
			continue
		}
		last, previous := st.State.Terminated, false
		if last == nil {
			last, previous = st.LastTerminationState.Terminated, true
		}
		switch {
		case last == nil:
			return false, false // never ran
		case last.Reason == "OOMKilled":
			return true, false // killed from outside: its last words are not etcd's verdict
		case etcd.DataLostIn(last.Message):
			return true, true
		}
		words, err := r.PodLogs(ctx, p.Namespace, p.Name, etcdContainer, previous)
		return true, err == nil && etcd.DataLostIn(words)
	}
	return false, false
}

// wipeMarker works out the cluster ConfigMap's wipe marker (controlplane.EtcdWipeKey) from
// what etcd and the pods say, each time etcd is asked: it names the pending learner until
// that learner starts (a learner that never started holds nothing, so wiping its volume is
// always safe, and the marker is what lets its pod start on an empty volume in a running
// cluster). Once the live ConfigMap names it (live) and its pod crashed, the pod is
// restarted: an init container runs only when a pod starts, and the new pod's wipes what
// the lost member's runs left before etcd joins as the learner. A voting member that
// never started and whose pod was refused an empty directory (a member of the first
// bootstrap whose pod never ran before the cluster grew) is named the same way: its
// directory is empty, and it joins as it would have. Empty otherwise.
func (r *Reconciler) wipeMarker(ctx context.Context, tc *v1alpha1.TenantCluster, live string, members []etcd.Member, targets []etcd.Target, pods etcdPodStates) (string, error) {
	for i, t := range targets {
		j := slices.IndexFunc(members, func(m etcd.Member) bool { return slices.Contains(m.PeerURLs, t.PeerURL) })
		if j < 0 || members[j].Started() || !members[j].IsLearner && (i >= len(pods.refused) || !pods.refused[i]) {
			continue
		}
		token := fmt.Sprintf("%x", members[j].ID)
		want := t.Name + "=" + token
		if crashed := i < len(pods.crashed) && pods.crashed[i]; live == want && crashed && pods.wiped[i] != token {
			// Started before the marker was live: a new pod wipes. One that ran its wipe
			// with the marker crashes for another reason, and backs off as any pod.
			return want, r.restartEtcdPod(ctx, tc, t.Name, pods.uids[i])
		}
		return want, nil
	}
	return "", nil
}

// restartEtcdPod deletes the pod of an etcd member added back after its data was lost: the
// StatefulSet makes it again at once, and its init container runs (an init container does
// not run again when only the crashed container restarts).
func (r *Reconciler) restartEtcdPod(ctx context.Context, tc *v1alpha1.TenantCluster, name string, uid types.UID) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: controlplane.NamespaceOf(tc), Name: name}}
	// The pod read crashed, not one the StatefulSet made since.
	err := r.Client.Delete(ctx, pod, client.Preconditions{UID: &uid})
	if client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("restart etcd pod %s: %w", name, err)
	}
	return nil
}

// etcdLiveImages reads the images of the etcd StatefulSet's etcd and wipe containers.
func etcdLiveImages(sts *appsv1.StatefulSet) (out struct{ Etcd, Wipe string }) {
	if sts == nil {
		return out
	}
	for _, c := range sts.Spec.Template.Spec.Containers {
		if c.Name == etcdContainer {
			out.Etcd = c.Image
		}
	}
	for _, c := range sts.Spec.Template.Spec.InitContainers {
		if c.Name == etcdWipeContainer {
			out.Wipe = c.Image
		}
	}
	return out
}
