package octavia

import (
	"context"
	"fmt"

	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// Delete removes the tenant's load balancer (cascading to its children) and floating IPs.
// gone is true once nothing tagged for the tenant is left; until then call it again.
func Delete(ctx context.Context, c Clients, tenantUID string) (gone bool, err error) {
	if err := deleteFloatingIPs(ctx, c.Network, tenantUID); err != nil {
		return false, err
	}
	list, err := c.LoadBalancer.ListLoadBalancers(ctx, openstack.TenantTag(tenantUID))
	if err != nil {
		return false, fmt.Errorf("find the tenant's load balancers: %w", err)
	}
	for _, lb := range list {
		if lb.ProvisioningStatus != openstack.StatusActive && lb.ProvisioningStatus != openstack.StatusError {
			// A list may lag behind the load balancer's own view while it settles.
			now, err := c.LoadBalancer.GetLoadBalancer(ctx, lb.ID)
			if openstack.IsNotFound(err) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("get load balancer %s: %w", lb.ID, err)
			}
			lb = *now
		}
		switch lb.ProvisioningStatus {
		case openstack.StatusDeleted:
			continue
		case openstack.StatusPendingDelete:
		case openstack.StatusActive, openstack.StatusError:
			if err := c.LoadBalancer.DeleteLoadBalancer(ctx, lb.ID, true); openstack.IgnoreNotFound(err) != nil && !openstack.IsTransient(err) {
				return false, fmt.Errorf("delete load balancer %s: %w", lb.ID, err)
			}
		}
		// PENDING_CREATE/UPDATE: Octavia refuses a delete until it settles; come back.
		return false, nil
	}
	return true, nil
}

// Sweep deletes load balancers and floating IPs this seed tagged for tenants that no
// longer exist (alive says which tenant UIDs do): what a TenantCluster whose finalizer was
// removed by hand left behind. It returns what it deleted.
func Sweep(ctx context.Context, c Clients, seedID string, alive func(tenantUID string) bool) ([]string, error) {
	seed := SeedTag(seedID)
	orphan := func(tags []string) (string, bool) {
		if !openstack.HasTag(tags, seed) || !openstack.HasTag(tags, openstack.RoleTag(RoleAPIServerLB)) {
			return "", false
		}
		for _, t := range tags {
			if k, v, ok := openstack.ParseTag(t); ok && k == openstack.TagKeyTenantUID {
				return v, !alive(v)
			}
		}
		return "", false
	}
	var deleted []string
	fips, err := c.Network.ListFloatingIPs(ctx, seed)
	if err != nil {
		return nil, fmt.Errorf("list floating IPs of this seed: %w", err)
	}
	for _, f := range fips {
		if uid, ok := orphan(f.Tags); ok {
			if err := c.Network.DeleteFloatingIP(ctx, f.ID); openstack.IgnoreNotFound(err) != nil {
				return deleted, fmt.Errorf("delete floating IP %s of gone tenant %s: %w", f.Address, uid, err)
			}
			deleted = append(deleted, "floating IP "+f.Address)
		}
	}
	lbs, err := c.LoadBalancer.ListLoadBalancers(ctx, seed)
	if err != nil {
		return deleted, fmt.Errorf("list load balancers of this seed: %w", err)
	}
	for _, lb := range lbs {
		uid, ok := orphan(lb.Tags)
		if !ok || (lb.ProvisioningStatus != openstack.StatusActive && lb.ProvisioningStatus != openstack.StatusError) {
			continue
		}
		if err := c.LoadBalancer.DeleteLoadBalancer(ctx, lb.ID, true); openstack.IgnoreNotFound(err) != nil && !openstack.IsTransient(err) {
			return deleted, fmt.Errorf("delete load balancer %s of gone tenant %s: %w", lb.ID, uid, err)
		}
		deleted = append(deleted, "load balancer "+lb.ID)
	}
	return deleted, nil
}
