package pki_test

import (
	"slices"
	"testing"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

func TestAPIServerSANs(t *testing.T) {
	svcNames := []string{
		"acme-kube-apiserver", "acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a",
		"acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a.svc", "acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a.svc.cluster.local",
	}
	kubernetes := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	cases := []struct {
		name     string
		tc       *v1alpha1.TenantCluster
		endpoint string
		opts     []pki.Option
		wantDNS  []string
		wantIPs  []string
	}{
		{
			name: "IPv4 service CIDR, endpoint IP", tc: tenant(), endpoint: "203.0.113.10",
			wantDNS: slices.Concat(kubernetes, svcNames, []string{"localhost"}),
			wantIPs: []string{"10.96.0.1", "127.0.0.1", "203.0.113.10"},
		},
		{
			name: "IPv6 service CIDR, IPv6 endpoint",
			tc: tenant(func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Network.ServiceCIDR = "fd00:10:96::/108"
				tc.Spec.Network.PodCIDR = "fd00:10:244::/56"
			}),
			endpoint: "2001:db8::10",
			wantDNS:  slices.Concat(kubernetes, svcNames, []string{"localhost"}),
			wantIPs:  []string{"127.0.0.1", "2001:db8::10", "fd00:10:96::1"},
		},
		{
			name: "endpoint DNS name", tc: tenant(), endpoint: "API.acme.example.com",
			wantDNS: slices.Concat(kubernetes, svcNames, []string{"api.acme.example.com", "localhost"}),
			wantIPs: []string{"10.96.0.1", "127.0.0.1"},
		},
		{
			name: "extra certSANs, duplicates folded",
			tc: tenant(func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.CertSANs = []string{"k8s.acme.example", "*.apps.acme.example", "198.51.100.7", "2001:db8::7", "203.0.113.10", "localhost", "::ffff:198.51.100.8"}
			}),
			endpoint: "203.0.113.10",
			wantDNS:  slices.Concat(kubernetes, svcNames, []string{"*.apps.acme.example", "k8s.acme.example", "localhost"}),
			wantIPs:  []string{"10.96.0.1", "127.0.0.1", "198.51.100.7", "198.51.100.8", "203.0.113.10", "2001:db8::7"},
		},
		{
			name: "tenant DNS domain and seed domain",
			tc: tenant(func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Network.DNSDomain = "acme.internal"
				tc.Spec.Network.ServiceCIDR = "172.20.0.0/16"
			}),
			endpoint: "203.0.113.10",
			opts:     []pki.Option{pki.WithSeedClusterDomain("seed.example")},
			wantDNS: []string{
				"acme-kube-apiserver", "acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a", "acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a.svc",
				"acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a.svc.seed.example",
				"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.acme.internal",
				"localhost",
			},
			wantIPs: []string{"127.0.0.1", "172.20.0.1", "203.0.113.10"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			certs := certificates(t, c.tc.Name, mustObjects(t, c.tc, pki.Endpoint{Host: c.endpoint, Port: 6443}, c.opts...))
			spec := certs[controlplane.APIServerTLSSecret].Spec
			if want := slices.Sorted(slices.Values(c.wantDNS)); !slices.Equal(spec.DNSNames, want) {
				t.Errorf("dnsNames:\n got %q\nwant %q", spec.DNSNames, want)
			}
			if !slices.Equal(spec.IPAddresses, c.wantIPs) {
				t.Errorf("ipAddresses:\n got %q\nwant %q", spec.IPAddresses, c.wantIPs)
			}
		})
	}
}

func TestEtcdSANs(t *testing.T) {
	certs := certificates(t, "acme", mustObjects(t, tenant(), endpoint))
	var members []string
	for i := range 5 {
		h := controlplane.EtcdMemberHost("acme", "kubeseed-project-1-acme-a2683d4d1a", i)
		members = append(members, h, h+".cluster.local")
	}
	wantServer := slices.Sorted(slices.Values(slices.Concat(members, []string{
		"localhost", "acme-etcd-client", "acme-etcd-client.kubeseed-project-1-acme-a2683d4d1a",
		controlplane.EtcdClientHost("acme", "kubeseed-project-1-acme-a2683d4d1a"), "acme-etcd-client.kubeseed-project-1-acme-a2683d4d1a.svc.cluster.local",
	})))
	server := certs[controlplane.EtcdServerSecret].Spec
	if !slices.Equal(server.DNSNames, wantServer) {
		t.Errorf("etcd server dnsNames:\n got %q\nwant %q", server.DNSNames, wantServer)
	}
	if !slices.Equal(server.IPAddresses, []string{"127.0.0.1"}) {
		t.Errorf("etcd server ipAddresses %q", server.IPAddresses)
	}
	peer := certs[controlplane.EtcdPeerSecret].Spec
	if want := slices.Sorted(slices.Values(members)); !slices.Equal(peer.DNSNames, want) || len(peer.IPAddresses) > 0 {
		t.Errorf("etcd peer names %q %q, want %q", peer.DNSNames, peer.IPAddresses, want)
	}
}

func TestTunnelCertificates(t *testing.T) {
	svcNames := []string{
		"acme-kube-apiserver", "acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a",
		"acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a.svc", "acme-kube-apiserver.kubeseed-project-1-acme-a2683d4d1a.svc.cluster.local",
	}
	cases := []struct {
		name     string
		tc       *v1alpha1.TenantCluster
		endpoint string
		wantDNS  []string
		wantIPs  []string
	}{
		{name: "endpoint IP", tc: tenant(), endpoint: "203.0.113.10", wantDNS: svcNames, wantIPs: []string{"203.0.113.10"}},
		{name: "endpoint DNS name", tc: tenant(), endpoint: "API.acme.example.com", wantDNS: append([]string{"api.acme.example.com"}, svcNames...)},
		{
			name: "extra certSANs",
			tc: tenant(func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.CertSANs = []string{"k8s.acme.example", "198.51.100.7"}
			}),
			endpoint: "203.0.113.10",
			wantDNS:  append([]string{"k8s.acme.example"}, svcNames...),
			wantIPs:  []string{"198.51.100.7", "203.0.113.10"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			certs := certificates(t, c.tc.Name, mustObjects(t, c.tc, pki.Endpoint{Host: c.endpoint, Port: 6443}))
			spec := certs[controlplane.TunnelServerSecret].Spec
			if want := slices.Sorted(slices.Values(c.wantDNS)); !slices.Equal(spec.DNSNames, want) {
				t.Errorf("dnsNames:\n got %q\nwant %q", spec.DNSNames, want)
			}
			if !slices.Equal(spec.IPAddresses, c.wantIPs) {
				t.Errorf("ipAddresses:\n got %q\nwant %q", spec.IPAddresses, c.wantIPs)
			}
		})
	}
}
