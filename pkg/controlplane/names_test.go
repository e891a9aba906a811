package controlplane_test

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

func TestKubernetesServiceIP(t *testing.T) {
	cases := []struct {
		cidr, want string
		wantErr    bool
	}{
		{cidr: "10.96.0.0/12", want: "10.96.0.1"},
		{cidr: "172.20.0.0/16", want: "172.20.0.1"},
		{cidr: "10.96.0.0/31", want: "10.96.0.1"},
		{cidr: "fd00:10:96::/108", want: "fd00:10:96::1"},
		{cidr: "10.96.0.0/32", wantErr: true},
		{cidr: "10.96.0.0", wantErr: true},
		{cidr: "", wantErr: true},
	}
	for _, c := range cases {
		ip, err := controlplane.KubernetesServiceIP(c.cidr)
		if (err != nil) != c.wantErr {
			t.Errorf("KubernetesServiceIP(%q) error %v, want error %v", c.cidr, err, c.wantErr)
			continue
		}
		if !c.wantErr && ip.String() != c.want {
			t.Errorf("KubernetesServiceIP(%q) = %s, want %s", c.cidr, ip, c.want)
		}
	}
}

func TestSecretNames(t *testing.T) {
	want := map[controlplane.Secret]string{
		controlplane.CASecret:                          "acme-ca",
		controlplane.EtcdCASecret:                      "acme-etcd-ca",
		controlplane.FrontProxyCASecret:                "acme-front-proxy-ca",
		controlplane.APIServerTLSSecret:                "acme-apiserver-tls",
		controlplane.APIServerKubeletClientSecret:      "acme-apiserver-kubelet-client",
		controlplane.APIServerEtcdClientSecret:         "acme-apiserver-etcd-client",
		controlplane.EtcdServerSecret:                  "acme-etcd-server",
		controlplane.EtcdPeerSecret:                    "acme-etcd-peer",
		controlplane.FrontProxyClientSecret:            "acme-front-proxy-client",
		controlplane.ServiceAccountSecret:              "acme-sa",
		controlplane.ControllerManagerKubeconfigSecret: "acme-controller-manager-kubeconfig",
		controlplane.SchedulerKubeconfigSecret:         "acme-scheduler-kubeconfig",
		controlplane.AdminKubeconfigSecret:             "acme-kubeconfig",
		controlplane.TunnelServerSecret:                "acme-tunnel-server",
		controlplane.AutoscalerClientSecret:            "acme-autoscaler-client",
	}
	if len(controlplane.Secrets) != len(want) {
		t.Errorf("Secrets lists %d Secrets, want %d", len(controlplane.Secrets), len(want))
	}
	for _, s := range controlplane.Secrets {
		if got := s.Name("acme"); got != want[s] {
			t.Errorf("%q.Name(acme) = %s, want %s", s, got, want[s])
		}
	}
}

// TestNamesFitTheLongestTenant: every name built from a 40-character TenantCluster name is
// valid for its kind: Services and pod hostnames are DNS-1035 labels, the rest subdomains.
func TestNamesFitTheLongestTenant(t *testing.T) {
	cluster := "a234567890123456789012345678901234567890"
	if len(cluster) != controlplane.MaxNameLength {
		t.Fatalf("test name has %d characters", len(cluster))
	}
	sts := controlplane.Etcd.ObjectName(cluster)
	for _, l := range []string{
		sts, controlplane.EtcdClientServiceName(cluster), controlplane.APIServer.ObjectName(cluster), // Services
		sts + "-4", // the last member's hostname
	} {
		if errs := validation.IsDNS1035Label(l); len(errs) > 0 {
			t.Errorf("%s: %v", l, errs)
		}
	}
	var names []string
	for _, c := range controlplane.Registry {
		names = append(names, c.Component.ObjectName(cluster))
	}
	names = append(names, controlplane.AutoscalerKubeconfigConfigMapName(cluster))
	for _, s := range controlplane.Secrets {
		names = append(names, s.Name(cluster))
	}
	names = append(names, controlplane.EtcdClusterConfigMapName(cluster))
	for _, n := range names {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			t.Errorf("%s: %v", n, errs)
		}
	}
	// The StatefulSet controller labels pods with "<sts>-<hash of up to 10 characters>".
	if n := len(sts) + 11; n > validation.LabelValueMaxLength {
		t.Errorf("etcd controller-revision-hash label would have %d characters", n)
	}
}

func TestHosts(t *testing.T) {
	for got, want := range map[string]string{
		controlplane.EtcdClientHost("acme", "p1"):       "acme-etcd-client.p1.svc",
		controlplane.EtcdMemberHost("acme", "p1", 2):    "acme-etcd-2.acme-etcd.p1.svc",
		controlplane.APIServerServiceHost("acme", "p1"): "acme-kube-apiserver.p1.svc",
		controlplane.EtcdMemberName("acme", 2):          "acme-etcd-2",
		controlplane.EtcdPeerURL("acme", "p1", 2):       "https://acme-etcd-2.acme-etcd.p1.svc:2380",
		controlplane.EtcdClientURL("acme", "p1"):        "https://acme-etcd-client.p1.svc:2379",
		controlplane.EtcdClusterConfigMapName("acme"):   "acme-etcd-cluster",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	labels := controlplane.Labels("acme", controlplane.Scheduler)
	if !slices.Equal([]string{labels[controlplane.LabelPartOf], labels[controlplane.LabelTenantCluster], labels[controlplane.LabelComponent]},
		[]string{"kubeseed", "acme", "kube-scheduler"}) || len(labels) != 3 {
		t.Errorf("Labels = %v", labels)
	}
}
