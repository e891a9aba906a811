package controlplane_test

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestAutoscalerRegistryRow: the autoscaler is a registry row the controller observes like
// the others, but optional: no control plane needs it to serve, so it is not among
// Components and its condition is not part of Ready.
func TestAutoscalerRegistryRow(t *testing.T) {
	row, ok := controlplane.Lookup(controlplane.Autoscaler)
	if !ok || !row.Optional || row.Workload != controlplane.Deployment || row.Hold != controlplane.HoldForAPIServer ||
		row.Condition != v1alpha1.AutoscalerAvailableCondition || row.Container != "autoscaler" {
		t.Errorf("registry row %+v", row)
	}
	if slices.Contains(controlplane.Components(), controlplane.Autoscaler) {
		t.Error("Components lists the autoscaler, which not every control plane runs")
	}
	for _, c := range controlplane.Conditions() {
		if c.Type == v1alpha1.AutoscalerAvailableCondition && (c.Ready || !c.Events) {
			t.Errorf("condition %+v: want reported with events, not part of Ready", c)
		}
	}
}

// autoscalerObjects renders tc with in and returns the autoscaler's objects by kind.
func autoscalerObjects(t *testing.T, in controlplane.Inputs) map[string]any {
	t.Helper()
	tc := tenant()
	out := map[string]any{}
	for _, o := range renderCase(t, tc, in) {
		if o.GetLabels()[controlplane.LabelComponent] != string(controlplane.Autoscaler) {
			continue
		}
		typed := typedFor(t, o.GetKind())
		fromUnstructured(t, o, typed)
		out[o.GetKind()] = typed
	}
	return out
}

func TestAutoscalerRenderedOnlyWhenAsked(t *testing.T) {
	if objs := autoscalerObjects(t, controlplane.Inputs{}); len(objs) != 0 {
		t.Errorf("no pool autoscales, yet the chart renders %v", slices.Collect(maps.Keys(objs)))
	}
	objs := autoscalerObjects(t, controlplane.Inputs{Autoscaler: true})
	for _, kind := range []string{"Deployment", "ServiceAccount", "ConfigMap", "NetworkPolicy"} {
		if objs[kind] == nil {
			t.Errorf("no autoscaler %s", kind)
		}
	}
	d, _ := objs["Deployment"].(*appsv1.Deployment)
	sa, _ := objs["ServiceAccount"].(*corev1.ServiceAccount)
	if d == nil || sa == nil {
		t.FailNow()
	}
	if ptr.Deref(d.Spec.Replicas, 0) != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %v, strategy %s: want one autoscaler, never two at once", d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if ptr.Deref(sa.AutomountServiceAccountToken, true) || d.Spec.Template.Spec.ServiceAccountName != sa.Name {
		t.Errorf("ServiceAccount %s automount %v, pod's %q: only the autoscaler's pod gets its token", sa.Name, sa.AutomountServiceAccountToken, d.Spec.Template.Spec.ServiceAccountName)
	}
	ctr := d.Spec.Template.Spec.Containers[0]
	if ctr.Image != "kubeseed/autoscaler:dev" {
		t.Errorf("image %s", ctr.Image)
	}
	want := []string{
		"--cluster-name=acme", "--metrics-bind-address=:8085", "--namespace=project-1234",
		"--scale-down-delay-after-add=10m0s", "--scale-down-delay-after-delete=0s", "--scale-down-unneeded-time=10m0s",
		"--scale-down-utilization-threshold=0.5", "--scan-interval=10s", "--tenant-kubeconfig=/etc/kubernetes/kubeconfig/kubeconfig",
	}
	if !slices.Equal(ctr.Args, want) {
		t.Errorf("args\n got %q\nwant %q", ctr.Args, want)
	}
	mounts := map[string]string{}
	for _, m := range ctr.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["kubeconfig"] != "/etc/kubernetes/kubeconfig" || mounts["autoscaler-client"] != "/etc/kubernetes/pki/autoscaler-client" {
		t.Errorf("mounts %v", mounts)
	}
	if held := autoscalerObjects(t, controlplane.Inputs{Autoscaler: true, Held: map[controlplane.Component]bool{controlplane.Autoscaler: true}}); ptr.Deref(held["Deployment"].(*appsv1.Deployment).Spec.Replicas, -1) != 0 {
		t.Error("a held autoscaler has a replica")
	}
}

// TestAutoscalerKubeconfig: the kubeconfig names the apiserver Service and exactly the files
// the pod mounts from the client certificate's Secret.
func TestAutoscalerKubeconfig(t *testing.T) {
	v := mustValues(t, tenant(), controlplane.Inputs{Autoscaler: true})
	cfg, err := clientcmd.Load([]byte(v.Autoscaler.Kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil {
		t.Fatalf("no current context in %s", v.Autoscaler.Kubeconfig)
	}
	cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	ns := v.Namespace
	if cluster.Server != "https://"+controlplane.APIServerServiceHost("acme", ns)+":6443" {
		t.Errorf("server %s", cluster.Server)
	}
	if len(v.Autoscaler.Secrets) != 1 {
		t.Fatalf("secrets %+v", v.Autoscaler.Secrets)
	}
	m := v.Autoscaler.Secrets[0]
	if m.SecretName != controlplane.AutoscalerClientSecret.Name("acme") {
		t.Errorf("mounts %s", m.SecretName)
	}
	for file, key := range map[string]string{cluster.CertificateAuthority: "ca.crt", user.ClientCertificate: "tls.crt", user.ClientKey: "tls.key"} {
		if file != m.MountPath+"/"+key || !slices.Contains(m.Keys, key) {
			t.Errorf("kubeconfig names %s, the pod mounts %s at %s", file, m.Keys, m.MountPath)
		}
	}
	if len(user.ClientCertificateData) > 0 || len(user.ClientKeyData) > 0 || user.Token != "" {
		t.Error("the kubeconfig embeds a credential: it is a ConfigMap")
	}
}

func TestAutoscalerSettings(t *testing.T) {
	s := controlplane.AutoscalerSettings{
		ScanInterval: 2 * time.Second, ScaleDownUnneededTime: 30 * time.Second, ScaleDownDelayAfterAdd: time.Minute,
		ScaleDownDelayAfterDelete: 5 * time.Second, ScaleDownUtilizationThreshold: 0.65,
		SeedAPIServerCIDRs: []string{"192.0.2.2/32", "2001:db8::/64"}, SeedAPIServerPorts: []int32{6443},
	}
	v := mustValues(t, tenant(), controlplane.Inputs{Autoscaler: true, AutoscalerSettings: &s})
	for _, want := range []string{
		"--scan-interval=2s", "--scale-down-unneeded-time=30s", "--scale-down-delay-after-add=1m0s",
		"--scale-down-delay-after-delete=5s", "--scale-down-utilization-threshold=0.65",
	} {
		if !slices.Contains(v.Autoscaler.Args, want) {
			t.Errorf("args %q lack %s", v.Autoscaler.Args, want)
		}
	}
	objs := autoscalerObjects(t, controlplane.Inputs{Autoscaler: true, AutoscalerSettings: &s})
	np := objs["NetworkPolicy"].(*networkingv1.NetworkPolicy)
	var seed *networkingv1.NetworkPolicyEgressRule
	for i, r := range np.Spec.Egress {
		if len(r.To) > 0 && r.To[0].IPBlock != nil {
			seed = &np.Spec.Egress[i]
		}
	}
	if seed == nil || len(seed.To) != 2 || seed.To[0].IPBlock.CIDR != "192.0.2.2/32" || len(seed.Ports) != 1 || *seed.Ports[0].Port != intstr.FromInt32(6443) {
		t.Errorf("egress %+v: want the seed apiserver at 192.0.2.2/32 and 2001:db8::/64 on 6443", np.Spec.Egress)
	}

	// Defaults: any address, on 443 and 6443; and the tenant's apiserver pods.
	np = autoscalerObjects(t, controlplane.Inputs{Autoscaler: true})["NetworkPolicy"].(*networkingv1.NetworkPolicy)
	if len(np.Spec.Egress) != 2 || len(np.Spec.Egress[1].To) != 0 || len(np.Spec.Egress[1].Ports) != 2 ||
		np.Spec.Egress[0].To[0].PodSelector.MatchLabels[controlplane.LabelComponent] != string(controlplane.APIServer) {
		t.Errorf("default egress %+v", np.Spec.Egress)
	}
	if len(np.Spec.Ingress) != 0 || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("ingress %+v (%v): the autoscaler takes no connection", np.Spec.Ingress, np.Spec.PolicyTypes)
	}

	for name, bad := range map[string]func(*controlplane.AutoscalerSettings){
		"no scan interval":   func(s *controlplane.AutoscalerSettings) { s.ScanInterval = 0 },
		"negative delay":     func(s *controlplane.AutoscalerSettings) { s.ScaleDownDelayAfterAdd = -time.Second },
		"threshold 0":        func(s *controlplane.AutoscalerSettings) { s.ScaleDownUtilizationThreshold = 0 },
		"threshold above 1":  func(s *controlplane.AutoscalerSettings) { s.ScaleDownUtilizationThreshold = 1.5 },
		"not a CIDR":         func(s *controlplane.AutoscalerSettings) { s.SeedAPIServerCIDRs = []string{"192.0.2.2"} },
		"port out of range":  func(s *controlplane.AutoscalerSettings) { s.SeedAPIServerPorts = []int32{70000} },
		"negative unneeded":  func(s *controlplane.AutoscalerSettings) { s.ScaleDownUnneededTime = -time.Minute },
		"negative after del": func(s *controlplane.AutoscalerSettings) { s.ScaleDownDelayAfterDelete = -time.Minute },
	} {
		s := controlplane.DefaultAutoscalerSettings()
		bad(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, s)
		}
		if _, err := controlplane.ValuesFor(tenant(), controlplane.Inputs{AutoscalerSettings: &s}); err == nil || !strings.Contains(err.Error(), "autoscaler settings") {
			t.Errorf("%s: ValuesFor: %v", name, err)
		}
	}
	if err := controlplane.DefaultAutoscalerSettings().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestAutoscalerImage(t *testing.T) {
	for registry, want := range map[string]string{
		"":                        "kubeseed/autoscaler:dev",
		"mirror.example.com/k8s/": "mirror.example.com/k8s/kubeseed/autoscaler:dev",
	} {
		if got := controlplane.AutoscalerImage(registry); got != want {
			t.Errorf("AutoscalerImage(%q) = %s, want %s", registry, got, want)
		}
		if v := mustValues(t, tenant(), controlplane.Inputs{ImageRegistry: registry}); v.Autoscaler.Image != want {
			t.Errorf("registry %q: image %s, want %s", registry, v.Autoscaler.Image, want)
		}
	}
}

// TestAutoscalerFlagsExist: every flag the chart passes is one cmd/kubeseed-autoscaler (a
// module of its own, so read as text) defines.
func TestAutoscalerFlagsExist(t *testing.T) {
	src, err := os.ReadFile("../../cmd/kubeseed-autoscaler/main.go")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`flag\.(?:\w+Var\([^,]+,\s*|String\(|Duration\(|Float64\(|Bool\(|Int\()"([^"]+)"`).FindAllSubmatch(src, -1) {
		defined[string(m[1])] = true
	}
	if !defined["tenant-kubeconfig"] {
		t.Fatal("found no flags in cmd/kubeseed-autoscaler/main.go; update this test")
	}
	for _, arg := range mustValues(t, tenant(), controlplane.Inputs{Autoscaler: true}).Autoscaler.Args {
		name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		if !defined[name] {
			t.Errorf("the autoscaler has no flag --%s (arg %q)", name, arg)
		}
	}
}
