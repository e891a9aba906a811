package tenantcluster

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// apiServerPort is the port of the kube-apiserver Service.
const apiServerPort = 6443

// endpointOf reads the published address from the kube-apiserver Service. It is known as
// soon as the Service has its NodePort or load-balancer address, before any certificate is
// issued, so the serving certificate can name it.
func endpointOf(tc *v1alpha1.TenantCluster, svc *corev1.Service, nodeAddress string) (pki.Endpoint, check) {
	if svc == nil {
		return pki.Endpoint{}, check{reason: v1alpha1.WaitingForEndpointReason, message: "the kube-apiserver Service does not exist yet"}
	}
	switch tc.Spec.Endpoint.Type {
	case v1alpha1.EndpointNodePort:
		var port int32
		for _, p := range svc.Spec.Ports {
			if p.Port == apiServerPort {
				port = p.NodePort
			}
		}
		if port == 0 {
			return pki.Endpoint{}, check{reason: v1alpha1.WaitingForEndpointReason, message: fmt.Sprintf("Service %s has no node port yet", svc.Name)}
		}
		if nodeAddress == "" {
			return pki.Endpoint{}, check{reason: v1alpha1.WaitingForEndpointReason, message: "no Ready seed node has an InternalIP to publish"}
		}
		ep := pki.Endpoint{Host: nodeAddress, Port: port}
		return ep, check{ok: true, reason: v1alpha1.AvailableReason, message: "published at " + ep.URL()}
	case v1alpha1.EndpointLoadBalancer:
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			host := ing.IP
			if host == "" {
				host = ing.Hostname
			}
			if host != "" {
				ep := pki.Endpoint{Host: host, Port: apiServerPort}
				return ep, check{ok: true, reason: v1alpha1.AvailableReason, message: "published at " + ep.URL()}
			}
		}
		return pki.Endpoint{}, check{reason: v1alpha1.WaitingForEndpointReason, message: fmt.Sprintf(
			"Service %s has no load-balancer address yet; if the seed has no load-balancer implementation, use spec.endpoint.type NodePort (kubectl -n %s describe service %s)",
			svc.Name, svc.Namespace, svc.Name)}
	case v1alpha1.EndpointOctavia:
		// reconcileOctavia publishes it; until then, the Service has its node ports.
		return pki.Endpoint{}, check{reason: v1alpha1.WaitingForEndpointReason, message: "waiting for the Octavia load balancer"}
	default:
		return pki.Endpoint{}, check{reason: v1alpha1.WaitingForEndpointReason, message: fmt.Sprintf(
			"spec.endpoint.type %s is not implemented by this kubeseed release yet", tc.Spec.Endpoint.Type)}
	}
}

// publishedEndpoint is the endpoint in the status, the zero Endpoint when none is.
func publishedEndpoint(tc *v1alpha1.TenantCluster) pki.Endpoint {
	u, err := url.Parse(tc.Status.Endpoint)
	if err != nil || u.Hostname() == "" {
		return pki.Endpoint{}
	}
	port, err := strconv.ParseInt(u.Port(), 10, 32)
	if err != nil {
		return pki.Endpoint{}
	}
	return pki.Endpoint{Host: u.Hostname(), Port: int32(port)}
}

// nodeAddress picks the seed node address a NodePort endpoint publishes. The published one
// stays while a node still has it, Ready or not: moving it re-issues the serving certificate
// and strands every worker and kubeconfig that names it. Only when that node is gone does it
// move, to the first Ready node by name, so the choice does not depend on list order.
func nodeAddress(nodes []corev1.Node, published string) string {
	byName := slices.Clone(nodes)
	slices.SortFunc(byName, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	first := ""
	for _, n := range byName {
		ip := internalIP(n)
		if ip == "" {
			continue
		}
		if published != "" && ip == published {
			return ip
		}
		if first == "" && nodeReady(n) {
			first = ip
		}
	}
	return first
}

func internalIP(n corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
