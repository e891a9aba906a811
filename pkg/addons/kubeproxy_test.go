package addons

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeseed/kubeseed/pkg/bootstrap"
)

// TestKubeProxyFollowsNodeVersions: one kube-proxy DaemonSet per kubelet version among the
// nodes, at that version and on those nodes only; the main one keeps off them. Versions
// kubeseed cannot run (unsupported, newer than the control plane, not a version) get none:
// their nodes keep the main one.
func TestKubeProxyFollowsNodeVersions(t *testing.T) {
	for _, c := range []struct {
		name  string
		main  string
		nodes []string
		want  []string // extra DaemonSets
	}{
		{"one version", "v1.36.3", []string{"v1.36.3"}, nil},
		{"no labels", "v1.36.3", nil, nil},
		{"a worker upgrade under way", "v1.36.3", []string{"v1.35.4", "v1.36.3", "v1.35.4"}, []string{"kube-proxy-v1-35-4"}},
		{"two older versions", "v1.36.3", []string{"v1.34.4", "v1.35.4"}, []string{"kube-proxy-v1-34-4", "kube-proxy-v1-35-4"}},
		{"newer than the control plane", "v1.35.4", []string{"v1.36.3"}, nil},
		{"unsupported or garbage", "v1.36.3", []string{"v1.33.0", "latest", "v1.35.4;rm"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var nodes []corev1.Node
			for _, v := range c.nodes {
				nodes = append(nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{bootstrap.KubeletVersionLabel: v}}})
			}
			in := goldenCases[0].in
			in.Versions.KubeProxy, in.NodeVersions = c.main, NodeVersions(nodes)
			v, err := ValuesFor(goldenCases[0].tc, in)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := Render(v)
			if err != nil {
				t.Fatal(err)
			}
			sets := map[string]*appsv1.DaemonSet{}
			for _, o := range objs {
				if o.GetKind() == "DaemonSet" && (o.GetName() == KubeProxyDaemonSet || len(o.GetName()) > len(KubeProxyDaemonSet) && o.GetName()[:len(KubeProxyDaemonSet)+1] == KubeProxyDaemonSet+"-") {
					sets[o.GetName()] = convert[appsv1.DaemonSet](t, o)
				}
			}
			mainDS := sets[KubeProxyDaemonSet]
			if mainDS == nil {
				t.Fatal("no kube-proxy DaemonSet")
			}
			if img := mainDS.Spec.Template.Spec.Containers[0].Image; img != "registry.k8s.io/kube-proxy:"+c.main {
				t.Errorf("main kube-proxy image %s, want the control plane's %s", img, c.main)
			}
			var extras []string
			for name := range sets {
				if name != KubeProxyDaemonSet {
					extras = append(extras, name)
				}
			}
			slices.Sort(extras)
			if !slices.Equal(extras, c.want) {
				t.Fatalf("extra DaemonSets %v, want %v", extras, c.want)
			}
			aff := mainDS.Spec.Template.Spec.Affinity
			if len(c.want) == 0 {
				if aff != nil {
					t.Errorf("main kube-proxy has affinity %+v with no other version", aff)
				}
				return
			}
			var kept []string
			for _, name := range c.want {
				ds := sets[name]
				version := ds.Spec.Template.Spec.NodeSelector[bootstrap.KubeletVersionLabel]
				kept = append(kept, version)
				if img := ds.Spec.Template.Spec.Containers[0].Image; img != "registry.k8s.io/kube-proxy:"+version {
					t.Errorf("%s runs %s on nodes of %s", name, img, version)
				}
				if ds.Spec.Selector.MatchLabels["k8s-app"] != name {
					t.Errorf("%s selects %v: it would overlap the main DaemonSet's pods", name, ds.Spec.Selector.MatchLabels)
				}
			}
			expr := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0]
			if expr.Key != bootstrap.KubeletVersionLabel || expr.Operator != corev1.NodeSelectorOpNotIn || !slices.Equal(expr.Values, kept) {
				t.Errorf("main kube-proxy affinity %+v, want %s NotIn %v", expr, bootstrap.KubeletVersionLabel, kept)
			}
			// Every DaemonSet is waited for, and those of node versions may be empty.
			for _, e := range ExpectedDaemonSets(v) {
				if _, ok := sets[e.Name]; !ok && e.Name != FlannelDaemonSet && e.Name != NetworkPolicyDaemonSet {
					t.Errorf("expected DaemonSet %s is not rendered", e.Name)
				}
				if sets[e.Name] != nil && !e.MayBeEmpty {
					t.Errorf("kube-proxy DaemonSet %s must be allowed no node while others exist", e.Name)
				}
			}
		})
	}
}

// TestCheckKubeProxyOfNoNode: in a worker upgrade every node may be at another version
// than the main kube-proxy's; its empty DaemonSet holds nothing up, another one's does.
func TestCheckKubeProxyOfNoNode(t *testing.T) {
	ready := corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	ds := func(name string, desired, rdy int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1}, Status: appsv1.DaemonSetStatus{
			ObservedGeneration: 1, DesiredNumberScheduled: desired, UpdatedNumberScheduled: desired, NumberReady: rdy,
		}}
	}
	two := int32(2)
	dns := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Generation: 1}, Spec: appsv1.DeploymentSpec{Replicas: &two},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 2, AvailableReplicas: 2}}
	h := Check([]corev1.Node{ready}, []NamedDaemonSet{
		{Name: "kube-proxy", DaemonSet: ds("kube-proxy", 0, 0), MayBeEmpty: true},
		{Name: "kube-proxy-v1-35-4", DaemonSet: ds("kube-proxy-v1-35-4", 1, 1), MayBeEmpty: true},
	}, dns)
	if !h.Ready {
		t.Errorf("an empty main kube-proxy held AddonsReady: %+v", h)
	}
	h = Check([]corev1.Node{ready}, []NamedDaemonSet{
		{Name: "kube-proxy", DaemonSet: ds("kube-proxy", 0, 0), MayBeEmpty: true},
		{Name: "kube-proxy-v1-35-4", DaemonSet: ds("kube-proxy-v1-35-4", 1, 0), MayBeEmpty: true},
	}, dns)
	if h.Ready {
		t.Errorf("a kube-proxy of a node version with no ready pod passed: %+v", h)
	}
}
