// Package octavia publishes a tenant's kube-apiserver through an Octavia load balancer in
// the customer's own OpenStack project: a load balancer on the customer's subnet, one TCP
// listener per published port (the apiserver's 6443 and the tunnel's), each with a pool
// whose members are the seed nodes' node ports, a TCP health monitor per pool, and
// optionally a floating IP on the VIP.
//
// Ensure converges one step per call and never waits: Octavia locks a load balancer in
// PENDING_UPDATE after every change, so a caller polls (requeues) until Ensure says Ready.
// A new load balancer is created with all its children in one call (a fully populated
// create); later changes (ports, seed nodes, CIDRs, a child in ERROR) are made one at a time.
// The cloud is the only record: everything is found again by its tags, so nothing is
// lost when a status write fails, and Delete and Sweep need nothing else either.
package octavia

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// RoleAPIServerLB is the role tag of every resource of a tenant's apiserver endpoint.
const RoleAPIServerLB = "apiserver-lb"

// TagKeySeed carries the seed's identity, so that a sweep only ever removes what this seed
// created even when two seeds share a customer project.
const TagKeySeed = "seed"

// listenerTimeoutMS keeps idle connections open for an hour: a kube-apiserver's watches,
// `kubectl logs -f` and `exec` sessions idle far longer than Octavia's default 50 s.
const listenerTimeoutMS = 3600 * 1000

// Health monitor timings, in seconds: a member is taken out after three failed TCP
// connects five seconds apart.
const (
	monitorDelay      = 5
	monitorTimeout    = 5
	monitorMaxRetries = 3
)

// Port is one published port: Octavia listens on Port and forwards to NodePort of every
// backend.
type Port struct {
	// Name tells the listener apart in names and messages ("apiserver", "tunnel").
	Name     string
	Port     int
	NodePort int32
}

// Desired is the endpoint of one tenant.
type Desired struct {
	// TenantUID tags every resource; Name names them (the load balancer is Name, its
	// children Name-<port name>).
	TenantUID, Name string
	// SeedID tags every resource with the seed that made it (see Sweep).
	SeedID string
	// SubnetID is the customer subnet the VIP is allocated on.
	SubnetID string
	// VIPAddress asks for this VIP, so that a replaced load balancer keeps the address
	// workers and kubeconfigs name; a new one is allocated when Octavia refuses it.
	VIPAddress string
	// FloatingNetworkID, when set, puts a floating IP from that network on the VIP, and
	// the floating IP is the published address.
	FloatingNetworkID string
	// AllowedCIDRs limits the listeners' clients; empty allows everyone.
	AllowedCIDRs []string
	// Backends are the seed addresses the pools forward to.
	Backends []string
	Ports    []Port
}

// State is what Ensure found or did.
type State struct {
	LoadBalancerID string
	VIP            string
	FloatingIP     string
	// Address is the address to publish: the floating IP when one is wanted, else the VIP;
	// empty until allocated. It is known long before the load balancer is ready, so
	// certificates naming it can be issued meanwhile.
	Address string
	// Ready: the load balancer and all its children exist as desired and are ACTIVE.
	Ready bool
	// Progress says what is being done or waited for while not Ready.
	Progress string
}

// Clients are the services the endpoint needs.
type Clients struct {
	LoadBalancer openstack.LoadBalancer
	Network      openstack.Network
}

// Tags of a tenant's endpoint resources.
func tags(d Desired) []string {
	t := []string{openstack.TenantTag(d.TenantUID), openstack.RoleTag(RoleAPIServerLB)}
	if d.SeedID != "" {
		t = append(t, SeedTag(d.SeedID))
	}
	return t
}

// SeedTag is the tag naming the seed that created a resource.
func SeedTag(seedID string) string {
	t, err := openstack.Tag(TagKeySeed, seedID)
	if err != nil {
		// Seed IDs are UIDs, which always fit; anything else is a programming error.
		panic(err)
	}
	return t
}

// ErrInvalidSpec wraps a refusal that only a change of the TenantCluster's spec can fix,
// for example a subnet that does not exist in the customer's project.
var ErrInvalidSpec = errors.New("invalid endpoint spec")

// Ensure takes one step towards d and reports where the endpoint is. Errors keep the
// openstack kinds (quota, unauthorized, transient...) so the caller can tell a customer's
// problem from a passing one.
func Ensure(ctx context.Context, c Clients, d Desired) (State, error) {
	lb, err := findLB(ctx, c.LoadBalancer, d.TenantUID)
	if err != nil {
		return State{}, err
	}
	if lb == nil {
		return create(ctx, c, d)
	}
	st := State{LoadBalancerID: lb.ID, VIP: lb.VIPAddress, Address: lb.VIPAddress}

	// The floating IP goes first, before the load balancer is even ACTIVE: it is what the
	// certificates name, and Neutron does not wait for Octavia.
	if d.FloatingNetworkID != "" {
		st.Address = ""
		fip, step, err := ensureFloatingIP(ctx, c.Network, d, lb)
		if err != nil {
			return st, err
		}
		if fip != nil {
			st.FloatingIP, st.Address = fip.Address, fip.Address
		}
		if step != "" {
			st.Progress = step
			return st, nil
		}
	} else if err := deleteFloatingIPs(ctx, c.Network, d.TenantUID); err != nil {
		return st, err
	}

	switch lb.ProvisioningStatus {
	case openstack.StatusActive:
	case openstack.StatusError:
		// Octavia does not repair a load balancer in ERROR; a new one gets the same
		// tags, and the VIP a caller published may change with it.
		if err := c.LoadBalancer.DeleteLoadBalancer(ctx, lb.ID, true); openstack.IgnoreNotFound(err) != nil {
			return st, fmt.Errorf("delete load balancer %s in ERROR: %w", lb.ID, err)
		}
		return st, fmt.Errorf("load balancer %s went to ERROR and is being replaced: %w", lb.ID, openstack.ErrProvisioningFailed)
	default:
		st.Progress = fmt.Sprintf("load balancer %s is %s", lb.ID, lb.ProvisioningStatus)
		return st, nil
	}

	step, err := ensureChildren(ctx, c.LoadBalancer, d, lb)
	if err != nil {
		return st, err
	}
	if step != "" {
		st.Progress = step
		return st, nil
	}
	st.Ready = true
	return st, nil
}

// findLB finds the tenant's load balancer. More than one means a create whose answer was
// lost was retried: the extra ones go, oldest kept (by ID order, which is stable).
func findLB(ctx context.Context, lbs openstack.LoadBalancer, tenantUID string) (*openstack.LB, error) {
	list, err := lbs.ListLoadBalancers(ctx, openstack.TenantTag(tenantUID))
	if err != nil {
		return nil, fmt.Errorf("find the tenant's load balancer: %w", err)
	}
	list = slices.DeleteFunc(list, func(lb openstack.LB) bool {
		return !openstack.HasTag(lb.Tags, openstack.RoleTag(RoleAPIServerLB)) || lb.ProvisioningStatus == openstack.StatusDeleted
	})
	if len(list) == 0 {
		return nil, nil
	}
	slices.SortFunc(list, func(a, b openstack.LB) int {
		// An ACTIVE one wins over one still being created.
		aa, ba := a.ProvisioningStatus == openstack.StatusActive, b.ProvisioningStatus == openstack.StatusActive
		if aa != ba {
			if aa {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if list[0].ProvisioningStatus != openstack.StatusActive {
		// A list may lag behind the load balancer's own view while it settles.
		lb, err := lbs.GetLoadBalancer(ctx, list[0].ID)
		if openstack.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get load balancer %s: %w", list[0].ID, err)
		}
		list[0] = *lb
	}
	for _, extra := range list[1:] {
		if extra.ProvisioningStatus == openstack.StatusPendingDelete {
			continue
		}
		if err := lbs.DeleteLoadBalancer(ctx, extra.ID, true); openstack.IgnoreNotFound(err) != nil && !openstack.IsTransient(err) {
			return nil, fmt.Errorf("delete duplicate load balancer %s: %w", extra.ID, err)
		}
	}
	return &list[0], nil
}

// create validates what only the spec can fix, then creates the load balancer.
func create(ctx context.Context, c Clients, d Desired) (State, error) {
	if _, err := c.Network.GetSubnet(ctx, d.SubnetID); err != nil {
		if openstack.IsNotFound(err) {
			return State{}, fmt.Errorf("%w: spec.endpoint.octavia.subnetID: subnet %s does not exist in the customer's project", ErrInvalidSpec, d.SubnetID)
		}
		return State{}, fmt.Errorf("look up subnet %s: %w", d.SubnetID, err)
	}
	if d.FloatingNetworkID != "" {
		if _, err := c.Network.GetNetwork(ctx, d.FloatingNetworkID); err != nil {
			if openstack.IsNotFound(err) {
				return State{}, fmt.Errorf("%w: spec.endpoint.octavia.floatingNetworkID: network %s does not exist or is not visible to the customer's project", ErrInvalidSpec, d.FloatingNetworkID)
			}
			return State{}, fmt.Errorf("look up network %s: %w", d.FloatingNetworkID, err)
		}
	}
	// Everything in one call: Octavia provisions the load balancer and its children once,
	// where one child at a time waits for PENDING_UPDATE to end after each.
	spec := openstack.LBSpec{
		Name: d.Name, Description: "kube-apiserver of a kubeseed TenantCluster",
		VIPSubnetID: d.SubnetID, VIPAddress: d.VIPAddress, Tags: tags(d), Listeners: populated(d),
	}
	lb, err := c.LoadBalancer.CreateLoadBalancer(ctx, spec)
	if err != nil && d.VIPAddress != "" && (openstack.IsConflict(err) || openstack.IsInvalidInput(err)) {
		// The address is taken (or outside the subnet now): a new one, which the
		// certificates and kubeconfigs then follow.
		spec.VIPAddress = ""
		lb, err = c.LoadBalancer.CreateLoadBalancer(ctx, spec)
	}
	if err != nil {
		if openstack.IsInvalidInput(err) {
			return State{}, fmt.Errorf("%w: create load balancer on spec.endpoint.octavia.subnetID %s: %w", ErrInvalidSpec, d.SubnetID, err)
		}
		return State{}, fmt.Errorf("create load balancer: %w", err)
	}
	st := State{LoadBalancerID: lb.ID, VIP: lb.VIPAddress, Progress: fmt.Sprintf("creating load balancer %s", lb.ID)}
	if d.FloatingNetworkID == "" {
		st.Address = lb.VIPAddress
	}
	return st, nil
}

// ensureFloatingIP keeps exactly one tagged floating IP on the VIP port. step is non-empty
// when it changed something.
func ensureFloatingIP(ctx context.Context, n openstack.Network, d Desired, lb *openstack.LB) (*openstack.FloatingIP, string, error) {
	fips, err := n.ListFloatingIPs(ctx, openstack.TenantTag(d.TenantUID))
	if err != nil {
		return nil, "", fmt.Errorf("find the tenant's floating IP: %w", err)
	}
	var keep *openstack.FloatingIP
	for i := range fips {
		f := &fips[i]
		if keep == nil && f.FloatingNetworkID == d.FloatingNetworkID {
			keep = f
			continue
		}
		if err := n.DeleteFloatingIP(ctx, f.ID); openstack.IgnoreNotFound(err) != nil {
			return nil, "", fmt.Errorf("delete floating IP %s: %w", f.Address, err)
		}
	}
	if keep == nil {
		fip, err := n.CreateFloatingIP(ctx, openstack.FloatingIPSpec{
			FloatingNetworkID: d.FloatingNetworkID, PortID: lb.VIPPortID,
			Description: "kube-apiserver of a kubeseed TenantCluster", Tags: tags(d),
		})
		if err != nil {
			if openstack.IsInvalidInput(err) || openstack.IsNotFound(err) {
				return nil, "", fmt.Errorf("%w: floating IP from spec.endpoint.octavia.floatingNetworkID %s: %w", ErrInvalidSpec, d.FloatingNetworkID, err)
			}
			return nil, "", fmt.Errorf("create floating IP: %w", err)
		}
		return fip, "allocated floating IP " + fip.Address, nil
	}
	if keep.PortID != lb.VIPPortID {
		fip, err := n.AssociateFloatingIP(ctx, keep.ID, lb.VIPPortID)
		if err != nil {
			return nil, "", fmt.Errorf("attach floating IP %s to the VIP: %w", keep.Address, err)
		}
		return fip, "attached floating IP " + fip.Address, nil
	}
	return keep, "", nil
}

func deleteFloatingIPs(ctx context.Context, n openstack.Network, tenantUID string) error {
	fips, err := n.ListFloatingIPs(ctx, openstack.TenantTag(tenantUID))
	if err != nil {
		return fmt.Errorf("list the tenant's floating IPs: %w", err)
	}
	for _, f := range fips {
		if err := n.DeleteFloatingIP(ctx, f.ID); openstack.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete floating IP %s: %w", f.Address, err)
		}
	}
	return nil
}
