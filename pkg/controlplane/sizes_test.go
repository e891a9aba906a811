package controlplane_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

func TestResources(t *testing.T) {
	q := resource.MustParse
	cases := []struct {
		name             string
		size             v1alpha1.ControlPlaneSize
		spec             *corev1.ResourceRequirements
		wantReq, wantLim corev1.ResourceList
		wantGuaranteed   bool
	}{
		{
			name:    "default size small: Burstable, no CPU limit",
			wantReq: corev1.ResourceList{"cpu": q("100m"), "memory": q("384Mi")},
			wantLim: corev1.ResourceList{"memory": q("1Gi")},
		},
		{
			name:    "tiny",
			size:    v1alpha1.ControlPlaneSizeTiny,
			wantReq: corev1.ResourceList{"cpu": q("20m"), "memory": q("192Mi")},
			wantLim: corev1.ResourceList{"memory": q("512Mi")},
		},
		{
			name:           "medium: Guaranteed, the resources every tenant had before sizes",
			size:           v1alpha1.ControlPlaneSizeMedium,
			wantReq:        corev1.ResourceList{"cpu": q("500m"), "memory": q("1Gi")},
			wantLim:        corev1.ResourceList{"cpu": q("500m"), "memory": q("1Gi")},
			wantGuaranteed: true,
		},
		{
			name:           "medium, limits only: requests follow, Guaranteed stays",
			size:           v1alpha1.ControlPlaneSizeMedium,
			spec:           &corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("2"), "memory": q("4Gi")}},
			wantReq:        corev1.ResourceList{"cpu": q("2"), "memory": q("4Gi")},
			wantLim:        corev1.ResourceList{"cpu": q("2"), "memory": q("4Gi")},
			wantGuaranteed: true,
		},
		{
			name:           "large, one request: its limit follows, the rest stays the size's",
			size:           v1alpha1.ControlPlaneSizeLarge,
			spec:           &corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": q("3")}},
			wantReq:        corev1.ResourceList{"cpu": q("3"), "memory": q("4Gi")},
			wantLim:        corev1.ResourceList{"cpu": q("3"), "memory": q("4Gi")},
			wantGuaranteed: true,
		},
		{
			name:    "small, a CPU limit alone: the request stays below it",
			spec:    &corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("1")}},
			wantReq: corev1.ResourceList{"cpu": q("100m"), "memory": q("384Mi")},
			wantLim: corev1.ResourceList{"cpu": q("1"), "memory": q("1Gi")},
		},
		{
			name:    "small, a CPU limit below the request: the request comes down to it",
			spec:    &corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("50m")}},
			wantReq: corev1.ResourceList{"cpu": q("50m"), "memory": q("384Mi")},
			wantLim: corev1.ResourceList{"cpu": q("50m"), "memory": q("1Gi")},
		},
		{
			name:    "small, a memory request above the limit: the limit goes up to it",
			spec:    &corev1.ResourceRequirements{Requests: corev1.ResourceList{"memory": q("2Gi")}},
			wantReq: corev1.ResourceList{"cpu": q("100m"), "memory": q("2Gi")},
			wantLim: corev1.ResourceList{"memory": q("2Gi")},
		},
		{
			name: "both given: the spec's choice stands",
			size: v1alpha1.ControlPlaneSizeMedium,
			spec: &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"cpu": q("250m")},
				Limits:   corev1.ResourceList{"cpu": q("1")},
			},
			wantReq: corev1.ResourceList{"cpu": q("250m"), "memory": q("1Gi")},
			wantLim: corev1.ResourceList{"cpu": q("1"), "memory": q("1Gi")},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustValues(t, tenant(func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.Size = c.size
				tc.Spec.ControlPlane.APIServer.Resources = c.spec
			}), controlplane.Inputs{})
			got := v.APIServer.Resources
			if !equalList(got.Requests, c.wantReq) || !equalList(got.Limits, c.wantLim) {
				t.Errorf("resources %v / %v, want %v / %v", got.Requests, got.Limits, c.wantReq, c.wantLim)
			}
			if guaranteed(got) != c.wantGuaranteed {
				t.Errorf("Guaranteed = %v, want %v", guaranteed(got), c.wantGuaranteed)
			}
			// The other containers keep the size's preset and its QoS.
			size := controlplane.EffectiveSize(&v1alpha1.TenantCluster{Spec: v1alpha1.TenantClusterSpec{ControlPlane: v1alpha1.ControlPlaneSpec{Size: c.size}}}, "")
			others := map[controlplane.Component]corev1.ResourceRequirements{
				controlplane.Etcd: v.Etcd.Resources, controlplane.ControllerManager: v.ControllerManager.Resources,
				controlplane.Scheduler: v.Scheduler.Resources, controlplane.Tunnel: v.Tunnel.Resources,
			}
			for comp, r := range others {
				want, _ := controlplane.SizeResources(size, comp)
				if !equalList(r.Requests, want.Requests) || !equalList(r.Limits, want.Limits) {
					t.Errorf("%s: %v, want the %s preset %v", comp, r, size, want)
				}
			}
		})
	}
}

// TestSizes checks what docs/tenantcluster.md promises of every size: tiny and small are
// Burstable with no CPU limit and a memory limit, medium and large Guaranteed; each size
// requests at least as much as the one below it; every Go container gets a GOMEMLIMIT
// below its memory limit.
func TestSizes(t *testing.T) {
	containers := []controlplane.Component{controlplane.Etcd, controlplane.APIServer, controlplane.ControllerManager, controlplane.Scheduler, controlplane.Tunnel}
	var prev corev1.ResourceList
	for _, size := range controlplane.Sizes() {
		total := corev1.ResourceList{}
		for _, c := range containers {
			r, ok := controlplane.SizeResources(size, c)
			if !ok {
				t.Fatalf("%s has no preset for %s", size, c)
			}
			burstable := size == v1alpha1.ControlPlaneSizeTiny || size == v1alpha1.ControlPlaneSizeSmall
			_, cpuLimited := r.Limits[corev1.ResourceCPU]
			_, memLimited := r.Limits[corev1.ResourceMemory]
			if burstable == cpuLimited || !memLimited || guaranteed(r) == burstable {
				t.Errorf("%s/%s: %v: want burstable=%v with a memory limit", size, c, r, burstable)
			}
			for name, q := range r.Requests {
				sum := total[name]
				sum.Add(q)
				total[name] = sum
			}
		}
		for name, q := range prev {
			if sum := total[name]; sum.Cmp(q) < 0 {
				t.Errorf("%s requests %s %s, less than the size below it (%s)", size, sum.String(), name, q.String())
			}
		}
		prev = total
		v := mustValues(t, tenant(func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.Size = size }), controlplane.Inputs{})
		for c, pv := range map[string]struct {
			res   corev1.ResourceRequirements
			limit string
		}{
			"etcd": {v.Etcd.Resources, v.Etcd.GoMemLimit}, "kube-apiserver": {v.APIServer.Resources, v.APIServer.GoMemLimit},
			"tunnel": {v.Tunnel.Resources, v.Tunnel.GoMemLimit},
		} {
			lim := pv.res.Limits[corev1.ResourceMemory]
			got, err := resource.ParseQuantity(strings.TrimSuffix(pv.limit, "B"))
			if err != nil || got.Cmp(lim) >= 0 || got.Value() < lim.Value()*8/10 {
				t.Errorf("%s/%s: GOMEMLIMIT %q, want about 90%% of %s", size, c, pv.limit, lim.String())
			}
		}
	}
}

func TestEffectiveSize(t *testing.T) {
	tiny, small, medium := v1alpha1.ControlPlaneSizeTiny, v1alpha1.ControlPlaneSizeSmall, v1alpha1.ControlPlaneSizeMedium
	cases := []struct {
		name                  string
		spec, status, seedDef v1alpha1.ControlPlaneSize
		observedGeneration    int64
		want                  v1alpha1.ControlPlaneSize
	}{
		{name: "new tenant, no seed default", want: controlplane.DefaultSize},
		{name: "new tenant takes the seed's default", seedDef: tiny, want: tiny},
		{name: "the spec wins over everything", spec: medium, status: tiny, seedDef: small, observedGeneration: 3, want: medium},
		{name: "a recorded size outlives a new seed default", status: tiny, seedDef: medium, observedGeneration: 3, want: tiny},
		{name: "reconciled before sizes existed: medium, its old resources", seedDef: tiny, observedGeneration: 2, want: medium},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := &v1alpha1.TenantCluster{}
			tc.Spec.ControlPlane.Size, tc.Status.ControlPlaneSize, tc.Status.ObservedGeneration = c.spec, c.status, c.observedGeneration
			if got := controlplane.EffectiveSize(tc, c.seedDef); got != c.want {
				t.Errorf("EffectiveSize = %q, want %q", got, c.want)
			}
		})
	}
}

func equalList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, qa := range a {
		qb, ok := b[k]
		if !ok || qa.Cmp(qb) != 0 {
			return false
		}
	}
	return true
}

// guaranteed is the QoS rule for a single container: cpu and memory limited, requests
// equal to limits.
func guaranteed(r corev1.ResourceRequirements) bool {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		l, ok := r.Limits[name]
		if !ok {
			return false
		}
		if req, ok := r.Requests[name]; ok && req.Cmp(l) != 0 {
			return false
		}
	}
	return true
}
