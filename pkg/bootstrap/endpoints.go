package bootstrap

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kubernetesEndpoints points the tenant's `kubernetes` Service at the published endpoint.
// The tenant apiservers run with --endpoint-reconciler-type=none (their pod IPs are not
// reachable from the tenant's nodes), so nothing else would: without it, pods using the
// in-cluster config (CoreDNS among them) never reach their API. Only an IP endpoint can
// back a Service; a host name (an LB's DNS name) or a loopback address leaves it empty.
func kubernetesEndpoints(endpoint string) ([]client.Object, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return nil, nil // not an address the tenant's nodes can be sent to
	}
	port, err := strconv.ParseInt(u.Port(), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q has no numeric port", endpoint)
	}
	family := discoveryv1.AddressTypeIPv4
	if ip.Is6() {
		family = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{
				ManagedByLabel:               "kubeseed",
				discoveryv1.LabelServiceName: "kubernetes",
				discoveryv1.LabelManagedBy:   "kubeseed.io",
			},
		},
		AddressType: family,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	// The legacy Endpoints too, for clients that still read them; the mirroring controller
	// must not make a second slice of it.
	eps := &corev1.Endpoints{ //nolint:staticcheck // clients that predate EndpointSlices read it
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{ManagedByLabel: "kubeseed", discoveryv1.LabelSkipMirror: "true"},
		},
		Subsets: []corev1.EndpointSubset{{ //nolint:staticcheck // as above
			Addresses: []corev1.EndpointAddress{{IP: ip.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	return []client.Object{slice, eps}, nil
}
