package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeseed/kubeseed/cmd/kubeseed-autoscaler/internal/simulate"
)

// candidate is an under-utilised Ready node of an autoscaled pool.
type candidate struct {
	node     *corev1.Node
	pool     *poolState
	util     float64
	resource string        // the resource util is for: "cpu" or "memory"
	pods     []*corev1.Pod // the pods that would have to move
}

// scaleDown marks unneeded nodes (under-utilised, pods all movable and fitting elsewhere),
// remembers since when, and removes the least utilised one that has been unneeded long
// enough, unless something holds scale-down back.
func (c *cluster) scaleDown(cfg Config, res *Result) {
	holds := c.holds(cfg, res)
	now := c.in.Now

	var cands []*candidate
	isCand := map[string]*candidate{}
	for _, n := range c.nodes {
		ps := c.poolOf[n.Labels[PoolLabel]]
		if ps == nil || !ps.Autoscaled || !c.ready[n.Name] || leaving(n) != "" {
			continue
		}
		cd := &candidate{node: n, pool: ps}
		cd.util, cd.resource = c.utilisation(n)
		if cd.util >= cfg.ScaleDownUtilizationThreshold {
			continue
		}
		cands = append(cands, cd)
		isCand[n.Name] = cd
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].util < cands[j].util })

	// Destinations: busy nodes first so that pods do not land on the next candidate, then
	// candidates from the busiest down. Only Ready nodes count: pods cannot go elsewhere.
	work := map[string]*simulate.Node{}
	var dests []string
	for _, n := range c.base {
		if c.ready[n.Name()] {
			work[n.Name()] = n.Clone()
			if isCand[n.Name()] == nil {
				dests = append(dests, n.Name())
			}
		}
	}
	for i := len(cands) - 1; i >= 0; i-- {
		dests = append(dests, cands[i].node.Name)
	}

	type unneededNode struct {
		*candidate
		since time.Time
	}
	var unneeded []unneededNode
	gone := map[string]bool{}           // nodes unneeded in this pass: no destination
	receivedFrom := map[string]string{} // node → the unneeded node whose pods it would take
	perPool := map[string]int{}         // unneeded nodes per pool in this pass
	var blocked []string
	for _, cd := range cands {
		why, moved := c.removable(cd, perPool[cd.pool.Name], receivedFrom[cd.node.Name], work, dests, gone)
		if why != "" {
			blocked = append(blocked, fmt.Sprintf("node %s (utilisation %s %s) is not removable: %s",
				cd.node.Name, floorPercent(cd.util), cd.resource, why))
			continue
		}
		for dest := range moved {
			if _, ok := receivedFrom[dest]; !ok {
				receivedFrom[dest] = cd.node.Name
			}
		}
		gone[cd.node.Name] = true
		perPool[cd.pool.Name]++
		since, ok := c.in.Memory.UnneededSince[cd.node.Name]
		if !ok || since.After(now) {
			since = now
		}
		res.Memory.UnneededSince[cd.node.Name] = since
		res.Unneeded[cd.node.Name] = fmt.Sprintf("utilisation %s (%s) under %s since %s; %s",
			floorPercent(cd.util), cd.resource, percent(cfg.ScaleDownUtilizationThreshold), fmtTime(now, since), movedPhrase(len(cd.pods), moved))
		unneeded = append(unneeded, unneededNode{cd, since})
	}

	res.Held = append(res.Held, holds...)
	res.Held = append(res.Held, blocked...)
	if len(holds) > 0 {
		return
	}
	for _, u := range unneeded { // least utilised first
		if now.Sub(u.since) >= cfg.ScaleDownUnneededTime {
			res.ScaleDown = &ScaleDown{Pool: u.pool.Name, Node: u.node.Name, From: u.pool.Replicas, To: u.pool.Replicas - 1,
				Reason: res.Unneeded[u.node.Name]}
			return
		}
	}
	for _, u := range unneeded {
		res.Held = append(res.Held, fmt.Sprintf("node %s is unneeded since %s, removable from %s (scale-down-unneeded-time %s)",
			u.node.Name, fmtTime(now, u.since), fmtTime(now, u.since.Add(cfg.ScaleDownUnneededTime)), cfg.ScaleDownUnneededTime))
	}
}

// holds are the reasons no node may be removed in this pass at all.
func (c *cluster) holds(cfg Config, res *Result) []string {
	var out []string
	now := c.in.Now
	if up := res.ScaleUp; up != nil {
		out = append(out, fmt.Sprintf("no scale-down while scaling up pool %s %d→%d", up.Pool, up.From, up.To))
	}
	// Only autoscaled pools' coming nodes hold: a fixed pool with a server that never
	// joins would otherwise stop every scale-down of the tenant.
	// Their pods are still to be placed: the free room the next removal would count on
	// may be theirs.
	if len(c.gone) > 0 {
		out = append(out, fmt.Sprintf("no scale-down while %s %s being removed", plural(len(c.gone), "node", "nodes")+" ("+strings.Join(c.gone, ", ")+")", map[bool]string{true: "is", false: "are"}[len(c.gone) == 1]))
	}
	for _, ps := range c.pools {
		if ps.upcoming > 0 && ps.Autoscaled {
			out = append(out, fmt.Sprintf("no scale-down while pool %s waits for %s to join (%d replicas, %d usable)",
				ps.Name, plural(ps.upcoming, "node", "nodes"), ps.Replicas, ps.active))
		}
	}
	if last := c.in.Memory.LastScaleUp; !last.IsZero() && now.Before(last.Add(cfg.ScaleDownDelayAfterAdd)) {
		out = append(out, fmt.Sprintf("no scale-down until %s: last scale-up at %s (scale-down-delay-after-add %s)",
			fmtTime(now, last.Add(cfg.ScaleDownDelayAfterAdd)), fmtTime(now, last), cfg.ScaleDownDelayAfterAdd))
	}
	if last := c.in.Memory.LastScaleDown; !last.IsZero() && now.Before(last.Add(cfg.ScaleDownDelayAfterDelete)) {
		out = append(out, fmt.Sprintf("no scale-down until %s: last scale-down at %s (scale-down-delay-after-delete %s)",
			fmtTime(now, last.Add(cfg.ScaleDownDelayAfterDelete)), fmtTime(now, last), cfg.ScaleDownDelayAfterDelete))
	}
	return out
}

// removable says why cd must stay, or where its pods would go (destination → pods). On
// success the placements are committed to work so later candidates see them.
func (c *cluster) removable(cd *candidate, poolUnneeded int, receivedFrom string, work map[string]*simulate.Node, dests []string, gone map[string]bool) (string, map[string]int) {
	n, ps := cd.node, cd.pool
	if n.Annotations[ScaleDownDisabledAnnotation] == "true" {
		return "it is annotated " + ScaleDownDisabledAnnotation + "=true", nil
	}
	if receivedFrom != "" {
		return "it would take pods of unneeded node " + receivedFrom, nil
	}
	if ps.surplus > 0 {
		return fmt.Sprintf("pool %s has %d nodes for %d replicas: waiting for the WorkerPool controller to remove %s",
			ps.Name, ps.active, ps.Replicas, plural(ps.surplus, "node", "nodes")), nil
	}
	if int(ps.Replicas)-poolUnneeded <= int(ps.Min) {
		if poolUnneeded == 0 {
			return fmt.Sprintf("pool %s is at its min size %d", ps.Name, ps.Min), nil
		}
		return fmt.Sprintf("pool %s would drop below its min size %d (%d replicas, %s already unneeded)",
			ps.Name, ps.Min, ps.Replicas, plural(poolUnneeded, "node", "nodes")), nil
	}

	cd.pods = c.podsToMove(n.Name)
	if why := c.blocker(cd.pods); why != "" {
		return why, nil
	}

	// Place the pods on copies of the destinations they touch; commit only if all fit.
	touched := map[string]*simulate.Node{}
	moved := map[string]int{}
	for _, p := range cd.pods {
		unbound := *p
		unbound.Spec.NodeName = ""
		pp := c.checker.Prepare(&unbound)
		reasons, tried, placed := map[string]int{}, 0, false
		for _, name := range dests {
			if name == n.Name || gone[name] {
				continue
			}
			dest := touched[name]
			if dest == nil {
				dest = work[name]
			}
			tried++
			ok, why := pp.FitsOn(dest)
			if !ok {
				reasons[why]++
				continue
			}
			if touched[name] == nil {
				dest = dest.Clone()
				touched[name] = dest
			}
			dest.AddPod(&unbound)
			moved[name]++
			placed = true
			break
		}
		if !placed {
			return fmt.Sprintf("pod %s/%s fits on no other node: %s", p.Namespace, p.Name, summarize(reasons, tried)), nil
		}
	}
	for name, dest := range touched {
		work[name] = dest
	}
	return "", moved
}

// podsToMove are the pods a drain would evict: not DaemonSet or mirror pods (they go with
// the node), not pods already terminating; the biggest first, as the scheduler would
// struggle most with them.
func (c *cluster) podsToMove(node string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range c.podsOn[node] {
		if !isDaemonSetPod(p) && !isMirror(p) && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ci, _ := requests(out[i])
		cj, _ := requests(out[j])
		if ci != cj {
			return ci > cj
		}
		return keyOf(out[i]).String() < keyOf(out[j]).String()
	})
	return out
}

// blocker is the first reason, in cluster-autoscaler's order, that pods cannot be
// evicted: safe-to-evict=false, no controller, kube-system without a PDB, then PDBs
// without enough disruptions left.
func (c *cluster) blocker(pods []*corev1.Pod) string {
	type budget struct {
		pdb  string
		left int32
		pods int32
	}
	var budgets []*budget
	byName := map[string]*budget{}
	for _, p := range pods {
		safe := p.Annotations[SafeToEvictAnnotation]
		if safe == "false" {
			return fmt.Sprintf("pod %s/%s is annotated %s=false", p.Namespace, p.Name, SafeToEvictAnnotation)
		}
		covered := false
		for _, pdb := range c.in.PDBs {
			if pdb.Namespace != p.Namespace {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			covered = true
			name := pdb.Namespace + "/" + pdb.Name
			b := byName[name]
			if b == nil {
				b = &budget{pdb: name, left: pdb.Status.DisruptionsAllowed}
				byName[name] = b
				budgets = append(budgets, b)
			}
			b.pods++
		}
		if safe == "true" {
			continue // the owner's word: movable whatever its controller or namespace
		}
		if why := unsimulated(p); why != "" {
			return fmt.Sprintf("pod %s/%s has %s, which the simulation cannot place (annotate it %s=true to allow)", p.Namespace, p.Name, why, SafeToEvictAnnotation)
		}
		if metav1.GetControllerOf(p) == nil {
			return fmt.Sprintf("pod %s/%s has no controller to recreate it (annotate it %s=true to allow)", p.Namespace, p.Name, SafeToEvictAnnotation)
		}
		if p.Namespace == metav1.NamespaceSystem && !covered {
			return fmt.Sprintf("pod %s/%s is in kube-system and no PodDisruptionBudget covers it", p.Namespace, p.Name)
		}
	}
	for _, b := range budgets {
		if b.left < b.pods {
			return fmt.Sprintf("PodDisruptionBudget %s allows %s and the node runs %d of its pods",
				b.pdb, plural(int(b.left), "disruption", "disruptions"), b.pods)
		}
	}
	return ""
}

// utilisation is the larger of the cpu and memory shares that the node's movable pods
// request; DaemonSet and mirror pods would be there on any node and do not count.
func (c *cluster) utilisation(n *corev1.Node) (float64, string) {
	var cpu, mem int64
	for _, p := range c.podsOn[n.Name] {
		if isDaemonSetPod(p) || isMirror(p) {
			continue
		}
		pc, pm := requests(p)
		cpu, mem = cpu+pc, mem+pm
	}
	a := n.Status.Allocatable
	cpuShare := share(cpu, a.Cpu().MilliValue())
	memShare := share(mem, a.Memory().Value())
	if memShare > cpuShare {
		return memShare, "memory"
	}
	return cpuShare, "cpu"
}

func share(req, alloc int64) float64 {
	if alloc <= 0 {
		return 0
	}
	return float64(req) / float64(alloc)
}

// floorPercent rounds down so that a node just under the threshold never reads as at it;
// the epsilon keeps 0.29 (stored as 0.28999…) at 29%.
func floorPercent(f float64) string {
	return fmt.Sprintf("%d%%", int(f*100+1e-9))
}

func movedPhrase(pods int, moved map[string]int) string {
	if pods == 0 {
		return "it runs no pods that would have to move"
	}
	names := make([]string, 0, len(moved))
	for name := range moved {
		names = append(names, name)
	}
	sort.Strings(names)
	if pods == 1 {
		return "its 1 pod fits on " + names[0]
	}
	return fmt.Sprintf("its %d pods fit on other nodes (%s)", pods, strings.Join(names, ", "))
}

// unsimulated names what a pod asks for that the node-local filter plugins do not judge:
// where such a pod could go is unknown, so its node stays.
func unsimulated(p *corev1.Pod) string {
	if a := p.Spec.Affinity; a != nil {
		if a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			return "required pod anti-affinity"
		}
		if a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			return "required pod affinity"
		}
	}
	for _, t := range p.Spec.TopologySpreadConstraints {
		if t.WhenUnsatisfiable == corev1.DoNotSchedule {
			return "a DoNotSchedule topology spread constraint"
		}
	}
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			return "a persistent volume (its zone is not simulated)"
		}
	}
	return ""
}
