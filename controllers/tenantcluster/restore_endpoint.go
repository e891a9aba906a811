package tenantcluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// restoredNodePorts are the node ports a tenant made from a backup asks for before its
// kube-apiserver Service exists: the old tenant's, from the backup's manifest, so that the
// old kubeconfigs and workers reach the new tenant at the old address (the seed's node
// address, which a NodePort endpoint publishes, is the same on the same seed). Only on the
// seed the backup was taken on, and each only while no Service of the seed holds it: the
// seed then picks another, and an event says the address changed. Zero for any other
// tenant: its Service's ports are kept as they are.
func (r *Reconciler) restoredNodePorts(ctx context.Context, s *scope) (apiserver, tunnel int32, err error) {
	src := s.o.restore.src
	if s.svc != nil || src == nil || src.manifest.Endpoint == nil {
		return 0, 0, nil
	}
	want := src.manifest.Endpoint
	if seed, err := r.seedID(ctx); err != nil || want.Seed != seed {
		return 0, 0, err // another seed's ports: its node-port range may not be this one's
	}
	// Every Service of the seed, not only kubeseed's: the cache holds only those.
	services := &corev1.ServiceList{}
	if err := r.apiReader().List(ctx, services); err != nil {
		return 0, 0, fmt.Errorf("list the seed's Services for the node ports of the restored endpoint: %w", err)
	}
	taken := map[int32]bool{}
	for _, svc := range services.Items {
		for _, p := range svc.Spec.Ports {
			taken[p.NodePort] = p.NodePort != 0
		}
	}
	pick := func(port int32, what string) int32 {
		if port <= 0 || port > 65535 {
			return 0
		}
		if taken[port] {
			// Which Service holds it is another tenant's business: not named here.
			r.Recorder.Eventf(s.tc, nil, corev1.EventTypeWarning, "EndpointAddressChanged", "Restore",
				"the %s node port %d of the tenant backup %s was taken from is held by another Service of the seed: this tenant gets another, so clients and workers of the old address must be pointed at status.endpoint", what, port, src.manifest.Name)
			return 0
		}
		return port
	}
	return pick(want.NodePort, "kube-apiserver"), pick(want.TunnelNodePort, "tunnel"), nil
}
