package workerpool

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// Labels and annotations kubeseed sets inside a tenant, on what a WorkerPool makes there.
const (
	// PoolLabel is set by each worker's kubelet on its Node (kubeadm's nodeRegistration
	// kubeletExtraArgs node-labels) to the WorkerPool's name; status.selector selects it.
	PoolLabel = "kubeseed.io/worker-pool"
	// TokenPoolLabel marks a bootstrap token Secret with the WorkerPool's UID.
	TokenPoolLabel = "kubeseed.io/worker-pool-uid"
	// TokenServerLabel marks a bootstrap token Secret with the name of the server it is for.
	TokenServerLabel = "kubeseed.io/server"
	// DeleteMachineAnnotation on a Node of the pool (any value) asks that its server be the
	// first to go when the pool shrinks: scale down by one with it set, and that server is
	// drained and deleted. Magnum's "remove these nodes" and the upgrade's replacements use
	// it; a person can too (kubectl annotate node <name> kubeseed.io/delete-machine=true).
	DeleteMachineAnnotation = "kubeseed.io/delete-machine"
	// DrainStartedAnnotation is set on a Node kubeseed cordoned to remove it: when the
	// drain started (RFC 3339). The drain timeout counts from it.
	DrainStartedAnnotation = "kubeseed.io/drain-started"
)

// WorkerRole is the RoleTag of a pool's servers and ports.
const WorkerRole = "worker"

// Metadata keys of a pool's servers, for people looking at them in Horizon.
const (
	MetadataPool    = "kubeseed-worker-pool"
	MetadataCluster = "kubeseed-tenant-cluster"
)

// Nova statuses kubeseed acts on.
const (
	statusBuild  = "BUILD"
	statusActive = "ACTIVE"
	statusError  = "ERROR"
)

// ServerName is the deterministic name of a pool's server: the pool's name and the
// server's index, <pool>-<index>. It is also the server's hostname and its Node's name.
func ServerName(pool string, index int) string { return pool + "-" + strconv.Itoa(index) }

// serverIndex reads the index back from a server name; ok is false for a name the pool
// did not give.
func serverIndex(pool, name string) (int, bool) {
	rest, found := strings.CutPrefix(name, pool+"-")
	if !found || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 {
		return 0, false
	}
	return i, true
}

// newServerNames are the names of n servers to create: the lowest indexes no existing
// server has. A server lost and replaced gets its predecessor's name again.
func newServerNames(pool string, existing []string, n int) []string {
	taken := map[int]bool{}
	for _, name := range existing {
		if i, ok := serverIndex(pool, name); ok {
			taken[i] = true
		}
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		if !taken[i] {
			out = append(out, ServerName(pool, i))
		}
	}
	return out
}

// serverGroupName is the pool's Nova server group: server groups take no tags, so the
// name carries the pool's UID.
func serverGroupName(pool, uid string) string { return "kubeseed-" + pool + "-" + uid }

// zoneSpread keeps the availability zones balanced: next gives the zone with the fewest
// of the pool's servers, the first in spec order on a tie, and counts the new server there.
// Starting from an empty pool this is round-robin in spec order.
type zoneSpread struct {
	zones []string
	count map[string]int
}

func newZoneSpread(zones []string, servers []openstack.Server) *zoneSpread {
	z := &zoneSpread{zones: zones, count: map[string]int{}}
	for _, s := range servers {
		z.count[s.AvailabilityZone]++
	}
	return z
}

// next returns "" when no zone is given: Nova chooses.
func (z *zoneSpread) next() string {
	if len(z.zones) == 0 {
		return ""
	}
	best := z.zones[0]
	for _, zone := range z.zones[1:] {
		if z.count[zone] < z.count[best] {
			best = zone
		}
	}
	z.count[best]++
	return best
}

// member is one of the pool's servers with its Node in the tenant (nil when it has none).
type member struct {
	openstack.Server
	node *corev1.Node
	// outdated: the server was made from an older template (MetadataTemplateHash).
	outdated bool
	// sick says why the health check replaces the server ("" when it does not).
	sick string
}

// replace says whether the server is to be replaced: made from an older template, or sick.
func (m *member) replace() bool { return m.outdated || m.sick != "" }

func (m *member) failed() bool   { return m.Status == statusError }
func (m *member) building() bool { return m.Status == statusBuild }

// nodeReady says whether the server's Node is Ready.
func (m *member) nodeReady() bool { return m.node != nil && nodeIsReady(m.node) }

// draining says whether kubeseed cordoned the server's Node to remove it.
func (m *member) draining() bool {
	return m.node != nil && m.node.Annotations[DrainStartedAnnotation] != ""
}

func nodeIsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// removalRank orders servers for scale-down: a drain already under way first (so a
// decision sticks), then those whose Node asks to go (DeleteMachineAnnotation), then
// servers to be replaced (an older template, or sick; those without a Ready Node first), then servers without a Ready Node (in BUILD, never joined, NotReady), then the
// rest.
func removalRank(m *member) int {
	switch {
	case m.draining():
		return 0
	case m.deleteRequested():
		return 1
	case m.replace() && !m.nodeReady():
		return 2
	case m.replace():
		return 3
	case !m.nodeReady():
		return 4
	default:
		return 5
	}
}

// deleteRequested says whether the server's Node carries DeleteMachineAnnotation.
func (m *member) deleteRequested() bool {
	if m.node == nil {
		return false
	}
	_, ok := m.node.Annotations[DeleteMachineAnnotation]
	return ok
}

// chooseForRemoval picks n servers to remove: by removalRank, then the oldest, then by
// name, so the same observation always gives the same choice.
func chooseForRemoval(members []*member, n int) []*member {
	if n <= 0 {
		return nil
	}
	sorted := slices.Clone(members)
	slices.SortStableFunc(sorted, byRemovalOrder)
	return sorted[:min(n, len(sorted))]
}

// describeMembers lists servers by name, for condition messages; long lists are cut.
func describeMembers(members []*member, what func(*member) string) string {
	const most = 5
	parts := make([]string, 0, min(len(members), most))
	for i, m := range members {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(members)-most))
			break
		}
		parts = append(parts, what(m))
	}
	return strings.Join(parts, ", ")
}

// inventory lists the pool's servers by its tag, the source of truth; those in BUILD are
// read again (GET) for their current status. Servers Nova is deleting, or that this
// reconciler asked it to delete, are left out.
func (r *Reconciler) inventory(ctx context.Context, compute openstack.Compute, wp *v1alpha1.WorkerPool, now time.Time) ([]*member, error) {
	list, err := compute.ListServers(ctx, openstack.PoolTag(string(wp.UID)))
	if err != nil {
		return nil, err
	}
	var out []*member
	for _, s := range list {
		if s.Status == "DELETED" || s.Status == "SOFT_DELETED" || r.recentlyDeleted(wp, s.ID, now) {
			continue
		}
		if s.Status == statusBuild {
			fresh, err := compute.GetServer(ctx, s.ID)
			if openstack.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			s = *fresh
		}
		out = append(out, &member{Server: s})
	}
	out = r.dropDuplicates(ctx, compute, wp, out, now)
	slices.SortFunc(out, func(a, b *member) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// dropDuplicates keeps, of servers sharing a name, the newest: names are reused by
// replacements, and an older one still listed is one whose deletion Nova has not finished
// (or that a restarted manager no longer remembers deleting). The Node of that name is the
// newest server's, so the older ones are deleted in Nova only: no drain, and neither the
// Node nor the tokens of that name are touched.
func (r *Reconciler) dropDuplicates(ctx context.Context, compute openstack.Compute, wp *v1alpha1.WorkerPool, members []*member, now time.Time) []*member {
	newest := map[string]*member{}
	for _, m := range members {
		if cur, ok := newest[m.Name]; !ok || m.Created.After(cur.Created) || (m.Created.Equal(cur.Created) && m.ID > cur.ID) {
			newest[m.Name] = m
		}
	}
	if len(newest) == len(members) {
		return members
	}
	kept := members[:0]
	for _, m := range members {
		if newest[m.Name] == m {
			kept = append(kept, m)
			continue
		}
		logf.FromContext(ctx).Info("Deleting an older server of the same name", "server", m.Name, "id", m.ID, "kept", newest[m.Name].ID)
		if err := openstack.IgnoreNotFound(compute.DeleteServer(ctx, m.ID)); err == nil {
			r.markDeleted(wp, m.ID, now)
		}
	}
	return kept
}
