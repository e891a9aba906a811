package controlplane_test

import (
	"errors"
	"slices"
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

// flagValue returns the value of --name in args, and whether it is there.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
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
		"node port out of range":           {NodePort: 70000},
		"controllers newer than apiserver": {ControllersVersion: "v1.37.0"},
		"controllers two minors older":     {ControllersVersion: "v1.34.4"},
		"fewer etcd members than pods":     {EtcdReplicas: 3, EtcdMembers: 2},
		"more than five etcd pods":         {EtcdReplicas: 6},
		"negative etcd pods":               {EtcdReplicas: -1},
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

func TestAPIServerFlags(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*v1alpha1.TenantCluster)
		in      controlplane.Inputs
		want    map[string]string // flag → value; "" means absent
		wantLen int               // number of args, 0 to skip
	}{
		{
			name: "defaults",
			want: map[string]string{
				"etcd-servers":             "https://acme-etcd-client.kubeseed-project-1234-acme-4de2c015e5.svc:2379",
				"service-cluster-ip-range": "10.96.0.0/12",
				"service-account-issuer":   "https://kubernetes.default.svc.cluster.local",
				"authorization-mode":       "Node,RBAC",
				"endpoint-reconciler-type": "none",
				"secure-port":              "6443",
				"advertise-address":        "",
			},
			wantLen: 29, // with --egress-selector-config-file (the tunnel)
		},
		{
			name: "endpoint IP becomes the advertise address",
			in:   controlplane.Inputs{EndpointHost: "203.0.113.10"},
			want: map[string]string{"advertise-address": "203.0.113.10"},
		},
		{
			name: "IPv6 endpoint",
			in:   controlplane.Inputs{EndpointHost: "2001:db8::0010"},
			want: map[string]string{"advertise-address": "2001:db8::10"},
		},
		{
			name: "DNS endpoint is no advertise address",
			in:   controlplane.Inputs{EndpointHost: "api.acme.example.com"},
			want: map[string]string{"advertise-address": ""},
		},
		{
			name: "extra args override and add",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.ExtraArgs = map[string]string{
					"authorization-mode": "Node,RBAC,Webhook",
					"--audit-log-path":   "-",
					"v":                  "2",
				}
			},
			want: map[string]string{
				"authorization-mode": "Node,RBAC,Webhook",
				"audit-log-path":     "-",
				"v":                  "2",
			},
			wantLen: 31,
		},
		{
			name: "network",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Network = v1alpha1.NetworkSpec{ServiceCIDR: "172.20.0.0/16", PodCIDR: "172.16.0.0/14", DNSDomain: "acme.internal"}
			},
			want: map[string]string{
				"service-cluster-ip-range": "172.20.0.0/16",
				"service-account-issuer":   "https://kubernetes.default.svc.acme.internal",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := tenant()
			if c.mutate != nil {
				c.mutate(tc)
			}
			args := mustValues(t, tc, c.in).APIServer.Args
			for name, want := range c.want {
				got, ok := flagValue(args, name)
				if want == "" && ok {
					t.Errorf("--%s=%s is set, want it absent", name, got)
				}
				if want != "" && got != want {
					t.Errorf("--%s = %q, want %q", name, got, want)
				}
			}
			if c.wantLen != 0 && len(args) != c.wantLen {
				t.Errorf("%d args, want %d:\n%s", len(args), c.wantLen, strings.Join(args, "\n"))
			}
			assertSortedUnique(t, args)
		})
	}
}

func TestControllerFlags(t *testing.T) {
	tc := tenant(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.ControlPlane.ControllerManager.ExtraArgs = map[string]string{"node-cidr-mask-size": "25"}
		tc.Spec.ControlPlane.Scheduler.ExtraArgs = map[string]string{"leader-elect": "false"}
	})
	v := mustValues(t, tc, controlplane.Inputs{})
	for flagName, want := range map[string]string{
		"controllers":              "*,bootstrapsigner,tokencleaner",
		"cluster-cidr":             "10.244.0.0/16",
		"service-cluster-ip-range": "10.96.0.0/12",
		"allocate-node-cidrs":      "true",
		"cluster-name":             "acme",
		"flex-volume-plugin-dir":   "/tmp/flex",
		"leader-elect":             "true",
		"node-cidr-mask-size":      "25",
	} {
		if got, _ := flagValue(v.ControllerManager.Args, flagName); got != want {
			t.Errorf("controller-manager --%s = %q, want %q", flagName, got, want)
		}
	}
	if got, _ := flagValue(v.Scheduler.Args, "leader-elect"); got != "false" {
		t.Errorf("scheduler extraArgs did not override --leader-elect: %q", got)
	}
	assertSortedUnique(t, v.ControllerManager.Args)
	assertSortedUnique(t, v.Scheduler.Args)
	assertSortedUnique(t, v.Etcd.Args)
}

// TestFlagsReferToMountedFiles: every file a flag names is a key some mounted Secret
// projects, in that component's pod.
func TestFlagsReferToMountedFiles(t *testing.T) {
	v := mustValues(t, tenant(), controlplane.Inputs{})
	for name, pod := range map[string]controlplane.PodValues{
		"etcd": v.Etcd.PodValues, "apiserver": v.APIServer.PodValues,
		"controller-manager": v.ControllerManager.PodValues, "scheduler": v.Scheduler.PodValues,
	} {
		files := map[string]bool{}
		if name == "apiserver" {
			// Not a Secret: the chart's ConfigMap, checked by TestTunnelValues.
			files["/etc/kubernetes/egress-selector/egress-selector.yaml"] = true
		}
		for _, m := range pod.Secrets {
			for _, k := range m.Keys {
				files[m.MountPath+"/"+k] = true
			}
		}
		used := map[string]bool{}
		for _, a := range pod.Args {
			_, value, _ := strings.Cut(a, "=")
			if strings.HasPrefix(value, "/etc/kubernetes/") {
				if !files[value] {
					t.Errorf("%s: %s names a file no Secret mount provides", name, a)
				}
				used[value] = true
			}
		}
		for f := range files {
			if !used[f] {
				t.Errorf("%s: %s is mounted but no flag uses it", name, f)
			}
		}
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

func TestEtcd(t *testing.T) {
	cases := []struct {
		replicas           int32
		size               string
		wantMaxUnavailable int32
		wantQuota          string
	}{
		{1, "1Gi", 1, "268435456"},      // (1Gi-512Mi)/2
		{3, "8Gi", 1, "4026531840"},     // (8Gi-512Mi)/2
		{5, "20Gi", 2, "8589934592"},    // capped at 8Gi
		{3, "16896Mi", 1, "8589934592"}, // exactly at the cap
		{3, "2560Mi", 1, "1073741824"},  // 1Gi
	}
	for _, c := range cases {
		v := mustValues(t, tenant(func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.Etcd.Replicas = ptr.To(c.replicas)
			tc.Spec.ControlPlane.Etcd.Storage.Size = ptr.To(resource.MustParse(c.size))
		}), controlplane.Inputs{})
		if v.Etcd.MaxUnavailable != c.wantMaxUnavailable {
			t.Errorf("%d members: maxUnavailable %d, want %d", c.replicas, v.Etcd.MaxUnavailable, c.wantMaxUnavailable)
		}
		if got, _ := flagValue(v.Etcd.Args, "quota-backend-bytes"); got != c.wantQuota {
			t.Errorf("%s volume: quota %s, want %s", c.size, got, c.wantQuota)
		}
		if v.Etcd.Storage.Size.String() != c.size {
			t.Errorf("storage size %s, want %s", v.Etcd.Storage.Size.String(), c.size)
		}
	}
	v := mustValues(t, tenant(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.ControlPlane.Etcd.Storage.StorageClassName = ptr.To("fast")
	}), controlplane.Inputs{})
	if v.Etcd.Storage.StorageClassName != "fast" {
		t.Errorf("storage class %q, want fast", v.Etcd.Storage.StorageClassName)
	}
	for _, name := range []string{"client-cert-auth", "peer-client-cert-auth"} {
		if got, _ := flagValue(v.Etcd.Args, name); got != "true" {
			t.Errorf("etcd --%s = %q, want true", name, got)
		}
	}
}

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

// TestPKIChecksum: a Secret's new data rolls exactly the components that mount it.
func TestPKIChecksum(t *testing.T) {
	before := mustValues(t, tenant(), controlplane.Inputs{SecretChecksums: map[string]string{
		"acme-etcd-peer": "1", "acme-ca": "1", "acme-scheduler-kubeconfig": "1",
	}})
	cases := []struct {
		secret  string
		changed []string
	}{
		{"acme-etcd-peer", []string{"etcd"}},
		{"acme-ca", []string{"apiserver", "controller-manager", "scheduler"}},
		{"acme-scheduler-kubeconfig", []string{"scheduler"}},
		{"acme-kubeconfig", nil}, // the admin kubeconfig is mounted nowhere
	}
	for _, c := range cases {
		t.Run(c.secret, func(t *testing.T) {
			sums := map[string]string{"acme-etcd-peer": "1", "acme-ca": "1", "acme-scheduler-kubeconfig": "1"}
			sums[c.secret] = "2"
			after := mustValues(t, tenant(), controlplane.Inputs{SecretChecksums: sums})
			var changed []string
			for name, pair := range map[string][2]string{
				"etcd":               {before.Etcd.PKIChecksum, after.Etcd.PKIChecksum},
				"apiserver":          {before.APIServer.PKIChecksum, after.APIServer.PKIChecksum},
				"controller-manager": {before.ControllerManager.PKIChecksum, after.ControllerManager.PKIChecksum},
				"scheduler":          {before.Scheduler.PKIChecksum, after.Scheduler.PKIChecksum},
			} {
				if pair[0] != pair[1] {
					changed = append(changed, name)
				}
			}
			slices.Sort(changed)
			if !slices.Equal(changed, c.changed) {
				t.Errorf("renewing %s rolls %v, want %v", c.secret, changed, c.changed)
			}
		})
	}
}

func TestSecretDataChecksum(t *testing.T) {
	a := controlplane.SecretDataChecksum(map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")})
	cases := map[string]map[string][]byte{
		"other value":          {"tls.crt": []byte("cert2"), "tls.key": []byte("key")},
		"value moved to a key": {"tls.crt": []byte("certtls.key"), "": []byte("key")},
		"key missing":          {"tls.crt": []byte("cert")},
	}
	for name, data := range cases {
		if controlplane.SecretDataChecksum(data) == a {
			t.Errorf("%s: same checksum", name)
		}
	}
	if b := controlplane.SecretDataChecksum(map[string][]byte{"tls.key": []byte("key"), "tls.crt": []byte("cert")}); b != a {
		t.Errorf("checksum depends on map order")
	}
}

func TestPriorityClass(t *testing.T) {
	v := mustValues(t, tenant(), controlplane.Inputs{PriorityClassName: "kubeseed-control-plane"})
	if v.PriorityClassName != "kubeseed-control-plane" {
		t.Errorf("priorityClassName %q", v.PriorityClassName)
	}
}

func assertSortedUnique(t *testing.T, args []string) {
	t.Helper()
	names := make([]string, len(args))
	for i, a := range args {
		name, _, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			t.Errorf("%q is not --flag=value", a)
		}
		names[i] = name
	}
	if !slices.IsSorted(names) {
		t.Errorf("args are not sorted by flag name: %v", names)
	}
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("a flag appears twice: %v", names)
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

// TestEtcdGrowing: the StatefulSet's size and the membership come from what the controller
// observed, not from the spec, while the cluster grows; a new cluster bootstraps at the
// spec's size.
func TestEtcdGrowing(t *testing.T) {
	for _, c := range []struct {
		name                      string
		in                        controlplane.Inputs
		wantReplicas, wantMembers int32
		wantState                 string
		wantMaxUnavailable        int32
	}{
		{"bootstrap at the spec's size", controlplane.Inputs{}, 3, 3, "new", 1},
		{"one member, a learner listed before its pod", controlplane.Inputs{EtcdReplicas: 1, EtcdMembers: 2, EtcdClusterExisting: true}, 1, 2, "existing", 1},
		{"two pods, two members", controlplane.Inputs{EtcdReplicas: 2, EtcdClusterExisting: true}, 2, 2, "existing", 0},
		{"grown", controlplane.Inputs{EtcdReplicas: 3, EtcdClusterExisting: true}, 3, 3, "existing", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := mustValues(t, tenant(), c.in)
			if v.Etcd.Replicas != c.wantReplicas || v.Etcd.InitialClusterMembers != c.wantMembers || v.Etcd.InitialClusterState != c.wantState {
				t.Errorf("replicas %d, members %d, state %s; want %d, %d, %s", v.Etcd.Replicas, v.Etcd.InitialClusterMembers, v.Etcd.InitialClusterState, c.wantReplicas, c.wantMembers, c.wantState)
			}
			if v.Etcd.MaxUnavailable != c.wantMaxUnavailable {
				t.Errorf("maxUnavailable %d, want %d", v.Etcd.MaxUnavailable, c.wantMaxUnavailable)
			}
			// etcd refuses a flag given both as an argument and as an ETCD_* variable.
			for _, a := range v.Etcd.Args {
				if strings.HasPrefix(a, "--initial-cluster=") || strings.HasPrefix(a, "--initial-cluster-state=") {
					t.Errorf("etcd argument %s shadows the ConfigMap", a)
				}
			}
		})
	}
	n, err := controlplane.DesiredEtcdMembers(&v1alpha1.TenantCluster{})
	if err != nil || n != 3 {
		t.Errorf("DesiredEtcdMembers of an undefaulted spec = %d, %v; want the default 3", n, err)
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
