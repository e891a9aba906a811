package addons

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// testRenderNetwork: flannel leases from the tenant's pod range over VXLAN, both agents reach
// the published endpoint without the `kubernetes` Service, images come from the mirror,
// and every addon pod is critical and requests what it uses.
func testRenderNetwork(t *testing.T, byID map[string]*unstructured.Unstructured) {
	t.Helper()
	cm := convert[corev1.ConfigMap](t, byID["ConfigMap kube-system/kube-flannel-cfg"])
	var conf struct {
		Network string
		Backend struct{ Type string }
	}
	if err := yaml.Unmarshal([]byte(cm.Data["net-conf.json"]), &conf); err != nil || conf.Network != "172.16.0.0/14" || conf.Backend.Type != "vxlan" {
		t.Errorf("net-conf.json (%v):\n%s", err, cm.Data["net-conf.json"])
	}
	flannel := convert[appsv1.DaemonSet](t, byID["DaemonSet kube-system/kube-flannel-ds"])
	router := convert[appsv1.DaemonSet](t, byID["DaemonSet kube-system/kube-router"])
	for _, c := range []struct {
		ds    *appsv1.DaemonSet
		image string
	}{
		{flannel, "registry.example.com/k8s/flannel-io/flannel:" + versions.Flannel},
		{router, "registry.example.com/k8s/cloudnativelabs/kube-router:" + versions.KubeRouter},
	} {
		ctr := c.ds.Spec.Template.Spec.Containers[0]
		if ctr.Image != c.image {
			t.Errorf("%s runs %s, want %s", c.ds.Name, ctr.Image, c.image)
		}
		env := map[string]string{}
		for _, e := range ctr.Env {
			env[e.Name] = e.Value
		}
		if env["KUBERNETES_SERVICE_HOST"] != "203.0.113.10" || env["KUBERNETES_SERVICE_PORT"] != "6443" {
			t.Errorf("%s does not reach the published endpoint: %v", c.ds.Name, env)
		}
	}
	if img := flannel.Spec.Template.Spec.InitContainers[0].Image; img != "registry.example.com/k8s/kubeseed/cni:dev" {
		t.Errorf("kubeseed-cni runs %s, want it from the mirror", img)
	}
	if !slices.Contains(router.Spec.Template.Spec.Containers[0].Command, "--service-cluster-ip-range=172.20.0.0/16") {
		t.Errorf("kube-router is not given the Service range: %v", router.Spec.Template.Spec.Containers[0].Command)
	}
	for id, o := range byID {
		var spec corev1.PodSpec
		switch o.GetKind() {
		case "DaemonSet":
			spec = convert[appsv1.DaemonSet](t, o).Spec.Template.Spec
		case "Deployment":
			spec = convert[appsv1.Deployment](t, o).Spec.Template.Spec
		default:
			continue
		}
		if spec.PriorityClassName != "system-node-critical" && spec.PriorityClassName != "system-cluster-critical" {
			t.Errorf("%s: priority class %q", id, spec.PriorityClassName)
		}
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: container %s lacks a CPU or memory request or a memory limit: %v", id, c.Name, c.Resources)
			}
		}
	}
}

// TestEffectiveCNI: what runs when spec.network.cni is unset depends on what was pinned.
func TestEffectiveCNI(t *testing.T) {
	pinned := func(flannel string) *v1alpha1.AddonVersions {
		return &v1alpha1.AddonVersions{KubernetesVersion: "v1.36.3", KubeProxy: "v1.36.3", CoreDNS: "v1.12.4", Flannel: flannel}
	}
	for _, c := range []struct {
		name   string
		spec   v1alpha1.CNIPlugin
		addons *v1alpha1.AddonVersions
		want   v1alpha1.CNIPlugin
	}{
		{"new tenant", "", nil, v1alpha1.CNIFlannel},
		{"pinned with flannel", "", pinned(versions.Flannel), v1alpha1.CNIFlannel},
		{"pinned before kubeseed had a pod network", "", pinned(""), v1alpha1.CNINone},
		{"set to none", v1alpha1.CNINone, nil, v1alpha1.CNINone},
		{"opted in", v1alpha1.CNIFlannel, pinned(""), v1alpha1.CNIFlannel},
	} {
		tc := example()
		tc.Spec.Network.CNI, tc.Status.Addons = c.spec, c.addons
		if got := EffectiveCNI(tc); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
