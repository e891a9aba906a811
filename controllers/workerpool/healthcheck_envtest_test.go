//go:build envtest

package workerpool_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// TestUnhealthyNodesAreReplaced: a Node NotReady for longer than unhealthyTimeout has its
// server replaced (a new one first, maxSurge 1), with a Warning event naming the server
// and why; with more sick servers than maxUnhealthy none is replaced and NodesReady says
// so.
func TestUnhealthyNodesAreReplaced(t *testing.T) {
	w := newWorld(t)
	one := intstr.FromInt32(1)
	wp := w.pool("heal-"+w.ns[len(w.ns)-5:], 3, func(wp *v1alpha1.WorkerPool) {
		wp.Spec.HealthCheck = v1alpha1.HealthCheckSpec{UnhealthyTimeout: &metav1.Duration{Duration: 2 * time.Second}, MaxUnhealthy: &one}
	})
	create(t, wp)
	w.fakeKubelets(t, wp.Name)
	waitPool(t, wp, time.Minute, "three servers joined", readyWith(3))
	before := poolServers(t, w.cloud, wp)

	// One Node goes NotReady.
	sick := before[1]
	notReadySince(t, sick.Name, time.Now().Add(-time.Minute))
	waitPool(t, wp, time.Minute, "the sick server replaced and the pool Ready again", func(wp *v1alpha1.WorkerPool) bool {
		if !readyWith(3)(wp) {
			return false
		}
		for _, s := range poolServers(t, w.cloud, wp) {
			if s.ID == sick.ID {
				return false
			}
		}
		return true
	})
	if !hasEventQuickly(t, wp, "ServerRemediated") {
		t.Error("no ServerRemediated event")
	}
	kept := map[string]bool{}
	for _, s := range poolServers(t, w.cloud, wp) {
		kept[s.ID] = true
	}
	if !kept[before[0].ID] || !kept[before[2].ID] {
		t.Errorf("servers %v: a healthy one went too, only %s was sick", names(poolServers(t, w.cloud, wp)), sick.Name)
	}

	// Two at once: more than maxUnhealthy 1, nothing is replaced.
	now := poolServers(t, w.cloud, wp)
	for _, s := range now[:2] {
		notReadySince(t, s.Name, time.Now().Add(-time.Minute))
	}
	waitPool(t, wp, 30*time.Second, "NodesReady=False TooManyUnhealthy", func(wp *v1alpha1.WorkerPool) bool {
		c := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.NodesReadyCondition)
		return c != nil && c.Reason == v1alpha1.TooManyUnhealthyReason && strings.Contains(c.Message, "2 servers are unhealthy, more than spec.healthCheck.maxUnhealthy allows (1)")
	})
	time.Sleep(2 * time.Second)
	after := poolServers(t, w.cloud, wp)
	if len(after) != 3 || after[0].ID != now[0].ID || after[1].ID != now[1].ID {
		t.Fatalf("servers %v changed while too many were sick", names(after))
	}
}

// notReadySince marks the Node NotReady since then, as the node lifecycle controller does
// when its kubelet stops posting.
func notReadySince(t *testing.T, name string, then time.Time) {
	t.Helper()
	node := &corev1.Node{}
	if err := tenantClient.Get(context.Background(), client.ObjectKey{Name: name}, node); err != nil {
		t.Fatal(err)
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
		LastTransitionTime: metav1.NewTime(then), LastHeartbeatTime: metav1.NewTime(then)}}
	if err := tenantClient.Status().Update(context.Background(), node); err != nil {
		t.Fatal(err)
	}
}
