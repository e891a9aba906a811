package bootstrap

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/clientcmd"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func inputs(t *testing.T, mutate ...func(*Inputs)) Inputs {
	t.Helper()
	in := Inputs{
		Endpoint:    "https://203.0.113.10:31443",
		CAPEM:       mustCAPEM(t),
		Version:     "v1.36.3",
		ClusterName: "acme",
		Network:     v1alpha1.NetworkSpec{ServiceCIDR: "10.96.0.0/12", PodCIDR: "10.244.0.0/16", DNSDomain: "cluster.local"},
	}
	for _, m := range mutate {
		m(&in)
	}
	return in
}

func mustObjects(t *testing.T, in Inputs) []client.Object {
	t.Helper()
	objs, err := Objects(in)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func objectKey(o client.Object) string {
	if o.GetNamespace() == "" {
		return fmt.Sprintf("%s %s", o.GetObjectKind().GroupVersionKind().Kind, o.GetName())
	}
	return fmt.Sprintf("%s %s/%s", o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName())
}

// TestObjectsAreKubeadms lists every object with what kubeadm v1.36 gives it: the names,
// roles, subjects and rules `kubeadm join` relies on, bound to kubeadm's token group (so a
// token from a plain `kubeadm token create` joins) and to kubeseed's.
func TestObjectsAreKubeadms(t *testing.T) {
	kubeadmTokens := rbacv1.Subject{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "system:bootstrappers:kubeadm:default-node-token"}
	kubeseedTokens := rbacv1.Subject{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "system:bootstrappers:kubeseed:default-node-token"}
	nodes := rbacv1.Subject{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "system:nodes"}
	anonymous := rbacv1.Subject{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "system:anonymous"}
	getCM := func(name string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{name}}}
	}
	ref := func(kind, name string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: kind, Name: name}
	}
	type binding struct {
		ref      rbacv1.RoleRef
		subjects []rbacv1.Subject
	}
	want := []struct {
		key   string
		rules []rbacv1.PolicyRule
		bind  *binding
	}{
		{key: "ConfigMap kube-public/cluster-info"},
		{key: "Role kube-public/kubeadm:bootstrap-signer-clusterinfo", rules: getCM("cluster-info")},
		{key: "RoleBinding kube-public/kubeadm:bootstrap-signer-clusterinfo", bind: &binding{ref("Role", "kubeadm:bootstrap-signer-clusterinfo"), []rbacv1.Subject{anonymous}}},
		{key: "ConfigMap kube-system/kubeadm-config"},
		{key: "ConfigMap kube-system/kubelet-config"},
		{key: "EndpointSlice default/kubernetes"},
		{key: "Endpoints default/kubernetes"},
		{key: "ClusterRoleBinding kubeadm:kubelet-bootstrap", bind: &binding{ref("ClusterRole", "system:node-bootstrapper"), []rbacv1.Subject{kubeadmTokens, kubeseedTokens}}},
		{key: "ClusterRole kubeadm:get-nodes", rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"nodes"}}}},
		{key: "ClusterRoleBinding kubeadm:get-nodes", bind: &binding{ref("ClusterRole", "kubeadm:get-nodes"), []rbacv1.Subject{kubeadmTokens, kubeseedTokens}}},
		{key: "ClusterRoleBinding kubeadm:node-autoapprove-bootstrap", bind: &binding{ref("ClusterRole", "system:certificates.k8s.io:certificatesigningrequests:nodeclient"), []rbacv1.Subject{kubeadmTokens, kubeseedTokens}}},
		{key: "ClusterRoleBinding kubeadm:node-autoapprove-certificate-rotation", bind: &binding{ref("ClusterRole", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"), []rbacv1.Subject{nodes}}},
		{key: "Role kube-system/kubeadm:nodes-kubeadm-config", rules: getCM("kubeadm-config")},
		{key: "RoleBinding kube-system/kubeadm:nodes-kubeadm-config", bind: &binding{ref("Role", "kubeadm:nodes-kubeadm-config"), []rbacv1.Subject{kubeadmTokens, kubeseedTokens, nodes}}},
		{key: "Role kube-system/kubeadm:kubelet-config", rules: getCM("kubelet-config")},
		{key: "RoleBinding kube-system/kubeadm:kubelet-config", bind: &binding{ref("Role", "kubeadm:kubelet-config"), []rbacv1.Subject{nodes, kubeadmTokens, kubeseedTokens}}},
	}

	objs := mustObjects(t, inputs(t))
	if len(objs) != len(want) {
		var got []string
		for _, o := range objs {
			got = append(got, objectKey(o))
		}
		t.Fatalf("got %d objects, want %d:\n%s", len(objs), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		o := objs[i]
		if got := objectKey(o); got != w.key {
			t.Errorf("object %d is %s, want %s", i, got, w.key)
			continue
		}
		if o.GetObjectKind().GroupVersionKind().Version == "" {
			t.Errorf("%s has no apiVersion", w.key)
		}
		if o.GetLabels()["app.kubernetes.io/managed-by"] != "kubeseed" {
			t.Errorf("%s lacks the managed-by label: %v", w.key, o.GetLabels())
		}
		var rules []rbacv1.PolicyRule
		var bind *binding
		switch o := o.(type) {
		case *rbacv1.Role:
			rules = o.Rules
		case *rbacv1.ClusterRole:
			rules = o.Rules
		case *rbacv1.RoleBinding:
			bind = &binding{o.RoleRef, o.Subjects}
		case *rbacv1.ClusterRoleBinding:
			bind = &binding{o.RoleRef, o.Subjects}
		}
		if !reflect.DeepEqual(rules, w.rules) {
			t.Errorf("%s rules:\n got %+v\nwant %+v", w.key, rules, w.rules)
		}
		if !reflect.DeepEqual(bind, w.bind) {
			t.Errorf("%s binding:\n got %+v\nwant %+v", w.key, bind, w.bind)
		}
	}
}

// TestObjectsAreDeterministic: the same inputs give equal objects (map order, YAML and
// kubeconfig encodings), which is what makes a second server-side apply a no-op.
func TestObjectsAreDeterministic(t *testing.T) {
	in := inputs(t)
	first := mustObjects(t, in)
	for range 5 {
		if again := mustObjects(t, in); !equality.Semantic.DeepEqual(first, again) {
			t.Fatal("Objects differ between two calls with the same inputs")
		}
	}
}

func TestObjectsRefuseBadInputs(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*Inputs)
		wantErr string
	}{
		{"http endpoint", func(in *Inputs) { in.Endpoint = "http://203.0.113.10:6443" }, "not https://host:port"},
		{"endpoint without port", func(in *Inputs) { in.Endpoint = "https://203.0.113.10" }, "not https://host:port"},
		{"endpoint with a path", func(in *Inputs) { in.Endpoint = "https://203.0.113.10:6443/api" }, "not https://host:port"},
		{"no endpoint", func(in *Inputs) { in.Endpoint = "" }, "not https://host:port"},
		{"no CA", func(in *Inputs) { in.CAPEM = nil }, "CA certificate"},
		{"CA not PEM", func(in *Inputs) { in.CAPEM = []byte("ca") }, "CA certificate"},
		{"no version", func(in *Inputs) { in.Version = "" }, "not of the form vX.Y.Z"},
		{"version without v", func(in *Inputs) { in.Version = "1.36.3" }, "not of the form vX.Y.Z"},
		{"no service CIDR", func(in *Inputs) { in.Network.ServiceCIDR = "" }, "network.serviceCIDR"},
		{"no pod CIDR", func(in *Inputs) { in.Network.PodCIDR = "" }, "network.podCIDR"},
		{"no DNS domain", func(in *Inputs) { in.Network.DNSDomain = "" }, "network.dnsDomain"},
		{"service CIDR too small for DNS", func(in *Inputs) { in.Network.ServiceCIDR = "10.96.0.0/29" }, "no 10th address"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Objects(inputs(t, tt.mutate))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestConfigGolden compares the two component configurations with testdata/; run with
// -update to rewrite them after an intended change, and review the diff. kubeadm v1.34's
// `kubeadm config validate` accepted both (strict decoding) when they were written.
func TestConfigGolden(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Inputs)
	}{
		{"ipv4", nil},
		{"ipv6-custom-domain", func(in *Inputs) {
			in.Endpoint = "https://[2001:db8::10]:6443"
			in.Network = v1alpha1.NetworkSpec{ServiceCIDR: "fd00:10:96::/108", PodCIDR: "fd00:10:244::/56", DNSDomain: "acme.internal"}
			in.ClusterName = ""
			in.Version = "v1.35.4"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mutate []func(*Inputs)
			if c.mutate != nil {
				mutate = append(mutate, c.mutate)
			}
			objs := mustObjects(t, inputs(t, mutate...))
			var got bytes.Buffer
			for _, o := range objs {
				if cm, ok := o.(*corev1.ConfigMap); ok && cm.Namespace == "kube-system" {
					for _, k := range []string{ClusterConfigurationKey, KubeletConfigKey} {
						if doc, ok := cm.Data[k]; ok {
							fmt.Fprintf(&got, "---\n# %s/%s %s\n%s", cm.Namespace, cm.Name, k, doc)
						}
					}
				}
			}
			path := filepath.Join("testdata", c.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/bootstrap -run TestConfigGolden -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("configuration differs from %s (go test ./pkg/bootstrap -run TestConfigGolden -update to accept):\n%s", path, got.String())
			}
		})
	}
}

// TestKubeletConfigMap checks what a kubelet and kubeadm read from kubelet-config: the
// configuration decodes strictly, has kubeadm's defaults for this network, and the
// ConfigMap is signed the way kubeadm signs its own.
func TestKubeletConfigMap(t *testing.T) {
	cases := []struct {
		serviceCIDR, domain, wantDNS string
	}{
		{"10.96.0.0/12", "cluster.local", "10.96.0.10"},
		{"172.20.0.0/16", "acme.internal", "172.20.0.10"},
		{"fd00:10:96::/108", "cluster.local", "fd00:10:96::a"},
	}
	for _, tt := range cases {
		t.Run(tt.serviceCIDR, func(t *testing.T) {
			var cm *corev1.ConfigMap
			for _, o := range mustObjects(t, inputs(t, func(in *Inputs) { in.Network.ServiceCIDR, in.Network.DNSDomain = tt.serviceCIDR, tt.domain })) {
				if o.GetName() == KubeletConfigConfigMap {
					cm = o.(*corev1.ConfigMap)
				}
			}
			if cm == nil {
				t.Fatal("no kubelet-config ConfigMap")
			}
			cfg := &kubeletv1beta1.KubeletConfiguration{}
			if err := yaml.UnmarshalStrict([]byte(cm.Data[KubeletConfigKey]), cfg); err != nil {
				t.Fatal(err)
			}
			checks := []struct {
				what string
				ok   bool
			}{
				{"kind", cfg.Kind == "KubeletConfiguration" && cfg.APIVersion == "kubelet.config.k8s.io/v1beta1"},
				{"clusterDNS " + fmt.Sprint(cfg.ClusterDNS), len(cfg.ClusterDNS) == 1 && cfg.ClusterDNS[0] == tt.wantDNS},
				{"clusterDomain " + cfg.ClusterDomain, cfg.ClusterDomain == tt.domain},
				{"x509 client CA", cfg.Authentication.X509.ClientCAFile == "/etc/kubernetes/pki/ca.crt"},
				{"webhook authentication", cfg.Authentication.Webhook.Enabled != nil && *cfg.Authentication.Webhook.Enabled},
				{"no anonymous", cfg.Authentication.Anonymous.Enabled != nil && !*cfg.Authentication.Anonymous.Enabled},
				{"webhook authorization", cfg.Authorization.Mode == kubeletv1beta1.KubeletAuthorizationModeWebhook},
				{"rotateCertificates", cfg.RotateCertificates},
				{"serverTLSBootstrap", cfg.ServerTLSBootstrap},
				{"cgroupDriver systemd", cfg.CgroupDriver == "systemd"},
				{"no reservations (per node)", cfg.KubeReserved == nil && cfg.SystemReserved == nil && cfg.EvictionHard == nil},
			}
			for _, c := range checks {
				if !c.ok {
					t.Errorf("kubelet configuration: %s is not as kubeadm makes it", c.what)
				}
			}
			sum := sha256.Sum256([]byte(cm.Data[KubeletConfigKey]))
			if got, want := cm.Annotations["kubeadm.kubernetes.io/component-config.hash"], fmt.Sprintf("sha256:%x", sum); got != want {
				t.Errorf("hash annotation %q, want %q", got, want)
			}
		})
	}
}

func TestClusterInfo(t *testing.T) {
	caPEM := mustCAPEM(t)
	cases := []struct {
		name, server string
		ca           []byte
		wantErr      string
	}{
		{name: "IPv4", server: "https://203.0.113.10:31443", ca: caPEM},
		{name: "IPv6", server: "https://[2001:db8::10]:6443", ca: caPEM},
		{name: "DNS", server: "https://k8s.acme.example:6443", ca: caPEM},
		{name: "http", server: "http://203.0.113.10:6443", ca: caPEM, wantErr: "not an https URL"},
		{name: "no host", server: "https://", ca: caPEM, wantErr: "not an https URL"},
		{name: "no CA", server: "https://203.0.113.10:6443", wantErr: "CA certificate"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			cm, err := ClusterInfo(tt.server, tt.ca)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cm.Namespace != "kube-public" || cm.Name != "cluster-info" || len(cm.Data) != 1 {
				t.Fatalf("ConfigMap %s/%s with keys %v", cm.Namespace, cm.Name, cm.Data)
			}
			cfg, err := clientcmd.Load([]byte(cm.Data["kubeconfig"]))
			if err != nil {
				t.Fatal(err)
			}
			// kubeadm's discovery takes the unnamed cluster.
			c := cfg.Clusters[""]
			if c == nil || len(cfg.Clusters) != 1 {
				t.Fatalf("clusters %v, want one named \"\"", cfg.Clusters)
			}
			if c.Server != tt.server || !bytes.Equal(c.CertificateAuthorityData, tt.ca) || c.InsecureSkipTLSVerify {
				t.Errorf("cluster %+v, want server %s and the CA", c, tt.server)
			}
			if len(cfg.AuthInfos) != 0 || len(cfg.Contexts) != 0 {
				t.Errorf("cluster-info carries users %v or contexts %v: it is public", cfg.AuthInfos, cfg.Contexts)
			}
		})
	}
}

func TestDNSServiceIP(t *testing.T) {
	cases := []struct{ cidr, want, wantErr string }{
		{cidr: "10.96.0.0/12", want: "10.96.0.10"},
		{cidr: "10.96.5.0/12", want: "10.96.0.10"}, // masked first
		{cidr: "10.0.0.0/24", want: "10.0.0.10"},
		{cidr: "10.0.0.0/28", want: "10.0.0.10"},
		{cidr: "fd00::/108", want: "fd00::a"},
		{cidr: "10.0.0.0/29", wantErr: "no 10th address"},
		{cidr: "10.0.0.0", wantErr: "service CIDR"},
	}
	for _, tt := range cases {
		t.Run(tt.cidr, func(t *testing.T) {
			got, err := DNSServiceIP(tt.cidr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DNSServiceIP = %v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("DNSServiceIP = %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// The tenant's `kubernetes` Service points at the published endpoint when it is an address
// nodes can reach, and is left alone for a host name or a loopback address.
func TestKubernetesEndpoints(t *testing.T) {
	cases := []struct {
		endpoint string
		want     string // "" means no objects
	}{
		{"https://203.0.113.10:31443", "203.0.113.10:31443"},
		{"https://[2001:db8::1]:6443", "2001:db8::1:6443"},
		{"https://api.example.com:6443", ""},
		{"https://127.0.0.1:6443", ""},
	}
	for _, c := range cases {
		objs, err := kubernetesEndpoints(c.endpoint)
		if err != nil {
			t.Fatalf("%s: %v", c.endpoint, err)
		}
		if c.want == "" {
			if len(objs) != 0 {
				t.Errorf("%s: got %d objects, want none", c.endpoint, len(objs))
			}
			continue
		}
		slice, ok := objs[0].(*discoveryv1.EndpointSlice)
		if !ok || len(objs) != 2 {
			t.Fatalf("%s: got %v", c.endpoint, objs)
		}
		got := fmt.Sprintf("%s:%d", slice.Endpoints[0].Addresses[0], *slice.Ports[0].Port)
		if got != c.want || slice.Labels[discoveryv1.LabelServiceName] != "kubernetes" || *slice.Ports[0].Name != "https" {
			t.Errorf("%s: slice %s %v, want %s for Service kubernetes port https", c.endpoint, got, slice.Labels, c.want)
		}
	}
}
