package plan

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/kubeseed/kubeseed/cmd/kubeseed-autoscaler/internal/simulate"
)

// checker is built once: the plugins are stateless and their construction, with fixed
// arguments, cannot fail short of a broken build.
var checker = sync.OnceValue(func() *simulate.Checker {
	c, err := simulate.New()
	if err != nil {
		panic(err)
	}
	return c
})

// Plan decides one pass. It does not modify in.
func Plan(cfg Config, in Input) Result {
	c := newCluster(in, checker())
	res := Result{
		Unneeded: map[string]string{},
		Memory:   Memory{UnneededSince: map[string]time.Time{}, LastScaleUp: in.Memory.LastScaleUp, LastScaleDown: in.Memory.LastScaleDown},
	}
	c.scaleUp(&res)
	if res.ScaleUp != nil {
		res.Memory.LastScaleUp = in.Now
	}
	c.scaleDown(cfg, &res)
	if res.ScaleDown != nil {
		res.Memory.LastScaleDown = in.Now
	}
	return res
}

// cluster is the simulation of one Input.
type cluster struct {
	in      Input
	checker *simulate.Checker
	pools   []*poolState          // sorted by name
	poolOf  map[string]*poolState // by name
	podsOn  map[string][]*corev1.Pod
	base    []*simulate.Node // usable existing nodes with their pods, by name
	nodes   []*corev1.Node   // every Node, by name
	ready   map[string]bool  // Node name → Ready
	dsPods  []*simulate.Pod  // one prepared pod per DaemonSet
	pending []*pendingPod    // first-fit-decreasing order
	gone    []string         // Nodes being removed (removing), by name
}

type poolState struct {
	Pool
	nodes    []*corev1.Node // every Node with the pool's label
	active   int            // nodes not leaving and not still starting
	upcoming int            // Replicas − active, never negative
	surplus  int            // active − Replicas, never negative: the controller is removing nodes
	template *template      // nil: reason says why
	reason   string
}

type pendingPod struct {
	key      types.NamespacedName
	prepared *simulate.Pod
	cpu, mem int64
	today    map[string]int // reason → number of existing nodes giving it
}

func newCluster(in Input, chk *simulate.Checker) *cluster {
	c := &cluster{in: in, checker: chk, poolOf: map[string]*poolState{}, podsOn: map[string][]*corev1.Pod{},
		ready: map[string]bool{}}
	for _, p := range in.Pools {
		ps := &poolState{Pool: p}
		c.pools = append(c.pools, ps)
		c.poolOf[p.Name] = ps
	}
	sort.Slice(c.pools, func(i, j int) bool { return c.pools[i].Name < c.pools[j].Name })

	for _, p := range in.Pods {
		if p.Spec.NodeName != "" && !terminal(p) {
			c.podsOn[p.Spec.NodeName] = append(c.podsOn[p.Spec.NodeName], p)
		}
	}
	c.nodes = append([]*corev1.Node(nil), in.Nodes...)
	sort.Slice(c.nodes, func(i, j int) bool { return c.nodes[i].Name < c.nodes[j].Name })
	for _, n := range c.nodes {
		c.ready[n.Name] = isReady(n)
		if ps := c.poolOf[n.Labels[PoolLabel]]; ps != nil {
			ps.nodes = append(ps.nodes, n)
		}
	}
	for _, n := range c.nodes {
		ps := c.poolOf[n.Labels[PoolLabel]]
		if c.starting(n) {
			continue
		}
		if c.removing(n) {
			c.gone = append(c.gone, n.Name)
			continue
		}
		// A cordoned Node (a person's drain) still exists: it is no capacity on its
		// way, only not a place for pods.
		if ps != nil {
			ps.active++
		}
		if !n.Spec.Unschedulable {
			c.base = append(c.base, simulate.NewNode(n, c.podsOn[n.Name]))
		}
	}
	for _, ps := range c.pools {
		ps.upcoming = max(0, int(ps.Replicas)-ps.active)
		ps.surplus = max(0, ps.active-int(ps.Replicas))
	}

	for _, ds := range in.DaemonSets {
		if ds.DeletionTimestamp == nil {
			c.dsPods = append(c.dsPods, chk.Prepare(daemonSetPod(ds)))
		}
	}
	for _, ps := range c.pools {
		ps.template, ps.reason = c.buildTemplate(ps)
	}

	for _, p := range in.Pods {
		if isPending(p) && !isMirror(p) && !isDaemonSetPod(p) {
			cpu, mem := requests(p)
			c.pending = append(c.pending, &pendingPod{key: keyOf(p), prepared: chk.Prepare(p), cpu: cpu, mem: mem, today: map[string]int{}})
		}
	}
	sort.Slice(c.pending, func(i, j int) bool {
		a, b := c.pending[i], c.pending[j]
		if a.cpu != b.cpu {
			return a.cpu > b.cpu
		}
		if a.mem != b.mem {
			return a.mem > b.mem
		}
		return a.key.String() < b.key.String()
	})
	return c
}

// starting reports a Node that is NotReady but young enough to be still booting: the
// simulation replaces it by a template node of its pool rather than count its NotReady
// taint against pending pods.
func (c *cluster) starting(n *corev1.Node) bool {
	return !isReady(n) && c.in.Now.Sub(n.CreationTimestamp.Time) < NodeStartupTime
}

// removing reports a Node the WorkerPool controller is taking away: drained, or asked to
// go while its pool has more Nodes than replicas. A delete-machine annotation on a Node of
// a pool that is not shrinking only says which goes first: that Node stays.
func (c *cluster) removing(n *corev1.Node) bool {
	if _, ok := n.Annotations[DrainStartedAnnotation]; ok {
		return true
	}
	_, asked := n.Annotations[DeleteMachineAnnotation]
	ps := c.poolOf[n.Labels[PoolLabel]]
	return asked && ps != nil && len(ps.nodes) > int(ps.Replicas)
}

// leaving says why a Node is on its way out, or "".
func leaving(n *corev1.Node) string {
	if _, ok := n.Annotations[DeleteMachineAnnotation]; ok {
		return "it is annotated " + DeleteMachineAnnotation
	}
	if _, ok := n.Annotations[DrainStartedAnnotation]; ok {
		return "it is being drained"
	}
	if n.Spec.Unschedulable {
		return "it is cordoned"
	}
	return ""
}

func isReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// isPending is the scheduler having tried and failed: a pod merely not yet looked at, or
// held by a scheduling gate, is not the autoscaler's business.
func isPending(p *corev1.Pod) bool {
	if p.Spec.NodeName != "" || p.DeletionTimestamp != nil || terminal(p) {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

func isMirror(p *corev1.Pod) bool {
	_, ok := p.Annotations[MirrorPodAnnotation]
	return ok
}

func isDaemonSetPod(p *corev1.Pod) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.Kind == "DaemonSet"
}

// requests are what the scheduler counts for the pod (init containers, overhead, pod-level).
func requests(p *corev1.Pod) (milliCPU, memory int64) {
	r := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
	return r.Cpu().MilliValue(), r.Memory().Value()
}

func keyOf(p *corev1.Pod) types.NamespacedName {
	return types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
}

// summarize words the reasons a pod fits on none of total nodes the way the scheduler's
// FailedScheduling event does; when all nodes agree, the bare reason ("Insufficient cpu").
func summarize(reasons map[string]int, total int) string {
	if total == 0 {
		return "no nodes available to schedule pods"
	}
	if len(reasons) == 1 {
		for r, n := range reasons {
			if n == total {
				return r
			}
		}
	}
	parts := make([]string, 0, len(reasons))
	for r, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", total, strings.Join(parts, ", "))
}

// fmtTime is a wall-clock time for events and status: the time of day when it is today.
func fmtTime(now, t time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04:05 UTC")
	}
	return t.Format(time.RFC3339)
}

// percent writes a configured fraction: 0.55 reads "55%", not "55.00000000000001%".
func percent(f float64) string {
	return strconv.FormatFloat(math.Round(f*10000)/100, 'f', -1, 64) + "%"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
