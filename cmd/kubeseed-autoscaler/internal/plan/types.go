// Package plan decides, from a snapshot of the tenant cluster and its WorkerPools, which
// pool to grow and which node to remove. It is pure: no I/O, no clock; the caller executes
// the Result and feeds Result.Memory back into the next Input.
//
// The semantics are cluster-autoscaler's, which users know: pending pods that fit nowhere
// (not even on nodes already being created) trigger a scale-up of one pool chosen by
// least waste; a node that has been under-utilised, with pods that can all move elsewhere,
// for ScaleDownUnneededTime is removed, one per pass.
package plan

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels and annotations the planner reads.
const (
	// PoolLabel names the WorkerPool a Node belongs to.
	PoolLabel = "kubeseed.io/worker-pool"
	// DeleteMachineAnnotation marks a Node the WorkerPool controller is removing.
	DeleteMachineAnnotation = "kubeseed.io/delete-machine"
	// DrainStartedAnnotation marks a Node being drained.
	DrainStartedAnnotation = "kubeseed.io/drain-started"
	// ScaleDownDisabledAnnotation on a Node ("true") keeps the autoscaler from removing it.
	ScaleDownDisabledAnnotation = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
	// SafeToEvictAnnotation on a Pod: "false" pins its node, "true" lets a bare pod move.
	SafeToEvictAnnotation = "cluster-autoscaler.kubernetes.io/safe-to-evict"
	// MirrorPodAnnotation marks static pods; they go with their node.
	MirrorPodAnnotation = "kubernetes.io/config.mirror"
)

// NodeStartupTime is how long a NotReady Node is taken to be still booting: it is then
// modelled as an upcoming node rather than as a node pods cannot use, so its own NotReady
// taint does not trigger a second scale-up (cluster-autoscaler's max-node-startup-time).
const NodeStartupTime = 15 * time.Minute

// Pool is one WorkerPool as the planner needs it.
type Pool struct {
	Name        string
	Replicas    int32               // spec.replicas
	Autoscaled  bool                // spec.autoscaling set; false: never resized, never a candidate
	Min, Max    int32               // spec.autoscaling bounds
	Labels      map[string]string   // labels every Node of the pool gets: spec.nodeLabels + kubeseed.io/worker-pool=<name>
	Taints      []corev1.Taint      // spec.nodeTaints
	Allocatable corev1.ResourceList // status.nodeAllocatable (flavor less kubelet reservations); nil = unknown
}

// Input is one snapshot of the tenant cluster.
type Input struct {
	Now        time.Time
	Pools      []Pool
	Nodes      []*corev1.Node // every Node of the tenant; a Node's pool = label kubeseed.io/worker-pool
	Pods       []*corev1.Pod  // every Pod of the tenant
	PDBs       []*policyv1.PodDisruptionBudget
	DaemonSets []*appsv1.DaemonSet
	Memory     Memory // what the previous Plan returned
}

// Memory is the state carried from one pass to the next.
type Memory struct {
	UnneededSince              map[string]time.Time // Node name → when first seen unneeded
	LastScaleUp, LastScaleDown time.Time
}

// Config holds the cluster-autoscaler-style tunables.
type Config struct {
	ScaleDownUtilizationThreshold float64       // default 0.5
	ScaleDownUnneededTime         time.Duration // default 10m
	ScaleDownDelayAfterAdd        time.Duration // default 10m
	ScaleDownDelayAfterDelete     time.Duration // default 0
}

// DefaultConfig returns cluster-autoscaler's defaults. Plan takes zero values literally.
func DefaultConfig() Config {
	return Config{
		ScaleDownUtilizationThreshold: 0.5,
		ScaleDownUnneededTime:         10 * time.Minute,
		ScaleDownDelayAfterAdd:        10 * time.Minute,
	}
}

// ScaleUp asks for pool Pool to go from From to To replicas.
type ScaleUp struct {
	Pool     string
	From, To int32
	Pods     []types.NamespacedName // the pending pods the new nodes are for
	Reason   string                 // the scheduler's reason the pods do not fit today, e.g. "Insufficient cpu"
}

// ScaleDown asks for Node to be removed and pool Pool to go from From to To replicas.
type ScaleDown struct {
	Pool, Node string
	From, To   int32
	Reason     string // "utilisation 12% (cpu) under 50% since 10:02:03 UTC; its 3 pods fit on other nodes (…)"
}

// PodVerdict says why no pool can help a pending pod.
type PodVerdict struct {
	Pod     types.NamespacedName
	Reasons map[string]string // pool name → why a new node of that pool would not help (incl. "at max size 3", "not autoscaled")
}

// Result is what one pass decided and why.
type Result struct {
	ScaleUp       *ScaleUp               // at most one pool per pass (cluster-autoscaler does the same)
	ScaleDown     *ScaleDown             // at most one node per pass
	Unschedulable int                    // pending pods marked Unschedulable by the scheduler
	WillFit       []types.NamespacedName // pending pods that fit on existing or already-coming nodes: no action
	NoScaleUp     []PodVerdict           // pending pods no pool can help
	Unneeded      map[string]string      // node → why it is unneeded (for status)
	Held          []string               // human sentences saying why no scale-down happened (cool-downs, blockers per node)
	Memory        Memory
}
