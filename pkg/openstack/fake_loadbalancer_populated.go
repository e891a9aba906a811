package openstack

import (
	"fmt"
	"slices"
)

// checkPopulated refuses what Octavia refuses in a fully populated create: two listeners on
// one port, a pool without protocol or method, a member twice. Holds f.mu.
func (f *Fake) checkPopulated(specs []LBListenerSpec) error {
	ports := map[int]bool{}
	children := map[string]int{}
	for _, l := range specs {
		if ports[l.Port] {
			return NewError(ErrInvalidInput, fmt.Sprintf("Duplicate protocol_port %d in the listeners", l.Port))
		}
		ports[l.Port] = true
		children["listener"]++
		p := l.Pool
		if p == nil {
			continue
		}
		if p.Protocol == "" || p.Method == "" {
			return NewError(ErrInvalidInput, "Validation failure: a pool needs protocol and lb_algorithm")
		}
		children["pool"]++
		seen := map[string]bool{}
		for _, m := range p.Members {
			key := fmt.Sprintf("%s:%d", m.Address, m.Port)
			if seen[key] {
				return NewError(ErrInvalidInput, "Duplicate member "+key)
			}
			seen[key] = true
			children["member"]++
		}
		if p.Monitor != nil {
			children["health_monitor"]++
		}
	}
	used := map[string]int{"listener": len(f.lis), "pool": len(f.pools), "member": len(f.members), "health_monitor": len(f.monitors)}
	for _, kind := range []string{"listener", "pool", "member", "health_monitor"} {
		if children[kind] == 0 {
			continue
		}
		if err := f.quota(kind, used[kind]+children[kind]-1); err != nil {
			return err
		}
	}
	return nil
}

// populate makes a fully populated create's children under lb, all ACTIVE with it. Holds
// f.mu.
func (f *Fake) populate(lb *fakeLB, specs []LBListenerSpec) {
	for _, spec := range specs {
		l := &Listener{ID: f.id(), Name: spec.Name, Protocol: spec.Protocol, Port: spec.Port, LoadBalancerID: lb.ID,
			ProvisioningStatus: StatusActive, OperatingStatus: "ONLINE", AllowedCIDRs: slices.Clone(spec.AllowedCIDRs), Tags: slices.Clone(spec.Tags)}
		f.lis[l.ID] = l
		ps := spec.Pool
		if ps == nil {
			continue
		}
		p := &Pool{ID: f.id(), Name: ps.Name, Protocol: ps.Protocol, Method: ps.Method, ProvisioningStatus: StatusActive,
			OperatingStatus: "ONLINE", LoadBalancerIDs: []string{lb.ID}, ListenerIDs: []string{l.ID}, Tags: slices.Clone(ps.Tags)}
		f.pools[p.ID] = p
		l.DefaultPoolID = p.ID
		for _, ms := range ps.Members {
			m := &Member{ID: f.id(), PoolID: p.ID, Name: ms.Name, Address: ms.Address, Port: ms.Port, SubnetID: ms.SubnetID,
				ProvisioningStatus: StatusActive, OperatingStatus: "NO_MONITOR", Tags: slices.Clone(ms.Tags)}
			f.members[m.ID] = m
		}
		if mon := ps.Monitor; mon != nil {
			m := &Monitor{ID: f.id(), Name: mon.Name, PoolID: p.ID, Type: mon.Type, Delay: mon.Delay, Timeout: mon.Timeout,
				MaxRetries: mon.MaxRetries, MaxRetriesDown: mon.MaxRetriesDown, ProvisioningStatus: StatusActive, OperatingStatus: "ONLINE",
				Tags: slices.Clone(mon.Tags)}
			f.monitors[m.ID] = m
			p.MonitorID = m.ID
		}
	}
}
