package workerpool

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// Metadata keys kubeseed sets on a pool's servers besides MetadataPool and MetadataCluster.
const (
	// MetadataTemplateHash is the TemplateHash of the spec the server was made from: a
	// server whose hash differs from the pool's is replaced by a rolling update. A server
	// without one (made by a kubeseed before rollouts) is taken as up to date: its spec is
	// unknown, and replacing every such server on an operator upgrade would roll every
	// pool of the seed at once.
	MetadataTemplateHash = "kubeseed-template-hash"
	// MetadataKubernetesVersion is the version of the kubelet and kubeadm the server must
	// run: an image carrying several versions picks this one (docs/workers.md).
	MetadataKubernetesVersion = "kubeseed-kubernetes-version"
)

// template is what shapes a server, the input of TemplateHash. Not the per-server token,
// names or the zone: those differ between servers of one template.
type template struct {
	Version string               `json:"version"`
	Image   string               `json:"image"`
	Flavor  string               `json:"flavor"`
	Kubelet v1alpha1.KubeletSpec `json:"kubelet"`
	Labels  map[string]string    `json:"labels,omitempty"`
	Taints  []corev1.Taint       `json:"taints,omitempty"`
}

// TemplateHash is the hash of the server-shaping fields of the pool's spec, at version:
// 10 hex digits, as Nova metadata and for people comparing servers.
func TemplateHash(wp *v1alpha1.WorkerPool, version string) string {
	// encoding/json sorts map keys: the same spec always gives the same hash.
	b, err := json.Marshal(template{
		Version: version, Image: wp.Spec.Image, Flavor: wp.Spec.Flavor, Kubelet: wp.Spec.Kubelet,
		Labels: nodeLabels(wp, version), Taints: sortedTaints(nodeTaints(wp)),
	})
	if err != nil {
		panic(fmt.Sprintf("marshal a WorkerPool template: %v", err)) // plain strings and maps
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// nodeLabels are the labels every Node of the pool registers with: spec.nodeLabels and
// kubeseed's own (the API keeps the former out of kubeseed.io).
func nodeLabels(wp *v1alpha1.WorkerPool, version string) map[string]string {
	out := make(map[string]string, len(wp.Spec.NodeLabels)+2)
	for k, v := range wp.Spec.NodeLabels {
		out[k] = string(v)
	}
	out[PoolLabel], out[bootstrap.KubeletVersionLabel] = wp.Name, version
	return out
}

// sortedTaints orders taints by key and effect (the list's keys): reordering the spec's
// list changes no server.
func sortedTaints(ts []corev1.Taint) []corev1.Taint {
	slices.SortFunc(ts, func(a, b corev1.Taint) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(string(a.Effect), string(b.Effect)))
	})
	return ts
}

// nodeTaints are the taints every Node of the pool registers with, in spec order.
func nodeTaints(wp *v1alpha1.WorkerPool) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range wp.Spec.NodeTaints {
		out = append(out, corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
	}
	return out
}

// controlPlaneVersion is the version the tenant's control plane runs: status.version,
// else (not up yet) the one it is being made at.
func controlPlaneVersion(tc *v1alpha1.TenantCluster) string {
	return cmp.Or(tc.Status.Version, tc.Spec.Version, versions.Default)
}

// maxKubeletSkew is how many minors a kubelet may be older than its apiserver.
const maxKubeletSkew = 3

// poolVersion is the version the pool makes servers with — spec.version, else the one it
// started with (status.version), else the control plane's — and a check that is not ok
// when the version skew policy forbids it: a kubelet never newer than the apiserver, at
// most three minors older. CEL cannot compare two objects; a webhook could refuse the
// write, but the control plane's version moves after the pool was admitted, so this check
// is needed anyway and is the one place it is made (docs/workers.md).
func poolVersion(wp *v1alpha1.WorkerPool, tc *v1alpha1.TenantCluster) (string, check) {
	cpv := controlPlaneVersion(tc)
	want := cmp.Or(wp.Spec.Version, wp.Status.Version, cpv)
	pv, err := versions.Parse(want)
	if err != nil {
		return "", check{reason: v1alpha1.InvalidSpecReason, message: fmt.Sprintf("spec.version: %v", err)}
	}
	cv, err := versions.Parse(cpv)
	if err != nil {
		return "", check{reason: v1alpha1.WaitingForDependencyReason, message: fmt.Sprintf("TenantCluster %s: %v", tc.Name, err)}
	}
	field := "spec.version"
	if wp.Spec.Version == "" {
		field = "the pool's version (status.version; spec.version is unset)"
	}
	switch {
	case pv.Major != cv.Major || pv.Minor > cv.Minor:
		return "", check{reason: v1alpha1.VersionSkewReason, message: fmt.Sprintf(
			"%s %s is newer than the control plane's %s (TenantCluster %s status.version): a kubelet may not be newer than its apiserver; upgrade the TenantCluster first; no server is made or replaced until then",
			field, want, cpv, tc.Name)}
	case cv.Minor-pv.Minor > maxKubeletSkew:
		return "", check{reason: v1alpha1.VersionSkewReason, message: fmt.Sprintf(
			"%s %s is more than %d minors older than the control plane's %s: raise spec.version; no server is made or replaced until then",
			field, want, maxKubeletSkew, cpv)}
	}
	return want, check{ok: true}
}

// plan is what one pass does to the pool's servers: create so many, remove these (drained
// first when their Node is Ready).
type plan struct {
	create int
	remove []*member
	// rolling is true while servers to replace (an older template, sick) exist; floor is how many
	// available Nodes the pool must keep meanwhile (desired-maxUnavailable; desired when
	// not rolling).
	rolling bool
	floor   int
}

// planServers decides a pass, as a Deployment's rolling update does for pods: at most
// desired+maxSurge servers while servers to replace exist (of an older template, or sick:
// the health check's replacements obey the same bounds); surplus servers (a scale-down)
// removed worst first, those to replace before the others; and servers to replace removed
// only while at least desired-maxUnavailable Nodes stay available
// (Ready, not draining) and, counting every server left, while the new ones not available
// yet are covered: a pool whose Nodes all went NotReady at once loses none of them to the
// rollout. Pure: the same members give the same plan, so a drain once begun is chosen again.
func planServers(desired int, s v1alpha1.RolloutStrategy, members []*member) plan {
	surge, unavailable := int(ptr.Deref(s.MaxSurge, 1)), int(ptr.Deref(s.MaxUnavailable, 0))
	if surge == 0 && unavailable == 0 {
		surge = 1 // the API refuses 0/0
	}
	out := plan{floor: desired}
	out.rolling = slices.ContainsFunc(members, (*member).replace)
	limit := desired
	if out.rolling {
		limit += surge
		out.floor = max(0, desired-unavailable)
	}
	if n := len(members) - limit; n > 0 {
		out.remove = chooseForRemoval(members, n)
	}
	var remaining, old []*member
	updated, available, newUnavailable := 0, 0, 0
	for _, m := range members {
		if slices.Contains(out.remove, m) {
			continue
		}
		remaining = append(remaining, m)
		if m.available() {
			available++
		}
		switch {
		case m.replace():
			old = append(old, m)
		case !m.available():
			updated++
			newUnavailable++
		default:
			updated++
		}
	}
	out.create = max(0, min(desired-updated, limit-len(remaining)))
	// How many servers may go (Deployment's maxScaledDown), and how many available ones.
	removable := len(remaining) - out.floor - newUnavailable
	budget := available - out.floor
	slices.SortStableFunc(old, byRemovalOrder)
	for _, m := range old {
		if removable <= 0 {
			break
		}
		if m.available() {
			if budget <= 0 {
				continue
			}
			budget--
		}
		out.remove = append(out.remove, m)
		removable--
	}
	return out
}

// available says whether the server's Node serves workloads: Ready and not being drained.
func (m *member) available() bool { return m.nodeReady() && !m.draining() }

// byRemovalOrder is chooseForRemoval's order: removalRank, then the oldest, then by name.
func byRemovalOrder(a, b *member) int {
	return cmp.Or(
		cmp.Compare(removalRank(a), removalRank(b)),
		a.Created.Compare(b.Created),
		strings.Compare(a.Name, b.Name),
	)
}

// rolloutCheck is the Progressing condition's observation: ok (True) while servers of an
// older template exist, naming them and the new ones not Ready yet.
func rolloutCheck(version string, members, removing []*member, desired int) check {
	var updated int
	var old, joining []*member
	for _, m := range members {
		switch {
		case m.replace():
			old = append(old, m)
		case !m.nodeReady():
			joining = append(joining, m)
			updated++
		default:
			updated++
		}
	}
	if len(old) == 0 {
		return check{reason: v1alpha1.RolloutCompleteReason, message: fmt.Sprintf(
			"every server is made from the current spec (version %s)", version)}
	}
	msg := fmt.Sprintf("%d of %d servers made from the current spec (version %s); replacing %s", updated, desired, version,
		describeMembers(old, func(m *member) string {
			switch {
			case m.draining() || slices.Contains(removing, m):
				return m.Name + " (draining its Node)"
			case m.available():
				return m.Name + " (waiting for room: strategy)"
			default:
				return m.Name
			}
		}))
	if len(joining) > 0 {
		msg += "; joining: " + describeMembers(joining, func(m *member) string { return m.Name })
	}
	return check{ok: true, reason: v1alpha1.RollingUpdateReason, message: msg}
}
