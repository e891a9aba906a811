package tenantcluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// The restore pod as the controller reads it, and what it keeps of restores in memory.

// nodeLostAfter is how long the restore pod's node may be not Ready before the pod is
// deleted without grace and made again: as long as the node lifecycle controller's own
// eviction wait, since a pod on a node that comes back would still write its volume.
const nodeLostAfter = 5 * time.Minute

// restoreNodeLost says why the restore pod's node will not run it to its end: it is gone,
// or not Ready for longer than nodeLostAfter. Empty while it may.
func (r *Reconciler) restoreNodeLost(ctx context.Context, pod *corev1.Pod) (string, error) {
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return "", nil
	}
	node := &corev1.Node{}
	switch err := r.apiReader().Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); {
	case apierrors.IsNotFound(err):
		return "is gone", nil
	case err != nil:
		return "", fmt.Errorf("read node %s of the restore pod: %w", pod.Spec.NodeName, err)
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue && time.Since(c.LastTransitionTime.Time) > nodeLostAfter {
			return fmt.Sprintf("is not Ready since %s (%s)", c.LastTransitionTime.UTC().Format(time.RFC3339), c.Reason), nil
		}
	}
	return "", nil
}

// forceDeletePod deletes a pod whose kubelet will never confirm it.
func (r *Reconciler) forceDeletePod(ctx context.Context, pod *corev1.Pod) error {
	err := r.Client.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID})
	if client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete restore pod %s from its lost node: %w", pod.Name, err)
	}
	return nil
}

// receiverRunning says whether the restore pod's receiver runs: the snapshot can go in.
func receiverRunning(pod *corev1.Pod) bool {
	for _, st := range pod.Status.InitContainerStatuses {
		if st.Name == controlplane.EtcdRestoreReceiver {
			return st.State.Running != nil
		}
	}
	return false
}

// restorePodProgress says what the restore pod is at, when its receiver does not run.
func restorePodProgress(pod *corev1.Pod) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
			return "the restore pod cannot be scheduled: " + c.Message
		}
	}
	for _, st := range pod.Status.InitContainerStatuses {
		if st.Name == controlplane.EtcdRestoreReceiver && st.State.Terminated != nil && st.State.Terminated.ExitCode == 0 {
			return "etcdutl restores the snapshot"
		}
	}
	for _, st := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if w := st.State.Waiting; w != nil && w.Reason != "" && w.Reason != "PodInitializing" && w.Reason != "ContainerCreating" {
			return fmt.Sprintf("container %s of the restore pod waits: %s %s", st.Name, w.Reason, w.Message)
		}
	}
	return "the restore pod is starting"
}

// podFailedAt is when the restore pod's last container ended (its start when none says).
func podFailedAt(pod *corev1.Pod) time.Time {
	at := pod.CreationTimestamp.Time
	for _, st := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if t := st.State.Terminated; t != nil && t.FinishedAt.After(at) {
			at = t.FinishedAt.Time
		}
	}
	return at
}

// podFailure says why a restore pod failed, from its containers' ends.
func podFailure(pod *corev1.Pod) string {
	var out []string
	for _, st := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if t := st.State.Terminated; t != nil && t.ExitCode != 0 {
			msg := fmt.Sprintf("%s exited %d", st.Name, t.ExitCode)
			if m := strings.TrimSpace(t.Message); m != "" {
				msg += ": " + openstack.CleanMessage(m, 512)
			}
			out = append(out, msg)
		}
	}
	if len(out) == 0 {
		return pod.Status.Reason + " " + pod.Status.Message
	}
	return strings.Join(out, "; ")
}

// restoreMemory is what the manager keeps of tenants being restored, by restoreKey: the
// backup opened (so its manifest and key are read once, not every poll) and the pod each
// stream went into. Forgotten once etcd's data is restored or the tenant goes.
type restoreMemory struct {
	mu      sync.Mutex
	pods    map[string]types.UID
	sources map[string]*restoreSource
}

func (rm *restoreMemory) note(key string, uid types.UID) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.pods == nil {
		rm.pods = map[string]types.UID{}
	}
	rm.pods[key] = uid
}

func (rm *restoreMemory) pod(key string) types.UID {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.pods[key]
}

// source is the backup opened for key, if it is still the restore target's of the tenant.
func (rm *restoreMemory) source(key string, tc *v1alpha1.TenantCluster, target v1alpha1.RestoreSpec) *restoreSource {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	src := rm.sources[key]
	if src == nil || src.tenant != tc.UID || src.spec != target || src.ref != restoreStoreRef(tc, target) {
		return nil
	}
	return src
}

func (rm *restoreMemory) keep(key string, src *restoreSource) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.sources == nil {
		rm.sources = map[string]*restoreSource{}
	}
	rm.sources[key] = src
}

func (rm *restoreMemory) forget(key string) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	delete(rm.pods, key)
	delete(rm.sources, key)
}

// splitRestoreObjects takes the restore's objects (its pod and claim) out of rendered: the
// restore makes them, the applier never sees them.
func splitRestoreObjects(rendered []*unstructured.Unstructured) (rest, restore []*unstructured.Unstructured) {
	for _, o := range rendered {
		if k := o.GetKind(); o.GetAPIVersion() == "v1" && (k == "Pod" || k == "PersistentVolumeClaim") {
			restore = append(restore, o)
			continue
		}
		rest = append(rest, o)
	}
	return rest, restore
}

// etcdRestoreInput renders the restore pod while etcd is restored. The token is the
// tenant's UID and the backup's name: the restored cluster's ID is its own, never the
// backed-up one's nor an earlier restore's.
func etcdRestoreInput(tc *v1alpha1.TenantCluster, ro restoration) *controlplane.EtcdRestore {
	if !ro.active {
		return nil
	}
	return &controlplane.EtcdRestore{Token: string(tc.UID) + "-" + ro.src.manifest.Name, Backup: ro.src.manifest.Name, SnapshotBytes: ro.src.manifest.SnapshotBytes}
}
