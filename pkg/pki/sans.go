package pki

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// addPublished adds the names the tenant is dialled by from outside the seed, shared by
// the apiserver's and the tunnel server's certificates: the published endpoint's host, once
// known, and the spec's extra SANs.
func (s *sans) addPublished(tc *v1alpha1.TenantCluster, endpointHost string) error {
	if endpointHost != "" {
		if err := checkEndpointHost(endpointHost); err != nil {
			return err
		}
		s.add(endpointHost)
	}
	for _, san := range tc.Spec.ControlPlane.APIServer.CertSANs {
		if err := checkSAN(san); err != nil {
			return &controlplane.InvalidSpecError{Field: "spec.controlPlane.apiServer.certSANs", Detail: err.Error()}
		}
		s.add(san)
	}
	return nil
}

// tunnelServerCert is the tunnel server's serving certificate. Agents dial it at the
// published endpoint's host (and the spec's extra SANs, for a DNS name in front of it);
// the seed-side Service names serve checks from inside the seed.
func tunnelServerCert(tc *v1alpha1.TenantCluster, endpointHost, seedDomain string) (certSpec, error) {
	name, ns := tc.Name, controlplane.NamespaceOf(tc)
	var sans sans
	sans.add(serviceNames(controlplane.APIServer.ObjectName(name), ns, controlplane.APIServerServiceHost(name, ns), seedDomain)...)
	if err := sans.addPublished(tc, endpointHost); err != nil {
		return certSpec{}, err
	}
	dns, ips := sans.sorted()
	return certSpec{
		secret: controlplane.TunnelServerSecret, issuer: controlplane.CASecret.Name(name),
		commonName: TunnelServerCommonName, dnsNames: dns, ipAddresses: ips,
		usages: serverClientUsages, key: ecdsaP256, rotation: cmv1.RotationPolicyAlways,
		duration: LeafDuration, renewBefore: LeafRenewBefore,
	}, nil
}

// apiServerCert is the kube-apiserver's serving certificate. Its names are every way it is
// dialled: the tenant's `kubernetes` Service (from pods and kubelets), the seed-side
// Service (the controller-manager, scheduler and kubeseed), loopback (probes, in-pod
// tools), the published endpoint (workers and users) and the spec's extra SANs.
func apiServerCert(tc *v1alpha1.TenantCluster, endpointHost, seedDomain string) (certSpec, error) {
	name, ns := tc.Name, controlplane.NamespaceOf(tc)
	dnsDomain := tc.Spec.Network.DNSDomain
	if dnsDomain == "" {
		dnsDomain = defaultDNSDomain
	}
	serviceCIDR := tc.Spec.Network.ServiceCIDR
	if serviceCIDR == "" {
		serviceCIDR = defaultServiceCIDR
	}
	kubernetesIP, err := controlplane.KubernetesServiceIP(serviceCIDR)
	if err != nil {
		return certSpec{}, &controlplane.InvalidSpecError{Field: "spec.network.serviceCIDR", Detail: err.Error()}
	}

	var sans sans
	sans.add("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc."+dnsDomain)
	sans.add(serviceNames(controlplane.APIServer.ObjectName(name), ns, controlplane.APIServerServiceHost(name, ns), seedDomain)...)
	sans.add("localhost", "127.0.0.1", kubernetesIP.String())
	if err := sans.addPublished(tc, endpointHost); err != nil {
		return certSpec{}, err
	}

	dns, ips := sans.sorted()
	return certSpec{
		secret: controlplane.APIServerTLSSecret, issuer: controlplane.CASecret.Name(name),
		commonName: string(controlplane.APIServer), dnsNames: dns, ipAddresses: ips,
		usages: serverUsages, key: ecdsaP256, rotation: cmv1.RotationPolicyAlways,
		duration: LeafDuration, renewBefore: LeafRenewBefore,
	}, nil
}

// serviceNames are the DNS names of a seed Service: its name, as resolved in its namespace
// and in the seed, host (pkg/controlplane's "<svc>.<ns>.svc") and host fully qualified.
func serviceNames(svc, ns, host, seedDomain string) []string {
	return []string{svc, svc + "." + ns, host, host + "." + seedDomain}
}

// etcdServerSANs: the apiserver dials the client Service, members advertise their own
// names, and etcdctl in the pod dials loopback.
func etcdServerSANs(cluster, ns, seedDomain string) (dns, ips []string) {
	var s sans
	s.add("localhost", "127.0.0.1")
	s.add(serviceNames(controlplane.EtcdClientServiceName(cluster), ns, controlplane.EtcdClientHost(cluster, ns), seedDomain)...)
	s.add(etcdMemberNames(cluster, ns, seedDomain)...)
	return s.sorted()
}

func etcdMemberNames(cluster, ns, seedDomain string) []string {
	var names []string
	for i := range maxEtcdMembers {
		host := controlplane.EtcdMemberHost(cluster, ns, i)
		names = append(names, host, host+"."+seedDomain)
	}
	return names
}

// checkEndpointHost checks an observed endpoint host: an IP address or a DNS name. It is
// observed, not specified, so a bad one is an error but no *InvalidSpecError.
func checkEndpointHost(host string) error {
	if err := checkSAN(host); err != nil {
		return fmt.Errorf("endpoint host: %w", err)
	}
	if strings.HasPrefix(host, "*") {
		return fmt.Errorf("endpoint host %q is a wildcard", host)
	}
	return nil
}

// checkSAN accepts an IP address (no zone) or a DNS name, wildcards included.
func checkSAN(s string) error {
	if ip, err := netip.ParseAddr(s); err == nil {
		if ip.Zone() != "" {
			return fmt.Errorf("%q: an IP address in a certificate has no zone", s)
		}
		return nil
	}
	name := strings.ToLower(s)
	if len(validation.IsDNS1123Subdomain(name)) == 0 || len(validation.IsWildcardDNS1123Subdomain(name)) == 0 {
		return nil
	}
	return fmt.Errorf("%q is neither an IP address nor a DNS name", s)
}

// sans collects subject alternative names, IPs apart from DNS names, without duplicates.
type sans struct {
	dns []string
	ips []netip.Addr
}

// add takes values checkSAN accepts.
func (s *sans) add(values ...string) {
	for _, v := range values {
		if ip, err := netip.ParseAddr(v); err == nil {
			s.ips = append(s.ips, ip.Unmap())
			continue
		}
		s.dns = append(s.dns, strings.ToLower(v))
	}
}

// sorted returns the names in a canonical order, so that reordering the spec's certSANs
// changes nothing.
func (s *sans) sorted() (dns, ips []string) {
	dns = slices.Compact(slices.Sorted(slices.Values(s.dns)))
	addrs := slices.Compact(slices.SortedFunc(slices.Values(s.ips), netip.Addr.Compare))
	for _, ip := range addrs {
		ips = append(ips, ip.String())
	}
	return dns, ips
}
