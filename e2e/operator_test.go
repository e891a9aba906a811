//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeseed/kubeseed/pkg/install"
)

// TestOperatorInstallIsIdempotent installs the operator a second time (TestMain did the
// first): the release is upgraded in place, the manager stays available and its pod is not
// replaced, since nothing changed.
func TestOperatorInstallIsIdempotent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	before := managerPods(t, ctx)
	if err := installOperator(ctx, t.Logf); err != nil {
		t.Fatalf("second install: %v", err)
	}
	after := managerPods(t, ctx)
	if len(before) == 0 || len(after) != len(before) {
		t.Fatalf("manager pods before %v, after %v", before, after)
	}
	for uid := range before {
		if !after[uid] {
			t.Errorf("manager pod %s was replaced by a reinstall that changed nothing", uid)
		}
	}
	dep := &appsv1.Deployment{}
	if err := kube.Get(ctx, types.NamespacedName{Namespace: install.DefaultNamespace, Name: "kubeseed-manager"}, dep); err != nil {
		t.Fatalf("manager Deployment: %v", err)
	}
	if dep.Status.AvailableReplicas < 1 {
		t.Errorf("manager Deployment has no available replica: %+v", dep.Status)
	}
}

func managerPods(t *testing.T, ctx context.Context) map[types.UID]bool {
	t.Helper()
	pods, err := clients.CoreV1().Pods(install.DefaultNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[types.UID]bool{}
	for _, p := range pods.Items {
		// A pod of a finished rollout may still be terminating: it is not the manager.
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out[p.UID] = true
		}
	}
	return out
}
