package plan

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeseed/kubeseed/cmd/kubeseed-autoscaler/internal/simulate"
)

// option is growing one pool enough for the pending pods it can take.
type option struct {
	pool   *poolState
	nodes  []*simulate.Node
	helped []*pendingPod
	waste  float64
}

// scaleUp places pending pods on existing and upcoming nodes first (they need nothing),
// then bin-packs the rest onto new nodes of every pool that may grow and picks one pool
// by least waste.
func (c *cluster) scaleUp(res *Result) {
	res.Unschedulable = len(c.pending)
	if len(c.pending) == 0 {
		return
	}

	// Existing nodes first, then the nodes already paid for, in a fixed order.
	targets := make([]*simulate.Node, 0, len(c.base))
	for _, n := range c.base {
		targets = append(targets, n.Clone())
	}
	existing := len(targets)
	for _, ps := range c.pools {
		if ps.template == nil {
			continue
		}
		for i := range ps.upcoming {
			targets = append(targets, ps.template.instance(fmt.Sprintf("%s-upcoming-%d", ps.Name, i+1)))
		}
	}

	var rest []*pendingPod
	for _, pp := range c.pending {
		placed := false
		for i, n := range targets {
			ok, why := pp.prepared.FitsOn(n)
			if ok {
				n.AddPod(pp.prepared.Pod())
				placed = true
				break
			}
			if i < existing {
				pp.today[why]++
			}
		}
		if placed {
			res.WillFit = append(res.WillFit, pp.key)
		} else {
			rest = append(rest, pp)
		}
	}
	sortKeys(res.WillFit)
	if len(rest) == 0 {
		return
	}

	verdicts := make(map[*pendingPod]map[string]string, len(rest))
	for _, pp := range rest {
		verdicts[pp] = map[string]string{}
	}
	var options []*option
	for _, ps := range c.pools {
		if o := c.pack(ps, rest, verdicts); o != nil {
			options = append(options, o)
		}
	}

	helpedByAny := map[*pendingPod]bool{}
	for _, o := range options {
		for _, pp := range o.helped {
			helpedByAny[pp] = true
		}
	}
	for _, pp := range rest {
		if !helpedByAny[pp] {
			res.NoScaleUp = append(res.NoScaleUp, PodVerdict{Pod: pp.key, Reasons: verdicts[pp]})
		}
	}
	sort.Slice(res.NoScaleUp, func(i, j int) bool { return res.NoScaleUp[i].Pod.String() < res.NoScaleUp[j].Pod.String() })

	if len(options) == 0 {
		return
	}
	best := options[0]
	for _, o := range options[1:] {
		if better(o, best) {
			best = o
		}
	}
	up := &ScaleUp{
		Pool:   best.pool.Name,
		From:   best.pool.Replicas,
		To:     best.pool.Replicas + int32(len(best.nodes)),
		Reason: todayReason(best.helped, existing),
	}
	for _, pp := range best.helped {
		up.Pods = append(up.Pods, pp.key)
	}
	sortKeys(up.Pods)
	res.ScaleUp = up
}

// pack bin-packs pods, first fit in the given (decreasing cpu) order, onto as many new
// nodes of ps as it may add, and records in verdicts why ps cannot take the others.
func (c *cluster) pack(ps *poolState, pods []*pendingPod, verdicts map[*pendingPod]map[string]string) *option {
	var reason string
	switch {
	case !ps.Autoscaled:
		reason = "not autoscaled"
	case ps.Replicas >= ps.Max:
		reason = fmt.Sprintf("at max size %d", ps.Max)
	case ps.template == nil:
		reason = ps.reason
	}
	if reason != "" {
		for _, pp := range pods {
			verdicts[pp][ps.Name] = reason
		}
		return nil
	}

	limit := int(ps.Max - ps.Replicas)
	empty := ps.template.instance(ps.Name + "-new-empty")
	o := &option{pool: ps}
	for _, pp := range pods {
		// A pod that does not fit on an empty new node never will: say why in the
		// scheduler's words.
		if ok, why := pp.prepared.FitsOn(empty); !ok {
			verdicts[pp][ps.Name] = why
			continue
		}
		placed := false
		for _, n := range o.nodes {
			if ok, _ := pp.prepared.FitsOn(n); ok {
				n.AddPod(pp.prepared.Pod())
				placed = true
				break
			}
		}
		if !placed && len(o.nodes) < limit {
			n := ps.template.instance(fmt.Sprintf("%s-new-%d", ps.Name, len(o.nodes)+1))
			n.AddPod(pp.prepared.Pod())
			o.nodes = append(o.nodes, n)
			placed = true
		}
		if !placed {
			verdicts[pp][ps.Name] = fmt.Sprintf("at max size %d: other pending pods fill the %s it may still add", ps.Max, plural(limit, "new node", "new nodes"))
			continue
		}
		o.helped = append(o.helped, pp)
	}
	if len(o.helped) == 0 {
		return nil
	}
	o.waste = waste(o.nodes)
	return o
}

// better is the least-waste expander: less unused capacity, then more pods helped, then
// the pool name for a stable choice.
func better(a, b *option) bool {
	const eps = 1e-9
	if a.waste < b.waste-eps || a.waste > b.waste+eps {
		return a.waste < b.waste
	}
	if len(a.helped) != len(b.helped) {
		return len(a.helped) > len(b.helped)
	}
	return a.pool.Name < b.pool.Name
}

// todayReason says why the pods fit on no existing node; pods usually share one reason,
// otherwise the distinct ones are listed, most common first.
func todayReason(pods []*pendingPod, existing int) string {
	count := map[string]int{}
	for _, pp := range pods {
		count[summarize(pp.today, existing)]++
	}
	reasons := make([]string, 0, len(count))
	for r := range count {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if count[reasons[i]] != count[reasons[j]] {
			return count[reasons[i]] > count[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	return strings.Join(reasons, "; ")
}

func sortKeys(keys []types.NamespacedName) {
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
}
