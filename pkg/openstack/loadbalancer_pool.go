package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
)

// PoolSpec describes a pool, attached to a listener (as its default pool) or to a
// load balancer. Method is ROUND_ROBIN, LEAST_CONNECTIONS or SOURCE_IP.
type PoolSpec struct {
	Name, LoadBalancerID, ListenerID string
	Protocol, Method                 string
	Tags                             []string
}

// Pool is an Octavia pool.
type Pool struct {
	ID, Name, Protocol, Method          string
	ProvisioningStatus, OperatingStatus string
	MonitorID                           string
	LoadBalancerIDs, ListenerIDs        []string
	Tags                                []string
}

// MemberSpec describes a pool member: a backend address and port.
type MemberSpec struct {
	Name, Address string
	Port          int
	// SubnetID the address is on, when the VIP's subnet cannot reach it directly.
	SubnetID string
	Weight   *int
	Tags     []string
}

// Member is an Octavia pool member.
type Member struct {
	ID, PoolID, Name, Address           string
	Port                                int
	SubnetID                            string
	ProvisioningStatus, OperatingStatus string
	Tags                                []string
}

// MonitorSpec describes a health monitor of a pool. Type is TCP, HTTP, HTTPS, PING...;
// delays and timeouts are in seconds.
type MonitorSpec struct {
	Name, PoolID, Type                         string
	Delay, Timeout, MaxRetries, MaxRetriesDown int
	URLPath, HTTPMethod, ExpectedCodes         string
	Tags                                       []string
}

// Monitor is an Octavia health monitor.
type Monitor struct {
	ID, Name, PoolID, Type                     string
	Delay, Timeout, MaxRetries, MaxRetriesDown int
	ProvisioningStatus, OperatingStatus        string
	Tags                                       []string
}

func (l *loadBalancer) CreatePool(ctx context.Context, spec PoolSpec) (*Pool, error) {
	if err := l.checkTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create pool %s: %w", spec.Name, err)
	}
	p, err := pools.Create(ctx, l.sc, pools.CreateOpts{
		Name: spec.Name, LoadbalancerID: spec.LoadBalancerID, ListenerID: spec.ListenerID,
		Protocol: pools.Protocol(spec.Protocol), LBMethod: pools.LBMethod(spec.Method), Tags: spec.Tags,
	}).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "create pool %s", spec.Name)
	}
	out := toPool(*p)
	return &out, nil
}

func (l *loadBalancer) GetPool(ctx context.Context, id string) (*Pool, error) {
	p, err := pools.Get(ctx, l.sc, id).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "get pool %s", id)
	}
	out := toPool(*p)
	return &out, nil
}

func (l *loadBalancer) ListPools(ctx context.Context, tag string) ([]Pool, error) {
	opts := pools.ListOpts{}
	if tag != "" {
		opts.Tags = []string{tag}
	}
	pages, err := pools.List(l.sc, opts).AllPages(ctx)
	if err != nil {
		return nil, l.s.wrap(err, "list pools tagged %q", tag)
	}
	list, err := pools.ExtractPools(pages)
	if err != nil {
		return nil, l.s.wrap(err, "list pools tagged %q", tag)
	}
	return convert(list, toPool), nil
}

func (l *loadBalancer) DeletePool(ctx context.Context, id string) error {
	return l.s.wrap(pools.Delete(ctx, l.sc, id).ExtractErr(), "delete pool %s", id)
}

func toPool(p pools.Pool) Pool {
	out := Pool{ID: p.ID, Name: p.Name, Protocol: p.Protocol, Method: p.LBMethod, ProvisioningStatus: p.ProvisioningStatus,
		OperatingStatus: p.OperatingStatus, MonitorID: p.MonitorID, Tags: p.Tags}
	for _, lb := range p.Loadbalancers {
		out.LoadBalancerIDs = append(out.LoadBalancerIDs, lb.ID)
	}
	for _, li := range p.Listeners {
		out.ListenerIDs = append(out.ListenerIDs, li.ID)
	}
	return out
}

func (l *loadBalancer) CreateMember(ctx context.Context, poolID string, spec MemberSpec) (*Member, error) {
	if err := l.checkTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create member %s of pool %s: %w", spec.Address, poolID, err)
	}
	m, err := pools.CreateMember(ctx, l.sc, poolID, pools.CreateMemberOpts{
		Name: spec.Name, Address: spec.Address, ProtocolPort: spec.Port, SubnetID: spec.SubnetID, Weight: spec.Weight, Tags: spec.Tags,
	}).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "create member %s:%d of pool %s", spec.Address, spec.Port, poolID)
	}
	out := toMember(*m)
	out.PoolID = coalesce(out.PoolID, poolID)
	return &out, nil
}

func (l *loadBalancer) GetMember(ctx context.Context, poolID, id string) (*Member, error) {
	m, err := pools.GetMember(ctx, l.sc, poolID, id).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "get member %s of pool %s", id, poolID)
	}
	out := toMember(*m)
	out.PoolID = coalesce(out.PoolID, poolID)
	return &out, nil
}

func (l *loadBalancer) ListMembers(ctx context.Context, poolID string) ([]Member, error) {
	pages, err := pools.ListMembers(l.sc, poolID, pools.ListMembersOpts{}).AllPages(ctx)
	if err != nil {
		return nil, l.s.wrap(err, "list members of pool %s", poolID)
	}
	list, err := pools.ExtractMembers(pages)
	if err != nil {
		return nil, l.s.wrap(err, "list members of pool %s", poolID)
	}
	out := convert(list, toMember)
	for i := range out {
		out[i].PoolID = coalesce(out[i].PoolID, poolID)
	}
	return out, nil
}

func (l *loadBalancer) DeleteMember(ctx context.Context, poolID, id string) error {
	return l.s.wrap(pools.DeleteMember(ctx, l.sc, poolID, id).ExtractErr(), "delete member %s of pool %s", id, poolID)
}

func toMember(m pools.Member) Member {
	return Member{ID: m.ID, PoolID: m.PoolID, Name: m.Name, Address: m.Address, Port: m.ProtocolPort, SubnetID: m.SubnetID,
		ProvisioningStatus: m.ProvisioningStatus, OperatingStatus: m.OperatingStatus, Tags: m.Tags}
}

func (l *loadBalancer) CreateMonitor(ctx context.Context, spec MonitorSpec) (*Monitor, error) {
	if err := l.checkTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create health monitor %s: %w", spec.Name, err)
	}
	m, err := monitors.Create(ctx, l.sc, monitors.CreateOpts{
		Name: spec.Name, PoolID: spec.PoolID, Type: spec.Type, Delay: spec.Delay, Timeout: spec.Timeout,
		MaxRetries: spec.MaxRetries, MaxRetriesDown: spec.MaxRetriesDown,
		URLPath: spec.URLPath, HTTPMethod: spec.HTTPMethod, ExpectedCodes: spec.ExpectedCodes, Tags: spec.Tags,
	}).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "create health monitor %s", spec.Name)
	}
	out := toMonitor(*m)
	return &out, nil
}

func (l *loadBalancer) GetMonitor(ctx context.Context, id string) (*Monitor, error) {
	m, err := monitors.Get(ctx, l.sc, id).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "get health monitor %s", id)
	}
	out := toMonitor(*m)
	return &out, nil
}

func (l *loadBalancer) ListMonitors(ctx context.Context, tag string) ([]Monitor, error) {
	opts := monitors.ListOpts{}
	if tag != "" {
		opts.Tags = []string{tag}
	}
	pages, err := monitors.List(l.sc, opts).AllPages(ctx)
	if err != nil {
		return nil, l.s.wrap(err, "list health monitors tagged %q", tag)
	}
	list, err := monitors.ExtractMonitors(pages)
	if err != nil {
		return nil, l.s.wrap(err, "list health monitors tagged %q", tag)
	}
	return convert(list, toMonitor), nil
}

func (l *loadBalancer) DeleteMonitor(ctx context.Context, id string) error {
	return l.s.wrap(monitors.Delete(ctx, l.sc, id).ExtractErr(), "delete health monitor %s", id)
}

func toMonitor(m monitors.Monitor) Monitor {
	out := Monitor{ID: m.ID, Name: m.Name, Type: m.Type, Delay: m.Delay, Timeout: m.Timeout, MaxRetries: m.MaxRetries,
		MaxRetriesDown: m.MaxRetriesDown, ProvisioningStatus: m.ProvisioningStatus, OperatingStatus: m.OperatingStatus, Tags: m.Tags}
	if len(m.Pools) > 0 {
		out.PoolID = m.Pools[0].ID
	}
	return out
}

// populatedListeners are the listeners of a fully populated load balancer create.
func populatedListeners(specs []LBListenerSpec) []listeners.CreateOpts {
	var out []listeners.CreateOpts
	for _, spec := range specs {
		lo := listeners.CreateOpts{
			Name: spec.Name, Protocol: listeners.Protocol(spec.Protocol), ProtocolPort: spec.Port,
			AllowedCIDRs: spec.AllowedCIDRs, TimeoutClientData: spec.TimeoutClientData, TimeoutMemberData: spec.TimeoutMemberData,
			Tags: spec.Tags,
		}
		if p := spec.Pool; p != nil {
			po := &pools.CreateOpts{Name: p.Name, Protocol: pools.Protocol(p.Protocol), LBMethod: pools.LBMethod(p.Method), Tags: p.Tags}
			for _, m := range p.Members {
				po.Members = append(po.Members, pools.CreateMemberOpts{
					Name: m.Name, Address: m.Address, ProtocolPort: m.Port, SubnetID: m.SubnetID, Weight: m.Weight, Tags: m.Tags,
				})
			}
			if mon := p.Monitor; mon != nil {
				po.Monitor = monitors.CreateOpts{
					Name: mon.Name, Type: mon.Type, Delay: mon.Delay, Timeout: mon.Timeout,
					MaxRetries: mon.MaxRetries, MaxRetriesDown: mon.MaxRetriesDown,
					URLPath: mon.URLPath, HTTPMethod: mon.HTTPMethod, ExpectedCodes: mon.ExpectedCodes, Tags: mon.Tags,
				}
			}
			lo.DefaultPool = po
		}
		out = append(out, lo)
	}
	return out
}
