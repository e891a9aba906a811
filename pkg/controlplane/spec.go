package controlplane

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// InvalidSpecError is input that retrying cannot fix; the controller reports it in a
// condition and does not requeue.
type InvalidSpecError struct {
	// Field is the path of the offending field, e.g. spec.controlPlane.apiServer.extraArgs.
	Field  string
	Detail string
}

func (e *InvalidSpecError) Error() string { return e.Field + ": " + e.Detail }

func invalid(field, format string, args ...any) error {
	return &InvalidSpecError{Field: field, Detail: fmt.Sprintf(format, args...)}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// heldVersion checks a component held back during an upgrade (what names it) against the
// version skew policy: never newer than the one it follows, at most one minor older.
// Empty held means newer.
func heldVersion(what, newer, held string) (string, error) {
	apiServer, controllers := newer, held
	if controllers == "" || controllers == apiServer {
		return apiServer, nil
	}
	if !versions.IsSupported(controllers) {
		return "", fmt.Errorf("%s version %s is not supported", what, controllers)
	}
	a, err := versions.Parse(apiServer)
	if err != nil {
		return "", err
	}
	c, err := versions.Parse(controllers)
	if err != nil {
		return "", err
	}
	older := c.Major == a.Major && (c.Minor == a.Minor-1 || (c.Minor == a.Minor && c.Patch <= a.Patch))
	if !older {
		return "", fmt.Errorf("%s version %s breaks the skew policy with %s", what, controllers, apiServer)
	}
	return controllers, nil
}

// network is the tenant's address plan, parsed.
type network struct {
	serviceCIDR, podCIDR netip.Prefix
	dnsDomain            string
}

func networkOf(n v1alpha1.NetworkSpec) (network, error) {
	svc, err := netip.ParsePrefix(orDefault(n.ServiceCIDR, defaultServiceCIDR))
	if err != nil {
		return network{}, invalid("spec.network.serviceCIDR", "%v", err)
	}
	pods, err := netip.ParsePrefix(orDefault(n.PodCIDR, defaultPodCIDR))
	if err != nil {
		return network{}, invalid("spec.network.podCIDR", "%v", err)
	}
	if svc.Overlaps(pods) {
		return network{}, invalid("spec.network.podCIDR", "%s overlaps the service CIDR %s", pods, svc)
	}
	if _, err := KubernetesServiceIP(svc.String()); err != nil {
		return network{}, invalid("spec.network.serviceCIDR", "%v", err)
	}
	return network{serviceCIDR: svc.Masked(), podCIDR: pods.Masked(), dnsDomain: orDefault(n.DNSDomain, defaultDNSDomain)}, nil
}

// TenantCIDRs are the tenant's pod and Service networks, defaults filled in: what the
// tunnel's agents may dial besides their nodes (webhooks, aggregated APIs). Nil when the
// spec's network is invalid (the render reports why).
func TenantCIDRs(n v1alpha1.NetworkSpec) []string {
	nw, err := networkOf(n)
	if err != nil {
		return nil
	}
	return []string{nw.podCIDR.String(), nw.serviceCIDR.String()}
}

func serviceTypeOf(t v1alpha1.EndpointType) (corev1.ServiceType, error) {
	switch t {
	case "", v1alpha1.EndpointLoadBalancer:
		return corev1.ServiceTypeLoadBalancer, nil
	case v1alpha1.EndpointNodePort, v1alpha1.EndpointOctavia:
		// The Octavia load balancer lives in the customer's project, in front of a
		// NodePort of the seed.
		return corev1.ServiceTypeNodePort, nil
	default:
		return "", invalid("spec.endpoint.type", "unknown endpoint type %q", t)
	}
}

func replicasOf(c Component, r *int32) (int32, error) {
	if c == Etcd {
		n := defaultEtcdReplicas
		if r != nil {
			n = *r
		}
		if n != 1 && n != 3 && n != 5 {
			return 0, invalid("spec.controlPlane.etcd.replicas", "must be 1, 3 or 5, not %d", n)
		}
		return n, nil
	}
	n := defaultReplicas
	if r != nil {
		n = *r
	}
	if n < 1 || n > 5 {
		return 0, invalid(specPath(c)+".replicas", "must be between 1 and 5, not %d", n)
	}
	return n, nil
}

func specPath(c Component) string {
	switch c {
	case APIServer:
		return "spec.controlPlane.apiServer"
	case ControllerManager:
		return "spec.controlPlane.controllerManager"
	case Scheduler:
		return "spec.controlPlane.scheduler"
	default:
		return "spec.controlPlane.etcd"
	}
}
