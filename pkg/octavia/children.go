package octavia

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// ensureChildren makes at most one change under an ACTIVE load balancer and says which.
func ensureChildren(ctx context.Context, lbs openstack.LoadBalancer, d Desired, lb *openstack.LB) (string, error) {
	listeners, err := lbs.ListListeners(ctx, openstack.TenantTag(d.TenantUID))
	if err != nil {
		return "", fmt.Errorf("list listeners: %w", err)
	}
	listeners = slices.DeleteFunc(listeners, func(l openstack.Listener) bool { return l.LoadBalancerID != lb.ID })
	pools, err := lbs.ListPools(ctx, openstack.TenantTag(d.TenantUID))
	if err != nil {
		return "", fmt.Errorf("list pools: %w", err)
	}
	wanted := map[int]bool{}
	for _, p := range d.Ports {
		wanted[p.Port] = true
	}
	// Listeners for ports no longer published go first (their pools with them).
	for _, l := range listeners {
		if wanted[l.Port] {
			continue
		}
		if l.DefaultPoolID != "" {
			if err := lbs.DeletePool(ctx, l.DefaultPoolID); openstack.IgnoreNotFound(err) != nil {
				return "", fmt.Errorf("delete pool of listener %s: %w", l.Name, err)
			}
			return fmt.Sprintf("deleting the pool of listener %s on port %d", l.Name, l.Port), nil
		}
		if err := lbs.DeleteListener(ctx, l.ID); openstack.IgnoreNotFound(err) != nil {
			return "", fmt.Errorf("delete listener %s: %w", l.Name, err)
		}
		return fmt.Sprintf("deleting listener %s on port %d", l.Name, l.Port), nil
	}
	for _, p := range d.Ports {
		step, err := ensurePort(ctx, lbs, d, lb, p, listeners, pools)
		if err != nil || step != "" {
			return step, err
		}
	}
	return "", nil
}

// ensurePort converges the listener, pool, monitor and members of one port.
func ensurePort(ctx context.Context, lbs openstack.LoadBalancer, d Desired, lb *openstack.LB, p Port,
	listeners []openstack.Listener, pools []openstack.Pool) (string, error) {
	name := d.Name + "-" + p.Name
	i := slices.IndexFunc(listeners, func(l openstack.Listener) bool { return l.Port == p.Port })
	if i < 0 {
		spec := listenerSpec(d, p)
		spec.LoadBalancerID = lb.ID
		l, err := lbs.CreateListener(ctx, spec)
		if err != nil {
			return "", fmt.Errorf("create listener %s on port %d: %w", name, p.Port, err)
		}
		return fmt.Sprintf("creating listener %s on port %d", l.Name, p.Port), nil
	}
	l := listeners[i]
	if l.ProvisioningStatus == openstack.StatusError {
		// Octavia does not repair a child in ERROR: it goes (its pool first) and is made again.
		if l.DefaultPoolID != "" {
			if err := lbs.DeletePool(ctx, l.DefaultPoolID); openstack.IgnoreNotFound(err) != nil {
				return "", fmt.Errorf("delete the pool of listener %s in ERROR: %w", l.Name, err)
			}
			return fmt.Sprintf("replacing listener %s in ERROR: deleting its pool", l.Name), nil
		}
		if err := lbs.DeleteListener(ctx, l.ID); openstack.IgnoreNotFound(err) != nil {
			return "", fmt.Errorf("delete listener %s in ERROR: %w", l.Name, err)
		}
		return fmt.Sprintf("replacing listener %s in ERROR", l.Name), nil
	}
	if !sameSet(l.AllowedCIDRs, d.AllowedCIDRs) {
		if _, err := lbs.SetListenerAllowedCIDRs(ctx, l.ID, canonicalCIDRs(d.AllowedCIDRs)); err != nil {
			return "", fmt.Errorf("set allowed CIDRs of listener %s: %w", l.Name, err)
		}
		return fmt.Sprintf("updating the allowed CIDRs of listener %s", l.Name), nil
	}
	j := slices.IndexFunc(pools, func(pl openstack.Pool) bool { return pl.ID == l.DefaultPoolID })
	if j < 0 {
		spec := poolSpec(d, p)
		spec.ListenerID = l.ID
		pl, err := lbs.CreatePool(ctx, spec)
		if err != nil {
			return "", fmt.Errorf("create pool %s: %w", name, err)
		}
		return fmt.Sprintf("creating pool %s", pl.Name), nil
	}
	pool := pools[j]
	if pool.ProvisioningStatus == openstack.StatusError {
		if err := lbs.DeletePool(ctx, pool.ID); openstack.IgnoreNotFound(err) != nil {
			return "", fmt.Errorf("delete pool %s in ERROR: %w", pool.Name, err)
		}
		return fmt.Sprintf("replacing pool %s in ERROR", pool.Name), nil
	}
	if pool.MonitorID != "" {
		mon, err := lbs.GetMonitor(ctx, pool.MonitorID)
		switch {
		case openstack.IsNotFound(err):
			pool.MonitorID = ""
		case err != nil:
			return "", fmt.Errorf("get the health monitor of pool %s: %w", pool.Name, err)
		case mon.ProvisioningStatus == openstack.StatusError:
			if err := lbs.DeleteMonitor(ctx, mon.ID); openstack.IgnoreNotFound(err) != nil {
				return "", fmt.Errorf("delete the health monitor of pool %s in ERROR: %w", pool.Name, err)
			}
			return fmt.Sprintf("replacing the health monitor of pool %s in ERROR", pool.Name), nil
		}
	}
	if pool.MonitorID == "" {
		spec := monitorSpec(d, p)
		spec.PoolID = pool.ID
		if _, err := lbs.CreateMonitor(ctx, spec); err != nil {
			return "", fmt.Errorf("create health monitor of pool %s: %w", pool.Name, err)
		}
		return fmt.Sprintf("creating the health monitor of pool %s", pool.Name), nil
	}
	return ensureMembers(ctx, lbs, d, pool, p)
}

// ensureMembers adds one missing backend or removes one that is no longer wanted.
func ensureMembers(ctx context.Context, lbs openstack.LoadBalancer, d Desired, pool openstack.Pool, p Port) (string, error) {
	members, err := lbs.ListMembers(ctx, pool.ID)
	if err != nil {
		return "", fmt.Errorf("list members of pool %s: %w", pool.Name, err)
	}
	have := map[string]openstack.Member{}
	for _, m := range members {
		if m.ProvisioningStatus == openstack.StatusError {
			if err := lbs.DeleteMember(ctx, pool.ID, m.ID); openstack.IgnoreNotFound(err) != nil {
				return "", fmt.Errorf("delete member %s:%d of pool %s in ERROR: %w", m.Address, m.Port, pool.Name, err)
			}
			return fmt.Sprintf("replacing member %s:%d of pool %s in ERROR", m.Address, m.Port, pool.Name), nil
		}
		have[net.JoinHostPort(m.Address, strconv.Itoa(m.Port))] = m
	}
	want := map[string]bool{}
	for _, b := range d.Backends {
		key := net.JoinHostPort(b, strconv.Itoa(int(p.NodePort)))
		want[key] = true
		if _, ok := have[key]; ok {
			continue
		}
		if _, err := lbs.CreateMember(ctx, pool.ID, memberSpec(d, p, b)); err != nil {
			return "", fmt.Errorf("add %s to pool %s: %w", key, pool.Name, err)
		}
		return fmt.Sprintf("adding seed node %s to pool %s", key, pool.Name), nil
	}
	for key, m := range have {
		if want[key] {
			continue
		}
		if err := lbs.DeleteMember(ctx, pool.ID, m.ID); openstack.IgnoreNotFound(err) != nil {
			return "", fmt.Errorf("remove %s from pool %s: %w", key, pool.Name, err)
		}
		return fmt.Sprintf("removing %s from pool %s", key, pool.Name), nil
	}
	return "", nil
}

// sameSet compares CIDR lists as Octavia stores them: masked, in canonical form.
func sameSet(a, b []string) bool {
	a, b = canonicalCIDRs(a), canonicalCIDRs(b)
	return slices.Equal(a, b)
}

// canonicalCIDRs masks and sorts CIDRs, dropping duplicates; what does not parse is kept
// as given (Octavia will refuse it, with its own message).
func canonicalCIDRs(in []string) []string {
	out := make([]string, 0, len(in))
	for _, c := range in {
		if p, err := netip.ParsePrefix(c); err == nil {
			c = p.Masked().String()
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// listenerSpec, poolSpec, monitorSpec and memberSpec are what one published port is made
// of, whether made one at a time or all with the load balancer (populated).
func listenerSpec(d Desired, p Port) openstack.ListenerSpec {
	timeout := listenerTimeoutMS
	return openstack.ListenerSpec{
		Name: d.Name + "-" + p.Name, Protocol: "TCP", Port: p.Port,
		AllowedCIDRs: canonicalCIDRs(d.AllowedCIDRs), TimeoutClientData: &timeout, TimeoutMemberData: &timeout, Tags: tags(d),
	}
}

func poolSpec(d Desired, p Port) openstack.PoolSpec {
	return openstack.PoolSpec{Name: d.Name + "-" + p.Name, Protocol: "TCP", Method: "ROUND_ROBIN", Tags: tags(d)}
}

func monitorSpec(d Desired, p Port) openstack.MonitorSpec {
	return openstack.MonitorSpec{
		Name: d.Name + "-" + p.Name, Type: "TCP",
		Delay: monitorDelay, Timeout: monitorTimeout, MaxRetries: monitorMaxRetries, MaxRetriesDown: monitorMaxRetries,
		Tags: tags(d),
	}
}

func memberSpec(d Desired, p Port, backend string) openstack.MemberSpec {
	return openstack.MemberSpec{
		Name: net.JoinHostPort(backend, strconv.Itoa(int(p.NodePort))), Address: backend, Port: int(p.NodePort), Tags: tags(d),
	}
}

// populated is every port's listener, pool, monitor and members, for a load balancer
// created with them in one call.
func populated(d Desired) []openstack.LBListenerSpec {
	out := make([]openstack.LBListenerSpec, 0, len(d.Ports))
	for _, p := range d.Ports {
		mon := monitorSpec(d, p)
		pool := &openstack.LBPoolSpec{PoolSpec: poolSpec(d, p), Monitor: &mon}
		for _, b := range d.Backends {
			pool.Members = append(pool.Members, memberSpec(d, p, b))
		}
		out = append(out, openstack.LBListenerSpec{ListenerSpec: listenerSpec(d, p), Pool: pool})
	}
	return out
}
