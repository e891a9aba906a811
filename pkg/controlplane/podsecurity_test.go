package controlplane_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/render"
)

// The manager labels each tenant's control-plane namespace
// pod-security.kubernetes.io/enforce=restricted, so a chart change that breaks the restricted
// profile must fail here, not leave the control plane's pods unschedulable in the seed. The
// checks are the admission plugin's own (k8s.io/pod-security-admission), not a copy of them.

// restricted is the level the seed enforces; latest, as the seed's admission evaluates it.
var restricted = psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}

func newPodSecurityEvaluator(t *testing.T) policy.Evaluator {
	t.Helper()
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatalf("pod security evaluator: %v", err)
	}
	return e
}

// renderPods renders tc's control plane into the namespace its values were computed for
// (the release namespace the chart insists on) and returns its pod templates.
func renderPods(t *testing.T, tc *v1alpha1.TenantCluster, in controlplane.Inputs) []podTemplate {
	t.Helper()
	v := mustValues(t, tc, in)
	objs, err := render.Render(charts.TenantControlPlane, tc.Name, v.Namespace, v)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return podTemplates(t, objs)
}

// podTemplate is one pod the seed would admit: the workload that carries it and its template.
type podTemplate struct {
	kind, name string
	meta       metav1.ObjectMeta
	spec       corev1.PodSpec
}

// podTemplates returns the pod template of every workload in objs. A kind it does not know
// that still carries a pod template fails the test, rather than going unchecked.
func podTemplates(t *testing.T, objs []*unstructured.Unstructured) []podTemplate {
	t.Helper()
	var out []podTemplate
	for _, o := range objs {
		add := func(tpl corev1.PodTemplateSpec) {
			out = append(out, podTemplate{o.GetKind(), o.GetName(), tpl.ObjectMeta, tpl.Spec})
		}
		switch o.GetKind() {
		case "Deployment":
			var w appsv1.Deployment
			fromUnstructured(t, o, &w)
			add(w.Spec.Template)
		case "StatefulSet":
			var w appsv1.StatefulSet
			fromUnstructured(t, o, &w)
			add(w.Spec.Template)
		case "DaemonSet":
			var w appsv1.DaemonSet
			fromUnstructured(t, o, &w)
			add(w.Spec.Template)
		case "ReplicaSet":
			var w appsv1.ReplicaSet
			fromUnstructured(t, o, &w)
			add(w.Spec.Template)
		case "Job":
			var w batchv1.Job
			fromUnstructured(t, o, &w)
			add(w.Spec.Template)
		case "CronJob":
			var w batchv1.CronJob
			fromUnstructured(t, o, &w)
			add(w.Spec.JobTemplate.Spec.Template)
		case "Pod":
			var p corev1.Pod
			fromUnstructured(t, o, &p)
			out = append(out, podTemplate{o.GetKind(), o.GetName(), p.ObjectMeta, p.Spec})
		default:
			if _, found, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec"); found {
				t.Errorf("%s %s has a pod template this test does not evaluate", o.GetKind(), o.GetName())
			}
		}
	}
	return out
}

// forbidden evaluates the pod at restricted and lists every check it fails, as
// "reason (detail)".
func forbidden(e policy.Evaluator, p podTemplate) []string {
	var failed []string
	for _, r := range e.EvaluatePod(restricted, &p.meta, &p.spec) {
		if !r.Allowed {
			failed = append(failed, fmt.Sprintf("%s (%s)", r.ForbiddenReason, r.ForbiddenDetail))
		}
	}
	return failed
}

// TestPodSecurityRestricted renders the tenant control plane for variants that change the
// pods' shape and admits every pod template at restricted.
func TestPodSecurityRestricted(t *testing.T) {
	cases := []struct {
		name string
		tc   *v1alpha1.TenantCluster
		in   controlplane.Inputs
	}{
		{"defaults", tenant(), controlplane.Inputs{}},
		{"ha-3-etcd-2-apiservers", tenant(func(tc *v1alpha1.TenantCluster) {
			cp := &tc.Spec.ControlPlane
			cp.Etcd.Replicas, cp.APIServer.Replicas = ptr.To[int32](3), ptr.To[int32](2)
		}), controlplane.Inputs{EndpointHost: "203.0.113.10", SecretChecksums: checksums("acme")}},
		// The tunnel adds a sidecar to the apiserver; both with and without it, and the
		// upstream konnectivity server in its place.
		{"tunnel-nodeport", tenant(), controlplane.Inputs{EndpointHost: "192.0.2.10", TunnelNodePort: 30132}},
		{"tunnel-disabled", tenant(), controlplane.Inputs{EndpointHost: "192.0.2.10", TunnelDisabled: true}},
		{"tunnel-konnectivity", tenant(), controlplane.Inputs{
			TunnelServer: controlplane.TunnelServerKonnectivity,
			TunnelImage:  "registry.k8s.io/kas-network-proxy/proxy-server:v0.33.0",
		}},
		{"held-controllers", tenant(), controlplane.Inputs{Held: map[controlplane.Component]bool{controlplane.ControllerManager: true, controlplane.Scheduler: true}}},
		// etcd restored from a backup: its restore pod in place of the StatefulSet.
		{"etcd-restore", tenant(), controlplane.Inputs{EtcdRestore: &controlplane.EtcdRestore{Token: "uid"}}},
	}
	for _, g := range goldenCases {
		cases = append(cases, struct {
			name string
			tc   *v1alpha1.TenantCluster
			in   controlplane.Inputs
		}{"golden-" + g.name, g.tc, g.in})
	}

	e := newPodSecurityEvaluator(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pods := renderPods(t, c.tc, c.in)
			// An empty or partial render must not pass for want of pods to check.
			seen := map[string]bool{}
			for _, p := range pods {
				seen[p.name] = true
				if failed := forbidden(e, p); len(failed) > 0 {
					t.Errorf("%s %s violates PodSecurity %q:\n  %s", p.kind, p.name, restricted.Level, strings.Join(failed, "\n  "))
				}
			}
			for _, comp := range controlplane.Components() {
				name := comp.ObjectName(c.tc.Name)
				if comp == controlplane.Etcd && c.in.EtcdRestore != nil {
					name = controlplane.EtcdRestorePodName(c.tc.Name)
				}
				if !seen[name] {
					t.Errorf("no pod template for %s (%s)", comp, comp.ObjectName(c.tc.Name))
				}
			}
			if len(pods) < len(controlplane.Components()) {
				t.Errorf("evaluated %d pod templates, want at least %d", len(pods), len(controlplane.Components()))
			}
		})
	}
}

// TestPodSecurityEvaluatorRefuses is the negative control of TestPodSecurityRestricted: a
// rendered pod, loosened in one way, must be refused, so that test cannot pass vacuously.
func TestPodSecurityEvaluatorRefuses(t *testing.T) {
	e := newPodSecurityEvaluator(t)
	tc := tenant()
	var apiserver *podTemplate
	for _, p := range renderPods(t, tc, controlplane.Inputs{}) {
		if p.kind == "Deployment" && p.name == controlplane.APIServer.ObjectName(tc.Name) {
			apiserver = &p
		}
	}
	if apiserver == nil {
		t.Fatal("no kube-apiserver Deployment rendered")
	}
	if failed := forbidden(e, *apiserver); len(failed) > 0 {
		t.Fatalf("the unmodified apiserver pod is already refused: %v", failed)
	}
	for _, c := range []struct {
		name, reason string
		loosen       func(*corev1.PodSpec)
	}{
		{"privileged", "privileged", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Privileged = ptr.To(true)
		}},
		{"no-runAsNonRoot", "runAsNonRoot != true", func(s *corev1.PodSpec) {
			s.SecurityContext.RunAsNonRoot = nil
			for i := range s.Containers {
				if sc := s.Containers[i].SecurityContext; sc != nil {
					sc.RunAsNonRoot = nil
				}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := *apiserver
			p.spec = *apiserver.spec.DeepCopy()
			if p.spec.SecurityContext == nil || p.spec.Containers[0].SecurityContext == nil {
				t.Fatal("the rendered pod has no securityContext to loosen")
			}
			c.loosen(&p.spec)
			failed := forbidden(e, p)
			if !slices.ContainsFunc(failed, func(f string) bool { return strings.HasPrefix(f, c.reason+" (") }) {
				t.Errorf("a %s pod was not refused for %q: %v", c.name, c.reason, failed)
			}
		})
	}
}
