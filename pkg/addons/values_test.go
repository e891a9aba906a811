package addons

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ and the chart's values.yaml")

// example is the TenantCluster charts/tenant-addons/values.yaml is computed for: the CRD's
// defaults, published at 192.0.2.10:31443.
func example() *v1alpha1.TenantCluster {
	return &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "example", Namespace: "default"},
		Spec: v1alpha1.TenantClusterSpec{
			Version: versions.Default,
			Network: v1alpha1.NetworkSpec{ServiceCIDR: "10.96.0.0/12", PodCIDR: "10.244.0.0/16", DNSDomain: "cluster.local", CNI: v1alpha1.CNIFlannel},
		},
	}
}

func exampleInputs() Inputs {
	v, err := For(versions.Default)
	if err != nil {
		panic(err)
	}
	return Inputs{Endpoint: "https://192.0.2.10:31443", Versions: v}
}

var goldenCases = []struct {
	name string
	tc   *v1alpha1.TenantCluster
	in   Inputs
}{
	{name: "defaults", tc: example(), in: exampleInputs()},
	{
		// Another network, an older minor, a private registry and a load-balancer endpoint.
		name: "custom-network",
		tc: func() *v1alpha1.TenantCluster {
			tc := example()
			tc.Name, tc.Namespace = "acme", "project-1234"
			tc.Spec.Version = "v1.34.4"
			tc.Spec.Network = v1alpha1.NetworkSpec{ServiceCIDR: "172.20.0.0/16", PodCIDR: "172.16.0.0/14", DNSDomain: "acme.internal"}
			return tc
		}(),
		in: Inputs{
			Endpoint: "https://203.0.113.10:6443",
			Versions: v1alpha1.AddonVersions{
				KubernetesVersion: "v1.34.4", KubeProxy: "v1.34.4", CoreDNS: "v1.12.4", Flannel: versions.Flannel, KubeRouter: versions.KubeRouter,
			},
			ImageRegistry: "registry.example.com/k8s",
		},
	},
	{
		// The customer brings a pod network: no flannel, no kube-router.
		name: "cni-none",
		tc: func() *v1alpha1.TenantCluster {
			tc := example()
			tc.Spec.Network.CNI = v1alpha1.CNINone
			return tc
		}(),
		in: func() Inputs {
			in := exampleInputs()
			in.Versions.Flannel, in.Versions.KubeRouter = "", ""
			return in
		}(),
	},
}

// TestGolden renders each case through the real chart and compares it with
// testdata/<name>.golden.yaml (go test ./pkg/addons -update rewrites them).
func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			v, err := ValuesFor(c.tc, c.in)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := Render(v)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			for _, o := range objs {
				out, err := yaml.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				buf.WriteString("---\n")
				buf.Write(out)
			}
			path := filepath.Join("testdata", c.name+".golden.yaml")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("render differs from %s (run with -update and review the diff)", path)
			}
		})
	}
}

// TestValuesFileMatches keeps charts/tenant-addons/values.yaml equal to ValuesFor(example):
// helm lint and helm template render what a tenant gets.
func TestValuesFileMatches(t *testing.T) {
	v, err := ValuesFor(example(), exampleInputs())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	const header = "# Values of the tenant-addons chart.\n#\n" +
		"# kubeseed never relies on these defaults: it renders the chart with every value computed in\n" +
		"# Go by pkg/addons.ValuesFor, and TestValuesFileMatches keeps this file equal to what it\n" +
		"# returns for a TenantCluster with the CRD's defaults published at https://192.0.2.10:31443\n" +
		"# (go test ./pkg/addons -update rewrites it). tunnel is read by templates/tunnel-agent.yaml.\n"
	path := filepath.Join("..", "..", "charts", "tenant-addons", "values.yaml")
	if *update {
		if err := os.WriteFile(path, append([]byte(header), raw...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := yaml.Unmarshal(onDisk, &got); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, got, want) {
		t.Errorf("%s differs from ValuesFor(example) (run with -update):\n%s", path, raw)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

func convert[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return out
}

// TestRender checks what a tenant gets: kubeadm's names, every object labelled for pruning,
// kube-proxy configured for these hosts and CoreDNS at the kubelets' clusterDNS.
func TestRender(t *testing.T) {
	v, err := ValuesFor(goldenCases[1].tc, goldenCases[1].in)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Render(v)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byID[o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName()] = o
		if o.GetLabels()["app.kubernetes.io/managed-by"] != "kubeseed" {
			t.Errorf("%s %s is not labelled managed-by kubeseed", o.GetKind(), o.GetName())
		}
		if len(o.GetOwnerReferences()) > 0 {
			t.Errorf("%s %s has owner references: it lives in another cluster than its owner", o.GetKind(), o.GetName())
		}
	}
	want := []string{
		"ServiceAccount kube-system/kube-proxy", "ClusterRoleBinding /kubeadm:node-proxier", "Role kube-system/kube-proxy",
		"RoleBinding kube-system/kube-proxy", "ConfigMap kube-system/kube-proxy", "DaemonSet kube-system/kube-proxy",
		"ServiceAccount kube-system/coredns", "ClusterRole /system:coredns", "ClusterRoleBinding /system:coredns",
		"ConfigMap kube-system/coredns", "Deployment kube-system/coredns", "Service kube-system/kube-dns",
		"ServiceAccount kube-system/flannel", "ClusterRole /flannel", "ClusterRoleBinding /flannel",
		"ConfigMap kube-system/kube-flannel-cfg", "DaemonSet kube-system/kube-flannel-ds",
		"ServiceAccount kube-system/kube-router", "ClusterRole /kubeseed:kube-router", "ClusterRoleBinding /kubeseed:kube-router",
		"DaemonSet kube-system/kube-router",
		"ClusterRole /kubeseed:autoscaler", "ClusterRoleBinding /kubeseed:autoscaler",
		"Role kube-system/kubeseed:autoscaler", "RoleBinding kube-system/kubeseed:autoscaler",
	}
	var got []string
	for id := range byID {
		got = append(got, id)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("objects\n got %v\nwant %v", got, want)
	}

	ds := convert[appsv1.DaemonSet](t, byID["DaemonSet kube-system/kube-proxy"])
	if img := ds.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/k8s/kube-proxy:v1.34.4" {
		t.Errorf("kube-proxy image %s", img)
	}
	testRenderNetwork(t, byID)
	cm := convert[corev1.ConfigMap](t, byID["ConfigMap kube-system/kube-proxy"])
	var conf map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["config.conf"]), &conf); err != nil {
		t.Fatal(err)
	}
	conntrack, _ := conf["conntrack"].(map[string]any)
	if conf["mode"] != "iptables" || conf["clusterCIDR"] != "172.16.0.0/14" || conf["oomScoreAdj"] != float64(0) ||
		conntrack["maxPerCore"] != float64(0) || conntrack["tcpEstablishedTimeout"] != "0s" {
		t.Errorf("config.conf:\n%s", cm.Data["config.conf"])
	}
	kc, err := clientcmd.Load([]byte(cm.Data["kubeconfig.conf"]))
	if err != nil || kc.Clusters["default"] == nil || kc.Clusters["default"].Server != "https://203.0.113.10:6443" {
		t.Errorf("kubeconfig.conf does not point at the published endpoint: %v\n%s", err, cm.Data["kubeconfig.conf"])
	}
	if cm.Annotations["kubeadm.kubernetes.io/component-config.hash"] != ds.Spec.Template.Annotations["kubeseed.io/config-hash"] {
		t.Errorf("the DaemonSet does not roll with its configuration")
	}

	dep := convert[appsv1.Deployment](t, byID["Deployment kube-system/coredns"])
	pod := dep.Spec.Template.Spec
	if pod.Containers[0].Image != "registry.example.com/k8s/coredns/coredns:v1.12.4" || pod.DNSPolicy != corev1.DNSDefault {
		t.Errorf("coredns image %s, dnsPolicy %s", pod.Containers[0].Image, pod.DNSPolicy)
	}
	dnsCM := convert[corev1.ConfigMap](t, byID["ConfigMap kube-system/coredns"])
	if !strings.Contains(dnsCM.Data["Corefile"], "kubernetes acme.internal in-addr.arpa") || !strings.Contains(dnsCM.Data["Corefile"], "forward . /etc/resolv.conf") {
		t.Errorf("Corefile:\n%s", dnsCM.Data["Corefile"])
	}
	svc := convert[corev1.Service](t, byID["Service kube-system/kube-dns"])
	if svc.Spec.ClusterIP != "172.20.0.10" {
		t.Errorf("kube-dns ClusterIP %s, want the 10th address of the service CIDR", svc.Spec.ClusterIP)
	}
}

func TestValuesForRefuses(t *testing.T) {
	for name, mut := range map[string]func(*v1alpha1.TenantCluster, *Inputs){
		"no endpoint":      func(_ *v1alpha1.TenantCluster, in *Inputs) { in.Endpoint = "" },
		"http endpoint":    func(_ *v1alpha1.TenantCluster, in *Inputs) { in.Endpoint = "http://192.0.2.1:6443" },
		"no versions":      func(_ *v1alpha1.TenantCluster, in *Inputs) { in.Versions = v1alpha1.AddonVersions{} },
		"no service CIDR":  func(tc *v1alpha1.TenantCluster, _ *Inputs) { tc.Spec.Network.ServiceCIDR = "" },
		"no pod CIDR":      func(tc *v1alpha1.TenantCluster, _ *Inputs) { tc.Spec.Network.PodCIDR = "" },
		"unknown cni":      func(tc *v1alpha1.TenantCluster, _ *Inputs) { tc.Spec.Network.CNI = "calico" },
		"network unpinned": func(_ *v1alpha1.TenantCluster, in *Inputs) { in.Versions.Flannel = "" },
	} {
		tc, in := example(), exampleInputs()
		mut(tc, &in)
		if _, err := ValuesFor(tc, in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestPin: addon versions follow the version the control plane runs and only that; a
// kubeseed upgrade whose tables differ leaves a running tenant's addons alone.
func TestPin(t *testing.T) {
	pinned := func(k, dns string) *v1alpha1.AddonVersions {
		return &v1alpha1.AddonVersions{KubernetesVersion: k, KubeProxy: k, CoreDNS: dns, Flannel: versions.Flannel, KubeRouter: versions.KubeRouter}
	}
	noNetwork := func(v *v1alpha1.AddonVersions) *v1alpha1.AddonVersions {
		out := *v
		out.Flannel, out.KubeRouter = "", ""
		return &out
	}
	for _, c := range []struct {
		name          string
		spec, running string
		cni           v1alpha1.CNIPlugin
		current       *v1alpha1.AddonVersions
		want          v1alpha1.AddonVersions
	}{
		{name: "new tenant, before Ready", spec: "v1.36.3", want: *pinned("v1.36.3", "v1.12.4")},
		{name: "new tenant, Ready", spec: "v1.36.3", running: "v1.36.3", want: *pinned("v1.36.3", "v1.12.4")},
		{
			// An older kubeseed pinned another CoreDNS: this one's table does not matter.
			name: "kubeseed upgraded, tenant unchanged", spec: "v1.36.3", running: "v1.36.3",
			current: pinned("v1.36.3", "v1.11.3"), want: *pinned("v1.36.3", "v1.11.3"),
		},
		{
			name: "pinned before Ready, still coming up", spec: "v1.36.3",
			current: pinned("v1.36.3", "v1.11.3"), want: *pinned("v1.36.3", "v1.11.3"),
		},
		{
			// kube-proxy must not run ahead of the apiservers.
			name: "spec raised, control plane still on the old version", spec: "v1.36.3", running: "v1.35.4",
			current: pinned("v1.35.4", "v1.11.3"), want: *pinned("v1.35.4", "v1.11.3"),
		},
		{
			name: "control plane upgraded", spec: "v1.36.3", running: "v1.36.3",
			current: pinned("v1.35.4", "v1.11.3"), want: *pinned("v1.36.3", "v1.12.4"),
		},
		{
			name: "patch upgrade", spec: "v1.35.4", running: "v1.35.4",
			current: pinned("v1.35.3", "v1.12.4"), want: *pinned("v1.35.4", "v1.12.4"),
		},
		{
			// Pinned by a kubeseed without a pod network: the customer's own CNI runs there,
			// and kubeseed adds none, not even when the version changes.
			name: "pinned before kubeseed had a pod network", spec: "v1.36.3", running: "v1.36.3",
			current: noNetwork(pinned("v1.36.3", "v1.11.3")), want: *noNetwork(pinned("v1.36.3", "v1.11.3")),
		},
		{
			name: "pinned before kubeseed had a pod network, upgraded", spec: "v1.36.3", running: "v1.36.3",
			current: noNetwork(pinned("v1.35.4", "v1.11.3")), want: *noNetwork(pinned("v1.36.3", "v1.12.4")),
		},
		{
			// ... until the customer opts in: the network joins, the rest stays.
			name: "opted in to flannel", spec: "v1.36.3", running: "v1.36.3", cni: v1alpha1.CNIFlannel,
			current: noNetwork(pinned("v1.36.3", "v1.11.3")), want: *pinned("v1.36.3", "v1.11.3"),
		},
		{
			name: "cni none pins no network", spec: "v1.36.3", cni: v1alpha1.CNINone,
			want: *noNetwork(pinned("v1.36.3", "v1.12.4")),
		},
		{
			name: "cni none, pinned by an older kubeseed", spec: "v1.36.3", running: "v1.36.3", cni: v1alpha1.CNINone,
			current: noNetwork(pinned("v1.36.3", "v1.11.3")), want: *noNetwork(pinned("v1.36.3", "v1.11.3")),
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc := example()
			tc.Spec.Network.CNI = c.cni
			tc.Spec.Version, tc.Status.Version, tc.Status.Addons = c.spec, c.running, c.current
			got, err := Pin(tc)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Pin = %+v, want %+v", got, c.want)
			}
		})
	}
	tc := example()
	tc.Spec.Version = "v1.30.0"
	if _, err := Pin(tc); err == nil {
		t.Error("Pin of an unsupported version: no error")
	}
}

// TestCheck: AddonsReady's judgement.
func TestCheck(t *testing.T) {
	ready := corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	notReady := corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}}
	ds := func(desired, updated, rdy int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Generation: 1}, Status: appsv1.DaemonSetStatus{
			ObservedGeneration: 1, DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated, NumberReady: rdy,
		}}
	}
	proxyOnly := func(d *appsv1.DaemonSet) []NamedDaemonSet {
		return []NamedDaemonSet{{Name: "kube-proxy", DaemonSet: d}}
	}
	dep := func(available int32) *appsv1.Deployment {
		two := int32(2)
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Generation: 1}, Spec: appsv1.DeploymentSpec{Replicas: &two},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 2, AvailableReplicas: available}}
	}
	for _, c := range []struct {
		name   string
		nodes  []corev1.Node
		ds     *appsv1.DaemonSet
		dep    *appsv1.Deployment
		ok     bool
		reason string
	}{
		{"no nodes", nil, ds(0, 0, 0), dep(0), false, v1alpha1.WaitingForNodesReason},
		{"no Ready node", []corev1.Node{notReady}, ds(1, 1, 0), dep(0), false, v1alpha1.WaitingForNodesReason},
		{"not applied", []corev1.Node{ready}, nil, nil, false, v1alpha1.ProgressingReason},
		{"kube-proxy starting", []corev1.Node{ready, notReady}, ds(2, 2, 1), dep(1), false, v1alpha1.ProgressingReason},
		{"kube-proxy rolling", []corev1.Node{ready}, ds(1, 0, 1), dep(1), false, v1alpha1.ProgressingReason},
		{"CoreDNS pending", []corev1.Node{ready}, ds(1, 1, 1), dep(0), false, v1alpha1.ProgressingReason},
		{"ready", []corev1.Node{ready}, ds(1, 1, 1), dep(1), true, v1alpha1.AvailableReason},
	} {
		h := Check(c.nodes, proxyOnly(c.ds), c.dep)
		if h.Ready != c.ok || h.Reason != c.reason || h.Message == "" {
			t.Errorf("%s: %+v, want ready %v reason %s", c.name, h, c.ok, c.reason)
		}
	}

	// With the pod network: each DaemonSet is waited for by name, and a node that is not
	// Ready says why.
	noCNI := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionFalse,
		Message: "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady",
	}}}}
	network := func(flannel *appsv1.DaemonSet) []NamedDaemonSet {
		return []NamedDaemonSet{{Name: FlannelDaemonSet, DaemonSet: flannel}, {Name: "kube-proxy", DaemonSet: ds(1, 1, 1)}, {Name: NetworkPolicyDaemonSet, DaemonSet: ds(1, 1, 1)}}
	}
	for _, c := range []struct {
		name     string
		nodes    []corev1.Node
		sets     []NamedDaemonSet
		ok       bool
		reason   string
		contains string
	}{
		{"node without a network", []corev1.Node{noCNI}, network(nil), false, v1alpha1.WaitingForNodesReason, "node w1: container runtime network not ready"},
		{"flannel missing", []corev1.Node{ready}, network(nil), false, v1alpha1.ProgressingReason, "DaemonSet kube-flannel-ds does not exist yet"},
		{"flannel starting", []corev1.Node{ready}, network(ds(1, 1, 0)), false, v1alpha1.ProgressingReason, "0 of 1 pods ready"},
		{"all ready", []corev1.Node{ready}, network(ds(1, 1, 1)), true, v1alpha1.AvailableReason, "kube-flannel-ds, kube-proxy, kube-router, coredns are available"},
	} {
		h := Check(c.nodes, c.sets, dep(1))
		if h.Ready != c.ok || h.Reason != c.reason || !strings.Contains(h.Message, c.contains) {
			t.Errorf("%s: %+v, want ready %v reason %s and a message with %q", c.name, h, c.ok, c.reason, c.contains)
		}
	}
}

func TestCheckTunnel(t *testing.T) {
	ready := corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	agents := func(desired, ready int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: desired, UpdatedNumberScheduled: desired, NumberReady: ready}}
	}
	cases := []struct {
		name   string
		nodes  []corev1.Node
		agents *appsv1.DaemonSet
		ready  bool
		reason string
	}{
		{"no nodes", nil, agents(0, 0), false, v1alpha1.WaitingForNodesReason},
		{"no DaemonSet yet", []corev1.Node{ready}, nil, false, v1alpha1.ProgressingReason},
		{"agent not ready", []corev1.Node{ready}, agents(1, 0), false, v1alpha1.ProgressingReason},
		{"agents everywhere", []corev1.Node{ready, ready}, agents(2, 2), true, v1alpha1.AvailableReason},
	}
	for _, c := range cases {
		h := CheckTunnel(c.nodes, c.agents)
		if h.Ready != c.ready || h.Reason != c.reason {
			t.Errorf("%s: got ready=%t reason=%s (%s), want ready=%t reason=%s", c.name, h.Ready, h.Reason, h.Message, c.ready, c.reason)
		}
	}
}
