package openstack

import (
	"context"
	"fmt"
	"net/http"
	"slices"
)

// LoadBalancer

// APIVersion is Zed's Octavia API version.
func (f *Fake) APIVersion() string { return "2.26" }

// pending puts lb into a PENDING_* state for ProvisioningPolls polls. Holds f.mu.
func (f *Fake) pending(lb *fakeLB, status, next string) {
	lb.ProvisioningStatus, lb.next, lb.polls = status, next, f.ProvisioningPolls
	if lb.polls == 0 {
		f.settle(lb)
	}
}

// settle ends a pending state. Holds f.mu.
func (f *Fake) settle(lb *fakeLB) {
	if lb.next == "" {
		if lb.ownsVIPPort {
			delete(f.ports, lb.VIPPortID)
		}
		delete(f.lbs, lb.ID)
		return
	}
	lb.ProvisioningStatus = lb.next
}

// octaviaBusy is Octavia's 409 for a load balancer in a PENDING_* state.
func octaviaBusy(msg string) error {
	return &APIError{Kind: ErrTransient, StatusCode: http.StatusConflict, Message: msg}
}

// mutable finds a load balancer a child may be changed under: Octavia refuses while
// the load balancer is not ACTIVE. Holds f.mu.
func (f *Fake) mutable(id string) (*fakeLB, error) {
	lb, ok := f.lbs[id]
	if !ok {
		return nil, NewError(ErrInvalidInput, fmt.Sprintf("Load Balancer %s not found.", id))
	}
	if lb.ProvisioningStatus != StatusActive {
		return nil, octaviaBusy(fmt.Sprintf("Load Balancer %s is immutable and cannot be updated.", id))
	}
	return lb, nil
}

// CreateLoadBalancer creates a load balancer in PENDING_CREATE on an existing subnet,
// network or port.
func (f *Fake) CreateLoadBalancer(ctx context.Context, spec LBSpec) (*LB, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("create load balancer %s: %w", spec.Name, err) }
	if err := f.begin(ctx, "CreateLoadBalancer"); err != nil {
		return nil, wrap(err)
	}
	if err := validateTags(spec.populatedTags()); err != nil {
		return nil, wrap(err)
	}
	if err := f.checkPopulated(spec.Listeners); err != nil {
		return nil, wrap(err)
	}
	netID := spec.VIPNetworkID
	switch {
	case spec.VIPSubnetID != "":
		s := f.subnets[spec.VIPSubnetID]
		if s == nil {
			return nil, wrap(NewError(ErrInvalidInput, fmt.Sprintf("Validation failure: Subnet %s not found.", spec.VIPSubnetID)))
		}
		netID = s.NetworkID
	case spec.VIPPortID != "":
		p := f.ports[spec.VIPPortID]
		if p == nil {
			return nil, wrap(NewError(ErrInvalidInput, fmt.Sprintf("Validation failure: Port %s not found.", spec.VIPPortID)))
		}
		netID = p.NetworkID
	case spec.VIPNetworkID != "":
		if f.nets[spec.VIPNetworkID] == nil {
			return nil, wrap(NewError(ErrInvalidInput, fmt.Sprintf("Validation failure: Network %s not found.", spec.VIPNetworkID)))
		}
	default:
		return nil, wrap(NewError(ErrInvalidInput, "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id."))
	}
	if err := f.quota("load_balancer", len(f.lbs)); err != nil {
		return nil, wrap(err)
	}
	lb := &fakeLB{LB: LB{ID: f.id(), Name: spec.Name, OperatingStatus: "OFFLINE", VIPSubnetID: spec.VIPSubnetID, VIPNetworkID: netID,
		VIPPortID: spec.VIPPortID, VIPAddress: coalesce(spec.VIPAddress, fmt.Sprintf("10.0.%d.%d", f.seq/250, f.seq%250+2)),
		Provider: coalesce(spec.Provider, "amphora"), Tags: slices.Clone(spec.Tags)}}
	if lb.VIPPortID == "" {
		// Like Octavia's allowed_address_pairs network driver: the VIP is a port of the
		// project on the VIP network, which a floating IP can point at, removed with the
		// load balancer.
		vip := &Port{ID: f.id(), Name: "octavia-lb-" + lb.ID, NetworkID: netID, Status: "DOWN",
			FixedIPs: []FixedIP{{SubnetID: spec.VIPSubnetID, IPAddress: lb.VIPAddress}}}
		f.ports[vip.ID] = vip
		lb.VIPPortID, lb.ownsVIPPort = vip.ID, true
	}
	f.lbs[lb.ID] = lb
	f.populate(lb, spec.Listeners)
	f.pending(lb, StatusPendingCreate, StatusActive)
	out := f.lb(lb)
	return &out, nil
}

// lb is a copy of a load balancer with its children's IDs. Holds f.mu.
func (f *Fake) lb(lb *fakeLB) LB {
	out := lb.LB
	out.Tags = slices.Clone(lb.Tags)
	out.ListenerIDs = convert(sortedValues(f.lis, func(l *Listener) bool { return l.LoadBalancerID == lb.ID }), func(l Listener) string { return l.ID })
	out.PoolIDs = convert(sortedValues(f.pools, func(p *Pool) bool { return slices.Contains(p.LoadBalancerIDs, lb.ID) }), func(p Pool) string { return p.ID })
	return out
}

// GetLoadBalancer returns the load balancer; a pending state ends after
// ProvisioningPolls calls, and a deleted one is then gone.
func (f *Fake) GetLoadBalancer(ctx context.Context, id string) (*LB, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetLoadBalancer"); err != nil {
		return nil, fmt.Errorf("get load balancer %s: %w", id, err)
	}
	lb, ok := f.lbs[id]
	if !ok {
		return nil, fmt.Errorf("get load balancer %s: %w", id, notFound("Load Balancer", id))
	}
	out := f.lb(lb)
	if lb.polls > 0 {
		if lb.polls--; lb.polls == 0 {
			f.settle(lb)
		}
	}
	return &out, nil
}

// ListLoadBalancers lists load balancers carrying tag.
func (f *Fake) ListLoadBalancers(ctx context.Context, tag string) ([]LB, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListLoadBalancers"); err != nil {
		return nil, fmt.Errorf("list load balancers tagged %q: %w", tag, err)
	}
	list := sortedValues(f.lbs, func(lb *fakeLB) bool { return tagged(lb.Tags, tag) })
	return convert(list, func(lb fakeLB) LB { return f.lb(&lb) }), nil
}

// DeleteLoadBalancer moves the load balancer to PENDING_DELETE; without cascade Octavia
// refuses while it has listeners or pools. Children go at once.
func (f *Fake) DeleteLoadBalancer(ctx context.Context, id string, cascade bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("delete load balancer %s: %w", id, err) }
	if err := f.begin(ctx, "DeleteLoadBalancer"); err != nil {
		return wrap(err)
	}
	lb, ok := f.lbs[id]
	if !ok {
		return wrap(notFound("Load Balancer", id))
	}
	if lb.ProvisioningStatus != StatusActive && lb.ProvisioningStatus != StatusError {
		return wrap(octaviaBusy(fmt.Sprintf("Invalid state %s of loadbalancer resource %s", lb.ProvisioningStatus, id)))
	}
	view := f.lb(lb)
	if !cascade && (len(view.ListenerIDs) > 0 || len(view.PoolIDs) > 0) {
		return wrap(NewError(ErrInvalidInput, fmt.Sprintf("Cannot delete Load Balancer %s - it has children", id)))
	}
	for _, pid := range view.PoolIDs {
		f.deletePool(pid)
	}
	for _, lid := range view.ListenerIDs {
		delete(f.lis, lid)
	}
	f.pending(lb, StatusPendingDelete, "")
	return nil
}

// deletePool removes a pool with its members and monitor. Holds f.mu.
func (f *Fake) deletePool(id string) {
	for mid, m := range f.members {
		if m.PoolID == id {
			delete(f.members, mid)
		}
	}
	for mid, m := range f.monitors {
		if m.PoolID == id {
			delete(f.monitors, mid)
		}
	}
	for _, l := range f.lis {
		if l.DefaultPoolID == id {
			l.DefaultPoolID = ""
		}
	}
	delete(f.pools, id)
}

// CreateListener adds a listener; the load balancer must be ACTIVE and the port free.
func (f *Fake) CreateListener(ctx context.Context, spec ListenerSpec) (*Listener, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("create listener %s: %w", spec.Name, err) }
	if err := f.begin(ctx, "CreateListener"); err != nil {
		return nil, wrap(err)
	}
	if err := validateTags(spec.Tags); err != nil {
		return nil, wrap(err)
	}
	lb, err := f.mutable(spec.LoadBalancerID)
	if err != nil {
		return nil, wrap(err)
	}
	for _, l := range f.lis {
		if l.LoadBalancerID == lb.ID && l.Port == spec.Port {
			return nil, wrap(NewError(ErrConflict, fmt.Sprintf("Another Listener on this Load Balancer is already using protocol_port %d", spec.Port)))
		}
	}
	if err := f.quota("listener", len(f.lis)); err != nil {
		return nil, wrap(err)
	}
	l := &Listener{ID: f.id(), Name: spec.Name, Protocol: spec.Protocol, Port: spec.Port, LoadBalancerID: lb.ID, DefaultPoolID: spec.DefaultPoolID,
		ProvisioningStatus: StatusActive, OperatingStatus: "ONLINE", AllowedCIDRs: slices.Clone(spec.AllowedCIDRs), Tags: slices.Clone(spec.Tags)}
	f.lis[l.ID] = l
	f.pending(lb, StatusPendingUpdate, StatusActive)
	out := cloneListener(*l)
	return &out, nil
}

func cloneListener(l Listener) Listener {
	l.AllowedCIDRs, l.Tags = slices.Clone(l.AllowedCIDRs), slices.Clone(l.Tags)
	return l
}

// GetListener returns the listener.
func (f *Fake) GetListener(ctx context.Context, id string) (*Listener, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetListener"); err != nil {
		return nil, fmt.Errorf("get listener %s: %w", id, err)
	}
	l, ok := f.lis[id]
	if !ok {
		return nil, fmt.Errorf("get listener %s: %w", id, notFound("Listener", id))
	}
	out := cloneListener(*l)
	return &out, nil
}

// ListListeners lists listeners carrying tag.
func (f *Fake) ListListeners(ctx context.Context, tag string) ([]Listener, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListListeners"); err != nil {
		return nil, fmt.Errorf("list listeners tagged %q: %w", tag, err)
	}
	return convert(sortedValues(f.lis, func(l *Listener) bool { return tagged(l.Tags, tag) }), cloneListener), nil
}

// SetListenerAllowedCIDRs replaces the listener's allowed CIDRs.
func (f *Fake) SetListenerAllowedCIDRs(ctx context.Context, id string, cidrs []string) (*Listener, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("set allowed CIDRs of listener %s: %w", id, err) }
	if err := f.begin(ctx, "SetListenerAllowedCIDRs"); err != nil {
		return nil, wrap(err)
	}
	l, ok := f.lis[id]
	if !ok {
		return nil, wrap(notFound("Listener", id))
	}
	lb, err := f.mutable(l.LoadBalancerID)
	if err != nil {
		return nil, wrap(err)
	}
	l.AllowedCIDRs = slices.Clone(cidrs)
	f.pending(lb, StatusPendingUpdate, StatusActive)
	out := cloneListener(*l)
	return &out, nil
}

// DeleteListener deletes the listener; the load balancer must be ACTIVE.
func (f *Fake) DeleteListener(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeleteListener"); err != nil {
		return fmt.Errorf("delete listener %s: %w", id, err)
	}
	l, ok := f.lis[id]
	if !ok {
		return fmt.Errorf("delete listener %s: %w", id, notFound("Listener", id))
	}
	lb, err := f.mutable(l.LoadBalancerID)
	if err != nil {
		return fmt.Errorf("delete listener %s: %w", id, err)
	}
	delete(f.lis, id)
	f.pending(lb, StatusPendingUpdate, StatusActive)
	return nil
}
