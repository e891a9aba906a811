package loop

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubeseed/kubeseed/cmd/kubeseed-autoscaler/internal/plan"
)

// WorkerPools is the seed's WorkerPool resource. The autoscaler reads the few fields it
// needs as unstructured rather than importing kubeseed's API module: this module builds
// against the scheduler of k8s.io/kubernetes, the manager against newer client libraries.
var WorkerPools = schema.GroupVersionResource{Group: "kubeseed.io", Version: "v1alpha1", Resource: "workerpools"}

// workerPool is the part of a WorkerPool the autoscaler reads.
type workerPool struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ClusterName string `json:"clusterName"`
		Replicas    *int32 `json:"replicas"`
		Autoscaling *struct {
			MinReplicas int32 `json:"minReplicas"`
			MaxReplicas int32 `json:"maxReplicas"`
		} `json:"autoscaling"`
		NodeLabels map[string]string `json:"nodeLabels"`
		NodeTaints []corev1.Taint    `json:"nodeTaints"`
	} `json:"spec"`
	Status struct {
		NodeAllocatable corev1.ResourceList `json:"nodeAllocatable"`
	} `json:"status"`
}

// decodePool reads a WorkerPool; a pool being deleted is never resized.
func decodePool(u *unstructured.Unstructured) (plan.Pool, error) {
	var wp workerPool
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &wp); err != nil {
		return plan.Pool{}, fmt.Errorf("read WorkerPool %s: %w", u.GetName(), err)
	}
	labels := map[string]string{plan.PoolLabel: wp.Name}
	for k, v := range wp.Spec.NodeLabels {
		labels[k] = v
	}
	p := plan.Pool{
		Name:        wp.Name,
		Replicas:    1, // the API's default
		Labels:      labels,
		Taints:      wp.Spec.NodeTaints,
		Allocatable: wp.Status.NodeAllocatable,
	}
	if wp.Spec.Replicas != nil {
		p.Replicas = *wp.Spec.Replicas
	}
	if wp.Spec.Autoscaling != nil && wp.DeletionTimestamp == nil {
		p.Autoscaled, p.Min, p.Max = true, wp.Spec.Autoscaling.MinReplicas, wp.Spec.Autoscaling.MaxReplicas
	}
	return p, nil
}
