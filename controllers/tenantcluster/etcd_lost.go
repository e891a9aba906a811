package tenantcluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// etcdContainer is the etcd StatefulSet's container (charts/tenant-control-plane).
const etcdContainer = "etcd"

// etcdPodStates is what the etcd pods say, by ordinal, while one is not ready.
type etcdPodStates struct {
	// lost: its etcd refuses to start because its member's data is gone
	// (etcd.DataLostIn: its volume was replaced or wiped).
	lost []bool
	// crashed: its etcd container ended at least once and does not run now.
	crashed []bool
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
	out.lost, out.crashed = make([]bool, n), make([]bool, n)
	for _, p := range pods.Items {
		i, err := strconv.Atoi(strings.TrimPrefix(p.Name, sts.Name+"-"))
		if err != nil || i < 0 || i >= n {
			continue
		}
		out.crashed[i], out.lost[i] = r.etcdPodEnded(ctx, &p)
	}
	return out
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
		if last == nil {
			return false, false // never ran
		}
		if etcd.DataLostIn(last.Message) {
			return true, true
		}
		words, err := r.PodLogs(ctx, p.Namespace, p.Name, etcdContainer, previous)
		return true, err == nil && etcd.DataLostIn(words)
	}
	return false, false
}

// carryWipe keeps the cluster ConfigMap's wipe marker (controlplane.EtcdWipeKey) while the
// member it names is the learner it was added back as, and restarts that member's pod once
// the marker is live and the pod crashed: the new pod's init container wipes what the lost
// member's runs left, and etcd joins as the learner. Empty once it is promoted or gone.
func (r *Reconciler) carryWipe(ctx context.Context, tc *v1alpha1.TenantCluster, live string, members []etcd.Member, targets []etcd.Target, pods etcdPodStates) (string, error) {
	name, token, _ := strings.Cut(live, "=")
	i := slices.IndexFunc(targets, func(t etcd.Target) bool { return t.Name == name })
	if i < 0 {
		return "", nil
	}
	j := slices.IndexFunc(members, func(m etcd.Member) bool { return slices.Contains(m.PeerURLs, targets[i].PeerURL) })
	if j < 0 || fmt.Sprintf("%x", members[j].ID) != token || !members[j].IsLearner {
		return "", nil
	}
	if !members[j].Started() && i < len(pods.crashed) && pods.crashed[i] {
		return live, r.restartEtcdPod(ctx, tc, name)
	}
	return live, nil
}

// restartEtcdPod deletes the pod of an etcd member added back after its data was lost: the
// StatefulSet makes it again at once, and its init container runs (an init container does
// not run again when only the crashed container restarts).
func (r *Reconciler) restartEtcdPod(ctx context.Context, tc *v1alpha1.TenantCluster, name string) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: controlplane.NamespaceOf(tc), Name: name}}
	if err := r.Client.Delete(ctx, pod); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("restart etcd pod %s: %w", name, err)
	}
	return nil
}
