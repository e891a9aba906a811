package controlplane_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

func TestTunnelValues(t *testing.T) {
	v := mustValues(t, tenant(), controlplane.Inputs{EndpointHost: "203.0.113.10"})
	tun := v.Tunnel
	if !tun.Enabled || tun.Image != "kubeseed/tunnel:"+versions.Kubeseed || tun.Port != 8132 || tun.HealthPort != 8134 {
		t.Errorf("tunnel %+v: want enabled, kubeseed/tunnel of this release, ports 8132 and 8134", tun)
	}
	// A seed that mirrors images gets kubeseed's from the mirror too.
	if img := mustValues(t, tenant(), controlplane.Inputs{ImageRegistry: "registry.example.com/mirror/"}).Tunnel.Image; img != "registry.example.com/mirror/kubeseed/tunnel:"+versions.Kubeseed {
		t.Errorf("tunnel image with a registry: %s", img)
	}
	if !slices.Contains(v.APIServer.Args, "--egress-selector-config-file=/etc/kubernetes/egress-selector/egress-selector.yaml") {
		t.Errorf("apiserver args lack the egress selector: %q", v.APIServer.Args)
	}
	if !slices.Contains(tun.Args, "--server-count=2") || !slices.Contains(tun.Args, "--uds="+controlplane.TunnelSocket) {
		t.Errorf("tunnel args %q: want --server-count of the apiserver replicas and the socket", tun.Args)
	}
	// Every file the sidecar's flags name is mounted.
	files := map[string]bool{}
	for _, m := range tun.Secrets {
		for _, k := range m.Keys {
			files[m.MountPath+"/"+k] = true
		}
	}
	for _, a := range tun.Args {
		if _, value, _ := strings.Cut(a, "="); strings.HasPrefix(value, "/etc/kubernetes/pki/") && !files[value] {
			t.Errorf("tunnel: %s names a file no Secret mount provides", a)
		}
	}
	if len(tun.Secrets) != 1 || tun.Secrets[0].SecretName != controlplane.TunnelServerSecret.Name("acme") {
		t.Errorf("tunnel secrets %+v", tun.Secrets)
	}

	// The egress selector: egress "cluster" by HTTPConnect over the socket, nothing else.
	var cfg struct {
		APIVersion       string `json:"apiVersion"`
		Kind             string `json:"kind"`
		EgressSelections []struct {
			Name       string `json:"name"`
			Connection struct {
				ProxyProtocol string `json:"proxyProtocol"`
				Transport     struct {
					UDS struct {
						UDSName string `json:"udsName"`
					} `json:"uds"`
				} `json:"transport"`
			} `json:"connection"`
		} `json:"egressSelections"`
	}
	if err := yaml.UnmarshalStrict([]byte(tun.EgressSelectorConfig), &cfg); err != nil {
		t.Fatalf("egress selector config: %v", err)
	}
	if cfg.APIVersion != "apiserver.k8s.io/v1beta1" || cfg.Kind != "EgressSelectorConfiguration" || len(cfg.EgressSelections) != 1 ||
		cfg.EgressSelections[0].Name != "cluster" || cfg.EgressSelections[0].Connection.ProxyProtocol != "HTTPConnect" ||
		cfg.EgressSelections[0].Connection.Transport.UDS.UDSName != controlplane.TunnelSocket {
		t.Errorf("egress selector config:\n%s", tun.EgressSelectorConfig)
	}

	// kubeseed's tunnel server reloads its renewed pair, so only a new CA in its Secret
	// rolls the apiserver (and only it); konnectivity's server is rolled for a renewal too.
	name := controlplane.TunnelServerSecret.Name("acme")
	konnectivity := controlplane.Inputs{TunnelServer: controlplane.TunnelServerKonnectivity, TunnelImage: "registry.k8s.io/kas-network-proxy/proxy-server:v0.33.0"}
	for _, c := range []struct {
		name        string
		in          controlplane.Inputs
		full, ca    string
		wantRollAPI bool
	}{
		{"kubeseed server, renewed", controlplane.Inputs{}, "new", "", false},
		{"kubeseed server, new CA", controlplane.Inputs{}, "new", "new", true},
		{"konnectivity, renewed", konnectivity, "new", "", true},
	} {
		base, changed := c.in, c.in
		base.SecretChecksums, base.SecretCAChecksums = map[string]string{}, map[string]string{}
		changed.SecretChecksums, changed.SecretCAChecksums = map[string]string{name: c.full}, map[string]string{name: c.ca}
		a, b := mustValues(t, tenant(), base), mustValues(t, tenant(), changed)
		if rolled := a.APIServer.PKIChecksum != b.APIServer.PKIChecksum; rolled != c.wantRollAPI || a.Scheduler.PKIChecksum != b.Scheduler.PKIChecksum {
			t.Errorf("%s: apiserver rolled %v (want %v), scheduler rolled %v", c.name, rolled, c.wantRollAPI, a.Scheduler.PKIChecksum != b.Scheduler.PKIChecksum)
		}
	}
}

func TestTunnelInputs(t *testing.T) {
	v := mustValues(t, tenant(), controlplane.Inputs{TunnelImage: "registry.example/tunnel:v1", TunnelNodePort: 30132})
	if v.Tunnel.Image != "registry.example/tunnel:v1" || v.Tunnel.NodePort != 30132 {
		t.Errorf("tunnel %+v: want the given image and node port", v.Tunnel)
	}

	off := mustValues(t, tenant(), controlplane.Inputs{TunnelDisabled: true})
	if off.Tunnel.Enabled || slices.ContainsFunc(off.APIServer.Args, func(a string) bool { return strings.HasPrefix(a, "--egress-selector") }) {
		t.Errorf("disabled tunnel: enabled %v, apiserver args %q", off.Tunnel.Enabled, off.APIServer.Args)
	}

	k := mustValues(t, tenant(), controlplane.Inputs{TunnelServer: controlplane.TunnelServerKonnectivity, TunnelImage: "registry.k8s.io/kas-network-proxy/proxy-server:v0.33.0"})
	for _, want := range []string{"--mode=http-connect", "--uds-name=" + controlplane.TunnelSocket, "--agent-port=8132", "--health-port=8134", "--server-count=2", "--cluster-ca-cert=/etc/kubernetes/pki/tunnel-server/ca.crt"} {
		if !slices.Contains(k.Tunnel.Args, want) {
			t.Errorf("konnectivity args %q lack %s", k.Tunnel.Args, want)
		}
	}
	for _, in := range []controlplane.Inputs{
		{TunnelServer: controlplane.TunnelServerKonnectivity}, // no image
		{TunnelServer: "frp"},
		{TunnelNodePort: 70000},
	} {
		if _, err := controlplane.ValuesFor(tenant(), in); err == nil {
			t.Errorf("ValuesFor(%+v): no error", in)
		}
	}
	// The flag is kubeseed's.
	_, err := controlplane.ValuesFor(tenant(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.ControlPlane.APIServer.ExtraArgs = map[string]string{"egress-selector-config-file": "/x"}
	}), controlplane.Inputs{})
	var invalid *controlplane.InvalidSpecError
	if !errors.As(err, &invalid) {
		t.Errorf("extraArgs egress-selector-config-file: %v, want an InvalidSpecError", err)
	}
}

func TestTunnelRender(t *testing.T) {
	for _, c := range []struct {
		name string
		in   controlplane.Inputs
		on   bool
	}{
		{"enabled", controlplane.Inputs{EndpointHost: "192.0.2.10", TunnelNodePort: 30132}, true},
		{"disabled", controlplane.Inputs{EndpointHost: "192.0.2.10", TunnelDisabled: true}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc := tenant()
			objs := renderCase(t, tc, c.in)
			get := func(kind, name string, into runtime.Object) bool {
				for _, o := range objs {
					if o.GetKind() == kind && o.GetName() == name {
						if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
							t.Fatal(err)
						}
						return true
					}
				}
				return false
			}
			apiserver := controlplane.APIServer.ObjectName(tc.Name)
			var d appsv1.Deployment
			var svc corev1.Service
			var np networkingv1.NetworkPolicy
			var cm corev1.ConfigMap
			if !get("Deployment", apiserver, &d) || !get("Service", apiserver, &svc) || !get("NetworkPolicy", apiserver, &np) {
				t.Fatal("apiserver objects missing")
			}
			hasCM := get("ConfigMap", controlplane.EgressSelectorConfigMapName(tc.Name), &cm)
			pod := d.Spec.Template.Spec
			var tunnelPort *corev1.ServicePort
			for i, p := range svc.Spec.Ports {
				if p.Name == "tunnel" {
					tunnelPort = &svc.Spec.Ports[i]
				}
			}
			npPorts := np.Spec.Ingress[0].Ports
			if !c.on {
				if len(pod.Containers) != 1 || hasCM || tunnelPort != nil || len(npPorts) != 1 || len(pod.Volumes) != len(d.Spec.Template.Spec.Containers[0].VolumeMounts) {
					t.Errorf("disabled tunnel still rendered: %d containers, ConfigMap %v, Service port %v, %d policy ports", len(pod.Containers), hasCM, tunnelPort, len(npPorts))
				}
				return
			}
			if len(pod.Containers) != 2 || pod.Containers[1].Name != "tunnel-server" {
				t.Fatalf("containers %d", len(pod.Containers))
			}
			if !hasCM || cm.Data[controlplane.EgressSelectorConfigKey] == "" {
				t.Errorf("no egress selector ConfigMap: %+v", cm)
			}
			if tunnelPort == nil || tunnelPort.Port != 8132 || tunnelPort.TargetPort != intstr.FromString("tunnel") || tunnelPort.NodePort != 30132 {
				t.Errorf("Service tunnel port %+v", tunnelPort)
			}
			if len(npPorts) != 2 || npPorts[1].Port.IntValue() != 8132 {
				t.Errorf("NetworkPolicy ports %+v, want 6443 and 8132", npPorts)
			}
			if d.Spec.Template.Annotations["checksum/egress-selector"] == "" {
				t.Error("no checksum/egress-selector annotation")
			}
			// Both containers share the socket's directory; the apiserver reads the config.
			mounts := func(ctr corev1.Container) map[string]string {
				m := map[string]string{}
				for _, vm := range ctr.VolumeMounts {
					m[vm.Name] = vm.MountPath
				}
				return m
			}
			api, side := mounts(pod.Containers[0]), mounts(pod.Containers[1])
			if api["tunnel-socket"] != "/etc/kubernetes/konnectivity" || side["tunnel-socket"] != "/etc/kubernetes/konnectivity" || api["egress-selector"] != "/etc/kubernetes/egress-selector" {
				t.Errorf("mounts: apiserver %v, sidecar %v", api, side)
			}
			if env := pod.Containers[1].Env; len(env) != 2 || env[0].Name != "POD_NAME" || env[0].ValueFrom == nil || env[1].Name != "GOMEMLIMIT" || env[1].Value == "" {
				t.Errorf("sidecar env %+v: want POD_NAME from the downward API and GOMEMLIMIT", env)
			}
		})
	}
}
