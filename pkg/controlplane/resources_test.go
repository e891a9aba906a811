package controlplane_test

import (
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
		spec             *corev1.ResourceRequirements
		wantReq, wantLim corev1.ResourceList
		wantGuaranteed   bool
	}{
		{
			name:           "defaults",
			wantReq:        corev1.ResourceList{"cpu": q("500m"), "memory": q("1Gi")},
			wantLim:        corev1.ResourceList{"cpu": q("500m"), "memory": q("1Gi")},
			wantGuaranteed: true,
		},
		{
			name:           "limits only: requests follow",
			spec:           &corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("2"), "memory": q("4Gi")}},
			wantReq:        corev1.ResourceList{"cpu": q("2"), "memory": q("4Gi")},
			wantLim:        corev1.ResourceList{"cpu": q("2"), "memory": q("4Gi")},
			wantGuaranteed: true,
		},
		{
			name:           "one limit: the rest stays default",
			spec:           &corev1.ResourceRequirements{Limits: corev1.ResourceList{"memory": q("2Gi")}},
			wantReq:        corev1.ResourceList{"cpu": q("500m"), "memory": q("2Gi")},
			wantLim:        corev1.ResourceList{"cpu": q("500m"), "memory": q("2Gi")},
			wantGuaranteed: true,
		},
		{
			name:           "requests only: limits follow",
			spec:           &corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": q("1")}},
			wantReq:        corev1.ResourceList{"cpu": q("1"), "memory": q("1Gi")},
			wantLim:        corev1.ResourceList{"cpu": q("1"), "memory": q("1Gi")},
			wantGuaranteed: true,
		},
		{
			name: "both given: the spec's choice stands",
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
			v := mustValues(t, tenant(func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.APIServer.Resources = c.spec }), controlplane.Inputs{})
			got := v.APIServer.Resources
			if !equalList(got.Requests, c.wantReq) || !equalList(got.Limits, c.wantLim) {
				t.Errorf("resources %v / %v, want %v / %v", got.Requests, got.Limits, c.wantReq, c.wantLim)
			}
			if guaranteed(got) != c.wantGuaranteed {
				t.Errorf("Guaranteed = %v, want %v", guaranteed(got), c.wantGuaranteed)
			}
			// Other components keep their defaults, Guaranteed.
			for _, r := range []corev1.ResourceRequirements{v.Etcd.Resources, v.ControllerManager.Resources, v.Scheduler.Resources} {
				if !guaranteed(r) {
					t.Errorf("a default is not Guaranteed: %v", r)
				}
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
