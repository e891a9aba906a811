package controlplane_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// tenant is a TenantCluster as the API server hands it out: the CRD's defaults applied.
func tenant(mutate ...func(*v1alpha1.TenantCluster)) *v1alpha1.TenantCluster {
	tc := &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "project-1234"},
		Spec: v1alpha1.TenantClusterSpec{
			Version: "v1.36.3",
			ControlPlane: v1alpha1.ControlPlaneSpec{
				APIServer:         v1alpha1.APIServerSpec{ComponentSpec: v1alpha1.ComponentSpec{Replicas: ptr.To[int32](2)}},
				ControllerManager: v1alpha1.ComponentSpec{Replicas: ptr.To[int32](2)},
				Scheduler:         v1alpha1.ComponentSpec{Replicas: ptr.To[int32](2)},
				Etcd: v1alpha1.EtcdSpec{
					Replicas: ptr.To[int32](3),
					Storage:  v1alpha1.EtcdStorageSpec{Size: ptr.To(resource.MustParse("8Gi"))},
				},
			},
			Network:  v1alpha1.NetworkSpec{ServiceCIDR: "10.96.0.0/12", PodCIDR: "10.244.0.0/16", DNSDomain: "cluster.local"},
			Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointLoadBalancer},
		},
	}
	for _, m := range mutate {
		m(tc)
	}
	return tc
}

func mustValues(t *testing.T, tc *v1alpha1.TenantCluster, in controlplane.Inputs) controlplane.Values {
	t.Helper()
	v, err := controlplane.ValuesFor(tc, in)
	if err != nil {
		t.Fatalf("ValuesFor: %v", err)
	}
	return v
}

func TestValuesForRefusesInvalidSpecs(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*v1alpha1.TenantCluster)
		field  string
	}{
		{"unsupported version", func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.30.0" }, "spec.version"},
		{"name too long", func(tc *v1alpha1.TenantCluster) { tc.Name = strings.Repeat("a", 41) }, "metadata.name"},
		{"name not a DNS label", func(tc *v1alpha1.TenantCluster) { tc.Name = "Acme" }, "metadata.name"},
		{"even etcd", func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](2) }, "spec.controlPlane.etcd.replicas"},
		{"no scheduler", func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.Scheduler.Replicas = ptr.To[int32](0) }, "spec.controlPlane.scheduler.replicas"},
		{"small etcd volume", func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.Etcd.Storage.Size = ptr.To(resource.MustParse("512Mi"))
		}, "spec.controlPlane.etcd.storage.size"},
		{"bad service CIDR", func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.ServiceCIDR = "10.96.0.0" }, "spec.network.serviceCIDR"},
		{"overlapping CIDRs", func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.PodCIDR = "10.96.0.0/16" }, "spec.network.podCIDR"},
		{"unknown endpoint", func(tc *v1alpha1.TenantCluster) { tc.Spec.Endpoint.Type = "Ingress" }, "spec.endpoint.type"},
		{"protected apiserver flag", func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.APIServer.ExtraArgs = map[string]string{"etcd-servers": "https://elsewhere:2379"}
		}, "spec.controlPlane.apiServer.extraArgs"},
		{"protected flag with dashes", func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.ControllerManager.ExtraArgs = map[string]string{"--kubeconfig": "/etc/other"}
		}, "spec.controlPlane.controllerManager.extraArgs"},
		{"flag not on the allow-list", func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.APIServer.ExtraArgs = map[string]string{"v": "2", "oidc-issuer-url": "https://idp.example.com"}
		}, "spec.controlPlane.apiServer.extraArgs"},
		{"flag of another component", func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.Scheduler.ExtraArgs = map[string]string{"node-cidr-mask-size": "25"}
		}, "spec.controlPlane.scheduler.extraArgs"},
		{"flag set twice", func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.Scheduler.ExtraArgs = map[string]string{"v": "2", "--v": "4"}
		}, "spec.controlPlane.scheduler.extraArgs"},
		{"not a flag name", func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.Scheduler.ExtraArgs = map[string]string{"v=2": ""}
		}, "spec.controlPlane.scheduler.extraArgs"},
		{"request above limit", func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.APIServer.Resources = &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			}
		}, "spec.controlPlane.apiServer.resources"},
		{"resource claims", func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.Etcd.Resources = &corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{{Name: "gpu"}}}
		}, "spec.controlPlane.etcd.resources.claims"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := tenant(c.mutate)
			_, err := controlplane.ValuesFor(tc, controlplane.Inputs{})
			var invalid *controlplane.InvalidSpecError
			if !errors.As(err, &invalid) {
				t.Fatalf("want an InvalidSpecError, got %v", err)
			}
			if invalid.Field != c.field {
				t.Errorf("error names %s, want %s (%v)", invalid.Field, c.field, err)
			}
			if !strings.Contains(err.Error(), tc.Namespace+"/"+tc.Name+":") {
				t.Errorf("error %q does not name the TenantCluster", err)
			}
		})
	}
}

func TestValuesForRefusesBadInputs(t *testing.T) {
	cases := map[string]controlplane.Inputs{
		"node port out of range":                  {NodePort: 70000},
		"controllers newer than apiserver":        {ControllersVersion: "v1.37.0"},
		"controllers two minors older":            {ControllersVersion: "v1.34.4"},
		"apiserver held at a newer version":       {APIServerVersion: "v1.37.0"},
		"controllers newer than a held apiserver": {APIServerVersion: "v1.34.4", ControllersVersion: "v1.35.4"},
		"fewer etcd members than pods":            {EtcdReplicas: 3, EtcdMembers: 2},
		"more than five etcd pods":                {EtcdReplicas: 6},
		"negative etcd pods":                      {EtcdReplicas: -1},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := controlplane.ValuesFor(tenant(), in)
			if err == nil {
				t.Fatal("want an error")
			}
			var invalid *controlplane.InvalidSpecError
			if errors.As(err, &invalid) {
				t.Errorf("bad controller input reported as invalid spec: %v", err)
			}
		})
	}
	if _, err := controlplane.ValuesFor(nil, controlplane.Inputs{}); err == nil {
		t.Error("ValuesFor(nil) succeeded")
	}
}

// TestValuesForDefaults: an object built in Go without the CRD's defaults gets the same
// values as one the API server defaulted.
func TestValuesForDefaults(t *testing.T) {
	bare := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "project-1234"}}
	got := mustValues(t, bare, controlplane.Inputs{})
	want := mustValues(t, tenant(), controlplane.Inputs{})
	if !equalJSON(t, got, want) {
		t.Errorf("an undefaulted TenantCluster gets other values than a defaulted one")
	}
}

func TestImages(t *testing.T) {
	cases := []struct {
		name string
		in   controlplane.Inputs
		want map[string]string // component → image
	}{
		{
			name: "upstream registry",
			want: map[string]string{
				"etcd":      "registry.k8s.io/etcd:3.6.16-0",
				"apiserver": "registry.k8s.io/kube-apiserver:v1.35.4",
				"kcm":       "registry.k8s.io/kube-controller-manager:v1.35.4",
				"scheduler": "registry.k8s.io/kube-scheduler:v1.35.4",
			},
		},
		{
			name: "mirror, trailing slash",
			in:   controlplane.Inputs{ImageRegistry: "mirror.example.com/k8s/"},
			want: map[string]string{
				"etcd":      "mirror.example.com/k8s/etcd:3.6.16-0",
				"apiserver": "mirror.example.com/k8s/kube-apiserver:v1.35.4",
				"kcm":       "mirror.example.com/k8s/kube-controller-manager:v1.35.4",
				"scheduler": "mirror.example.com/k8s/kube-scheduler:v1.35.4",
			},
		},
		{
			name: "controllers held back during an upgrade",
			in:   controlplane.Inputs{ControllersVersion: "v1.34.4"},
			want: map[string]string{
				"etcd":      "registry.k8s.io/etcd:3.6.16-0",
				"apiserver": "registry.k8s.io/kube-apiserver:v1.35.4",
				"kcm":       "registry.k8s.io/kube-controller-manager:v1.34.4",
				"scheduler": "registry.k8s.io/kube-scheduler:v1.34.4",
			},
		},
		{
			name: "everything held back while the upgrade waits for its backup",
			in:   controlplane.Inputs{APIServerVersion: "v1.34.4", ControllersVersion: "v1.34.4"},
			want: map[string]string{
				"etcd":      "registry.k8s.io/etcd:3.6.16-0",
				"apiserver": "registry.k8s.io/kube-apiserver:v1.34.4",
				"kcm":       "registry.k8s.io/kube-controller-manager:v1.34.4",
				"scheduler": "registry.k8s.io/kube-scheduler:v1.34.4",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustValues(t, tenant(func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.35.4" }), c.in)
			got := map[string]string{
				"etcd":      v.Etcd.Image,
				"apiserver": v.APIServer.Image,
				"kcm":       v.ControllerManager.Image,
				"scheduler": v.Scheduler.Image,
			}
			for k, want := range c.want {
				if got[k] != want {
					t.Errorf("%s image = %s, want %s", k, got[k], want)
				}
			}
		})
	}
}

func TestServiceType(t *testing.T) {
	cases := map[v1alpha1.EndpointType]corev1.ServiceType{
		"":                            corev1.ServiceTypeLoadBalancer,
		v1alpha1.EndpointLoadBalancer: corev1.ServiceTypeLoadBalancer,
		v1alpha1.EndpointNodePort:     corev1.ServiceTypeNodePort,
		v1alpha1.EndpointOctavia:      corev1.ServiceTypeNodePort,
	}
	for typ, want := range cases {
		v := mustValues(t, tenant(func(tc *v1alpha1.TenantCluster) { tc.Spec.Endpoint.Type = typ }), controlplane.Inputs{NodePort: 31443})
		if v.APIServer.Service.Type != want || v.APIServer.Service.NodePort != 31443 {
			t.Errorf("endpoint %q: service %+v, want type %s with node port 31443", typ, v.APIServer.Service, want)
		}
	}
}

func TestPriorityClass(t *testing.T) {
	v := mustValues(t, tenant(), controlplane.Inputs{PriorityClassName: "kubeseed-control-plane"})
	if v.PriorityClassName != "kubeseed-control-plane" {
		t.Errorf("priorityClassName %q", v.PriorityClassName)
	}
}

func TestHoldControllers(t *testing.T) {
	v := mustValues(t, tenant(), controlplane.Inputs{Held: map[controlplane.Component]bool{controlplane.ControllerManager: true, controlplane.Scheduler: true}})
	if v.ControllerManager.Replicas != 0 || v.Scheduler.Replicas != 0 {
		t.Errorf("held: controller-manager %d, scheduler %d replicas; want 0", v.ControllerManager.Replicas, v.Scheduler.Replicas)
	}
	if v.APIServer.Replicas != 2 || v.Etcd.Replicas != 3 {
		t.Errorf("holding the controllers changed apiserver (%d) or etcd (%d)", v.APIServer.Replicas, v.Etcd.Replicas)
	}
	v = mustValues(t, tenant(), controlplane.Inputs{})
	if v.ControllerManager.Replicas != 2 || v.Scheduler.Replicas != 2 {
		t.Errorf("released: controller-manager %d, scheduler %d replicas; want the spec's 2", v.ControllerManager.Replicas, v.Scheduler.Replicas)
	}
}

func TestHoldAPIServer(t *testing.T) {
	v := mustValues(t, tenant(), controlplane.Inputs{Held: map[controlplane.Component]bool{controlplane.APIServer: true}})
	if v.APIServer.Replicas != 0 {
		t.Errorf("held: apiserver %d replicas; want 0", v.APIServer.Replicas)
	}
	if v.Etcd.Replicas != 3 || v.ControllerManager.Replicas != 2 {
		t.Errorf("holding the apiserver changed etcd (%d) or controller-manager (%d)", v.Etcd.Replicas, v.ControllerManager.Replicas)
	}
}

// TestEtcdWipeImageStaysWhileEtcdDoes: a new release keeps the live etcd pods' wipe image
// (its tag alone must not roll every tenant's etcd); an etcd image change, which rolls the
// members anyway, takes this release's.
func TestEtcdWipeImageStaysWhileEtcdDoes(t *testing.T) {
	fresh, err := controlplane.ValuesFor(tenant(), controlplane.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		liveEtcd  string
		liveWipe  string
		wantImage string
	}{
		{"no StatefulSet yet", "", "", fresh.Etcd.WipeImage},
		{"the same etcd: the live wipe image", fresh.Etcd.Image, "kubeseed/tunnel:v0.9.0", "kubeseed/tunnel:v0.9.0"},
		{"another etcd: this release's", "registry.k8s.io/etcd:3.6.15-0", "kubeseed/tunnel:v0.9.0", fresh.Etcd.WipeImage},
		{"a live StatefulSet before the wipe container", fresh.Etcd.Image, "", fresh.Etcd.WipeImage},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := controlplane.Inputs{}
			in.EtcdLiveImages.Etcd, in.EtcdLiveImages.Wipe = c.liveEtcd, c.liveWipe
			v, err := controlplane.ValuesFor(tenant(), in)
			if err != nil {
				t.Fatal(err)
			}
			if v.Etcd.WipeImage != c.wantImage {
				t.Errorf("wipe image %s, want %s", v.Etcd.WipeImage, c.wantImage)
			}
		})
	}
}
