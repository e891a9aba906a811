package openstack

import (
	"context"
	"fmt"
	"slices"
)

// CreatePool adds a pool to a listener (as its default pool) or a load balancer.
func (f *Fake) CreatePool(ctx context.Context, spec PoolSpec) (*Pool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("create pool %s: %w", spec.Name, err) }
	if err := f.begin(ctx, "CreatePool"); err != nil {
		return nil, wrap(err)
	}
	if err := validateTags(spec.Tags); err != nil {
		return nil, wrap(err)
	}
	lbID := spec.LoadBalancerID
	var li *Listener
	if spec.ListenerID != "" {
		if li = f.lis[spec.ListenerID]; li == nil {
			return nil, wrap(NewError(ErrInvalidInput, fmt.Sprintf("Listener %s not found.", spec.ListenerID)))
		}
		if li.DefaultPoolID != "" {
			return nil, wrap(NewError(ErrConflict, "This listener already has a default pool"))
		}
		lbID = li.LoadBalancerID
	}
	lb, err := f.mutable(lbID)
	if err != nil {
		return nil, wrap(err)
	}
	if err := f.quota("pool", len(f.pools)); err != nil {
		return nil, wrap(err)
	}
	p := &Pool{ID: f.id(), Name: spec.Name, Protocol: spec.Protocol, Method: spec.Method, ProvisioningStatus: StatusActive,
		OperatingStatus: "ONLINE", LoadBalancerIDs: []string{lb.ID}, Tags: slices.Clone(spec.Tags)}
	if li != nil {
		li.DefaultPoolID = p.ID
		p.ListenerIDs = []string{li.ID}
	}
	f.pools[p.ID] = p
	f.pending(lb, StatusPendingUpdate, StatusActive)
	out := clonePool(*p)
	return &out, nil
}

func clonePool(p Pool) Pool {
	p.LoadBalancerIDs, p.ListenerIDs, p.Tags = slices.Clone(p.LoadBalancerIDs), slices.Clone(p.ListenerIDs), slices.Clone(p.Tags)
	return p
}

// GetPool returns the pool.
func (f *Fake) GetPool(ctx context.Context, id string) (*Pool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetPool"); err != nil {
		return nil, fmt.Errorf("get pool %s: %w", id, err)
	}
	p, ok := f.pools[id]
	if !ok {
		return nil, fmt.Errorf("get pool %s: %w", id, notFound("Pool", id))
	}
	out := clonePool(*p)
	return &out, nil
}

// ListPools lists pools carrying tag.
func (f *Fake) ListPools(ctx context.Context, tag string) ([]Pool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListPools"); err != nil {
		return nil, fmt.Errorf("list pools tagged %q: %w", tag, err)
	}
	return convert(sortedValues(f.pools, func(p *Pool) bool { return tagged(p.Tags, tag) }), clonePool), nil
}

// DeletePool deletes the pool with its members and monitor.
func (f *Fake) DeletePool(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeletePool"); err != nil {
		return fmt.Errorf("delete pool %s: %w", id, err)
	}
	p, ok := f.pools[id]
	if !ok {
		return fmt.Errorf("delete pool %s: %w", id, notFound("Pool", id))
	}
	lb, err := f.mutable(first(p.LoadBalancerIDs))
	if err != nil {
		return fmt.Errorf("delete pool %s: %w", id, err)
	}
	f.deletePool(id)
	f.pending(lb, StatusPendingUpdate, StatusActive)
	return nil
}

// CreateMember adds a member; address and port must be unique in the pool.
func (f *Fake) CreateMember(ctx context.Context, poolID string, spec MemberSpec) (*Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error {
		return fmt.Errorf("create member %s:%d of pool %s: %w", spec.Address, spec.Port, poolID, err)
	}
	if err := f.begin(ctx, "CreateMember"); err != nil {
		return nil, wrap(err)
	}
	if err := validateTags(spec.Tags); err != nil {
		return nil, wrap(err)
	}
	p, ok := f.pools[poolID]
	if !ok {
		return nil, wrap(notFound("Pool", poolID))
	}
	lb, err := f.mutable(first(p.LoadBalancerIDs))
	if err != nil {
		return nil, wrap(err)
	}
	for _, m := range f.members {
		if m.PoolID == poolID && m.Address == spec.Address && m.Port == spec.Port {
			return nil, wrap(NewError(ErrConflict, fmt.Sprintf("Another member on this pool is already using ip %s on protocol_port %d", spec.Address, spec.Port)))
		}
	}
	if err := f.quota("member", len(f.members)); err != nil {
		return nil, wrap(err)
	}
	m := &Member{ID: f.id(), PoolID: poolID, Name: spec.Name, Address: spec.Address, Port: spec.Port, SubnetID: spec.SubnetID,
		ProvisioningStatus: StatusActive, OperatingStatus: "NO_MONITOR", Tags: slices.Clone(spec.Tags)}
	f.members[m.ID] = m
	f.pending(lb, StatusPendingUpdate, StatusActive)
	out := *m
	out.Tags = slices.Clone(m.Tags)
	return &out, nil
}

// GetMember returns the member.
func (f *Fake) GetMember(ctx context.Context, poolID, id string) (*Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetMember"); err != nil {
		return nil, fmt.Errorf("get member %s of pool %s: %w", id, poolID, err)
	}
	m, ok := f.members[id]
	if !ok || m.PoolID != poolID {
		return nil, fmt.Errorf("get member %s of pool %s: %w", id, poolID, notFound("Member", id))
	}
	out := *m
	out.Tags = slices.Clone(m.Tags)
	return &out, nil
}

// ListMembers lists the pool's members.
func (f *Fake) ListMembers(ctx context.Context, poolID string) ([]Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListMembers"); err != nil {
		return nil, fmt.Errorf("list members of pool %s: %w", poolID, err)
	}
	if f.pools[poolID] == nil {
		return nil, fmt.Errorf("list members of pool %s: %w", poolID, notFound("Pool", poolID))
	}
	return sortedValues(f.members, func(m *Member) bool { return m.PoolID == poolID }), nil
}

// DeleteMember removes a member.
func (f *Fake) DeleteMember(ctx context.Context, poolID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("delete member %s of pool %s: %w", id, poolID, err) }
	if err := f.begin(ctx, "DeleteMember"); err != nil {
		return wrap(err)
	}
	m, ok := f.members[id]
	if !ok || m.PoolID != poolID {
		return wrap(notFound("Member", id))
	}
	lb, err := f.mutable(first(f.pools[poolID].LoadBalancerIDs))
	if err != nil {
		return wrap(err)
	}
	delete(f.members, id)
	f.pending(lb, StatusPendingUpdate, StatusActive)
	return nil
}

// CreateMonitor adds a health monitor; a pool has at most one.
func (f *Fake) CreateMonitor(ctx context.Context, spec MonitorSpec) (*Monitor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("create health monitor %s: %w", spec.Name, err) }
	if err := f.begin(ctx, "CreateMonitor"); err != nil {
		return nil, wrap(err)
	}
	if err := validateTags(spec.Tags); err != nil {
		return nil, wrap(err)
	}
	p, ok := f.pools[spec.PoolID]
	if !ok {
		return nil, wrap(NewError(ErrInvalidInput, fmt.Sprintf("Pool %s not found.", spec.PoolID)))
	}
	if p.MonitorID != "" {
		return nil, wrap(NewError(ErrConflict, "This pool already has a health monitor"))
	}
	lb, err := f.mutable(first(p.LoadBalancerIDs))
	if err != nil {
		return nil, wrap(err)
	}
	if err := f.quota("health_monitor", len(f.monitors)); err != nil {
		return nil, wrap(err)
	}
	m := &Monitor{ID: f.id(), Name: spec.Name, PoolID: spec.PoolID, Type: spec.Type, Delay: spec.Delay, Timeout: spec.Timeout,
		MaxRetries: spec.MaxRetries, MaxRetriesDown: spec.MaxRetriesDown, ProvisioningStatus: StatusActive, OperatingStatus: "ONLINE",
		Tags: slices.Clone(spec.Tags)}
	f.monitors[m.ID] = m
	p.MonitorID = m.ID
	f.pending(lb, StatusPendingUpdate, StatusActive)
	out := *m
	out.Tags = slices.Clone(m.Tags)
	return &out, nil
}

// GetMonitor returns the health monitor.
func (f *Fake) GetMonitor(ctx context.Context, id string) (*Monitor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetMonitor"); err != nil {
		return nil, fmt.Errorf("get health monitor %s: %w", id, err)
	}
	m, ok := f.monitors[id]
	if !ok {
		return nil, fmt.Errorf("get health monitor %s: %w", id, notFound("Health Monitor", id))
	}
	out := *m
	out.Tags = slices.Clone(m.Tags)
	return &out, nil
}

// ListMonitors lists health monitors carrying tag.
func (f *Fake) ListMonitors(ctx context.Context, tag string) ([]Monitor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListMonitors"); err != nil {
		return nil, fmt.Errorf("list health monitors tagged %q: %w", tag, err)
	}
	return sortedValues(f.monitors, func(m *Monitor) bool { return tagged(m.Tags, tag) }), nil
}

// DeleteMonitor deletes the health monitor.
func (f *Fake) DeleteMonitor(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeleteMonitor"); err != nil {
		return fmt.Errorf("delete health monitor %s: %w", id, err)
	}
	m, ok := f.monitors[id]
	if !ok {
		return fmt.Errorf("delete health monitor %s: %w", id, notFound("Health Monitor", id))
	}
	p := f.pools[m.PoolID]
	if p != nil {
		lb, err := f.mutable(first(p.LoadBalancerIDs))
		if err != nil {
			return fmt.Errorf("delete health monitor %s: %w", id, err)
		}
		p.MonitorID = ""
		f.pending(lb, StatusPendingUpdate, StatusActive)
	}
	delete(f.monitors, id)
	return nil
}
