package controlplane_test

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestSpread: by default no two replicas of a component share a node (of one revision for
// the Deployments, so a surge pod can land beside the pod it replaces); preferred, for a
// seed of one node, only prefers it. Zones are a soft spread either way.
func TestSpread(t *testing.T) {
	for _, c := range []struct {
		spread   controlplane.Spread
		required bool
	}{{"", true}, {controlplane.SpreadRequired, true}, {controlplane.SpreadPreferred, false}} {
		tc := tenant()
		pods := map[string]corev1.PodSpec{}
		for _, o := range renderCase(t, tc, controlplane.Inputs{Spread: c.spread}) {
			switch o.GetKind() {
			case "Deployment":
				d := &appsv1.Deployment{}
				fromUnstructured(t, o, d)
				pods[d.Name] = d.Spec.Template.Spec
			case "StatefulSet":
				s := &appsv1.StatefulSet{}
				fromUnstructured(t, o, s)
				pods[s.Name] = s.Spec.Template.Spec
			}
		}
		if len(pods) != 4 {
			t.Fatalf("spread %q: %d workloads, want 4", c.spread, len(pods))
		}
		for name, pod := range pods {
			anti := pod.Affinity.PodAntiAffinity
			if c.required {
				if len(anti.RequiredDuringSchedulingIgnoredDuringExecution) != 1 || len(anti.PreferredDuringSchedulingIgnoredDuringExecution) != 0 {
					t.Errorf("spread %q, %s: anti-affinity %+v, want one required term", c.spread, name, anti)
					continue
				}
				term := anti.RequiredDuringSchedulingIgnoredDuringExecution[0]
				byRevision := slices.Equal(term.MatchLabelKeys, []string{"pod-template-hash"})
				if term.TopologyKey != "kubernetes.io/hostname" || byRevision == (name == controlplane.Etcd.ObjectName(tc.Name)) {
					t.Errorf("spread %q, %s: term %+v: by node, and by revision for Deployments only", c.spread, name, term)
				}
			} else if len(anti.RequiredDuringSchedulingIgnoredDuringExecution) != 0 || len(anti.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
				t.Errorf("spread %q, %s: anti-affinity %+v, want one preferred term", c.spread, name, anti)
			}
			if len(pod.TopologySpreadConstraints) != 1 || pod.TopologySpreadConstraints[0].WhenUnsatisfiable != corev1.ScheduleAnyway {
				t.Errorf("spread %q, %s: zone spread %+v, want one soft constraint", c.spread, name, pod.TopologySpreadConstraints)
			}
		}
	}
}
