package controlplane

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// Tunnel names the tunnel-server sidecar of the kube-apiserver pods in the sizes table; it
// is not a registry component (it has no workload of its own).
const Tunnel Component = "tunnel-server"

// DefaultSize is the size of a TenantCluster that names none when the seed's operator sets
// no default (manager flag --default-control-plane-size).
const DefaultSize = v1alpha1.ControlPlaneSizeSmall

// legacySize is the size of a tenant reconciled before sizes existed: medium holds exactly
// the resources every tenant had then, so upgrading kubeseed resizes nothing.
const legacySize = v1alpha1.ControlPlaneSizeMedium

// sizes are every container's requests and limits per size (docs/tenantcluster.md#sizes).
// tiny requests about what an idle tiny control plane was measured to use, small more for
// a small cluster's load (docs/performance.md); both set no CPU limit: the apiserver's start is seconds of CPU,
// which a small limit would stretch to minutes, and idle cores on a seed are otherwise
// wasted. Their memory is limited, so one tenant cannot take the seed's memory. medium
// and large are Guaranteed, the seed talk's advice for control planes that carry load. The
// autoscaler's memory is an estimate (informers on the tenant's pods and nodes); its CPU
// is limited at every size: a pass costs pending pods × nodes, both the customer's to
// inflate, and a pass of 3 pools, 30 nodes and 100 pending pods takes ~5 ms
// (make bench-autoscaler), so the limit only binds on an abuse.
var sizes = map[v1alpha1.ControlPlaneSize]map[Component]corev1.ResourceRequirements{
	v1alpha1.ControlPlaneSizeTiny: {
		Etcd:              burstable("10m", "48Mi", "256Mi"),
		APIServer:         burstable("20m", "192Mi", "512Mi"),
		ControllerManager: burstable("5m", "48Mi", "256Mi"),
		Scheduler:         burstable("2m", "24Mi", "128Mi"),
		Tunnel:            burstable("2m", "12Mi", "64Mi"),
		Autoscaler:        cpuLimited(burstable("5m", "32Mi", "256Mi"), "200m"),
	},
	v1alpha1.ControlPlaneSizeSmall: {
		Etcd:              burstable("50m", "128Mi", "512Mi"),
		APIServer:         burstable("100m", "384Mi", "1Gi"),
		ControllerManager: burstable("25m", "128Mi", "512Mi"),
		Scheduler:         burstable("10m", "48Mi", "256Mi"),
		Tunnel:            burstable("10m", "24Mi", "128Mi"),
		Autoscaler:        cpuLimited(burstable("10m", "64Mi", "512Mi"), "500m"),
	},
	v1alpha1.ControlPlaneSizeMedium: {
		Etcd:              guaranteed("250m", "1Gi"),
		APIServer:         guaranteed("500m", "1Gi"),
		ControllerManager: guaranteed("200m", "256Mi"),
		Scheduler:         guaranteed("100m", "128Mi"),
		Tunnel:            guaranteed("50m", "64Mi"),
		Autoscaler:        guaranteed("100m", "256Mi"),
	},
	v1alpha1.ControlPlaneSizeLarge: {
		Etcd:              guaranteed("1", "4Gi"),
		APIServer:         guaranteed("2", "4Gi"),
		ControllerManager: guaranteed("500m", "1Gi"),
		Scheduler:         guaranteed("250m", "512Mi"),
		Tunnel:            guaranteed("100m", "128Mi"),
		Autoscaler:        guaranteed("250m", "1Gi"),
	},
}

func burstable(cpu, memory, memoryLimit string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)},
	}
}

// cpuLimited adds a CPU limit to a burstable size.
func cpuLimited(r corev1.ResourceRequirements, cpu string) corev1.ResourceRequirements {
	r.Limits[corev1.ResourceCPU] = resource.MustParse(cpu)
	return r
}

func guaranteed(cpu, memory string) corev1.ResourceRequirements {
	l := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
	return corev1.ResourceRequirements{Requests: l, Limits: l.DeepCopy()}
}

// Sizes lists the sizes, smallest first.
func Sizes() []v1alpha1.ControlPlaneSize {
	return []v1alpha1.ControlPlaneSize{
		v1alpha1.ControlPlaneSizeTiny, v1alpha1.ControlPlaneSizeSmall,
		v1alpha1.ControlPlaneSizeMedium, v1alpha1.ControlPlaneSizeLarge,
	}
}

// SizeResources is the preset of one container of a size; ok is false for an unknown
// size or component.
func SizeResources(size v1alpha1.ControlPlaneSize, c Component) (corev1.ResourceRequirements, bool) {
	r, ok := sizes[size][c]
	return *r.DeepCopy(), ok
}

// EffectiveSize is the size tc is rendered at: the spec's; else the one recorded in its
// status when first reconciled; else legacySize for a tenant reconciled before sizes
// existed; else the seed's default (DefaultSize when empty). Only the spec can change it.
func EffectiveSize(tc *v1alpha1.TenantCluster, seedDefault v1alpha1.ControlPlaneSize) v1alpha1.ControlPlaneSize {
	switch {
	case tc.Spec.ControlPlane.Size != "":
		return tc.Spec.ControlPlane.Size
	case tc.Status.ControlPlaneSize != "":
		return tc.Status.ControlPlaneSize
	case tc.Status.ObservedGeneration > 0:
		return legacySize
	case seedDefault != "":
		return seedDefault
	}
	return DefaultSize
}

// resourcesFor lays the spec's resources over the size's, per resource name. A value given
// alone moves its counterpart with it where the size has the two equal (Guaranteed stays
// Guaranteed), and otherwise only as far as a request may not exceed its limit; given both,
// the spec's choice stands.
func resourcesFor(c Component, size v1alpha1.ControlPlaneSize, spec *corev1.ResourceRequirements) (corev1.ResourceRequirements, error) {
	base, ok := sizes[size][c]
	if !ok {
		return corev1.ResourceRequirements{}, invalid("spec.controlPlane.size", "%q is not one of %v", size, Sizes())
	}
	requests, limits := maps.Clone(base.Requests), maps.Clone(base.Limits)
	if spec == nil {
		return corev1.ResourceRequirements{Limits: limits, Requests: requests}, nil
	}
	field := specPath(c) + ".resources"
	if len(spec.Claims) > 0 {
		return corev1.ResourceRequirements{}, invalid(field+".claims", "resource claims are not supported")
	}
	together := func(name corev1.ResourceName) bool {
		req, hasReq := base.Requests[name]
		lim, hasLim := base.Limits[name]
		return hasReq == hasLim && (!hasReq || req.Cmp(lim) == 0)
	}
	for name, q := range spec.Limits {
		limits[name] = q.DeepCopy()
		if _, given := spec.Requests[name]; given {
			continue
		}
		if req, ok := requests[name]; together(name) || !ok || req.Cmp(q) > 0 {
			requests[name] = q.DeepCopy()
		}
	}
	for name, q := range spec.Requests {
		requests[name] = q.DeepCopy()
		if _, given := spec.Limits[name]; given {
			continue
		}
		if lim, ok := limits[name]; together(name) || (ok && lim.Cmp(q) < 0) {
			limits[name] = q.DeepCopy()
		}
	}
	for _, name := range slices.Sorted(maps.Keys(requests)) {
		req := requests[name]
		if limit, ok := limits[name]; ok && req.Cmp(limit) > 0 {
			return corev1.ResourceRequirements{}, invalid(field, "the %s request %s exceeds its limit %s", name, req.String(), limit.String())
		}
	}
	return corev1.ResourceRequirements{Limits: limits, Requests: requests}, nil
}

// sizeFlags are the tuning flags kubeseed picks for a size: each is also an allowed extra
// argument (TestSizeFlagsAreAllowed), so a customer's extraArgs override it. Measured on
// idle tenants (docs/performance.md): the controller-manager's and scheduler's leader
// election renews its Lease every 2 s by default, a write through the apiserver into etcd
// each time, the largest part of an idle small control plane's CPU after the apiserver's
// own. tiny and small renew every 10 s, so a standby takes over a dead leader within a
// minute instead of 15 s; medium and large keep the defaults.
//
// The three leader-election flags go together (the lease must outlast the renew deadline,
// which must outlast the retry period): when extraArgs set any of them, the size sets none,
// and the component's defaults fill what the customer left out.
func sizeFlags(c Component, size v1alpha1.ControlPlaneSize, extra map[string]string) flags {
	f := flags{}
	if c == APIServer || c == ControllerManager || c == Scheduler {
		f["profiling"] = "false" // pprof handlers only for someone debugging the component
	}
	customerElects := false
	for k := range extra {
		customerElects = customerElects || strings.HasPrefix(strings.TrimPrefix(k, "--"), "leader-elect-")
	}
	if (c == ControllerManager || c == Scheduler) && !customerElects && (size == v1alpha1.ControlPlaneSizeTiny || size == v1alpha1.ControlPlaneSizeSmall) {
		f["leader-elect-lease-duration"] = "60s"
		f["leader-elect-renew-deadline"] = "40s"
		f["leader-elect-retry-period"] = "10s"
	}
	return f
}

// goMemLimit is the GOMEMLIMIT of a Go container: 90% of its memory limit, so the runtime
// collects garbage harder before the kernel's OOM killer would act. Empty without a limit.
func goMemLimit(r corev1.ResourceRequirements) string {
	l, ok := r.Limits[corev1.ResourceMemory]
	if !ok || l.Value() <= 0 {
		return ""
	}
	return fmt.Sprintf("%dMiB", l.Value()*9/10>>20)
}
