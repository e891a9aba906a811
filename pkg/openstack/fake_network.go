package openstack

import (
	"context"
	"fmt"
	"slices"
)

// Network

// CreateNetwork creates a network.
func (f *Fake) CreateNetwork(ctx context.Context, spec NetSpec) (*Net, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CreateNetwork"); err != nil {
		return nil, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	if err := validateTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	if err := f.quota("network", len(f.nets)); err != nil {
		return nil, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	n := &Net{ID: f.id(), Name: spec.Name, Status: "ACTIVE", Subnets: []string{}, Tags: slices.Clone(spec.Tags)}
	f.nets[n.ID] = n
	out := cloneNet(*n)
	return &out, nil
}

func cloneNet(n Net) Net { n.Subnets, n.Tags = slices.Clone(n.Subnets), slices.Clone(n.Tags); return n }

// GetNetwork returns the network.
func (f *Fake) GetNetwork(ctx context.Context, id string) (*Net, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetNetwork"); err != nil {
		return nil, fmt.Errorf("get network %s: %w", id, err)
	}
	n, ok := f.nets[id]
	if !ok {
		return nil, fmt.Errorf("get network %s: %w", id, notFound("Network", id))
	}
	out := cloneNet(*n)
	return &out, nil
}

// ListNetworks lists networks carrying tag.
func (f *Fake) ListNetworks(ctx context.Context, tag string) ([]Net, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListNetworks"); err != nil {
		return nil, fmt.Errorf("list networks tagged %q: %w", tag, err)
	}
	return convert(sortedValues(f.nets, func(n *Net) bool { return tagged(n.Tags, tag) }), cloneNet), nil
}

// DeleteNetwork refuses while ports remain (Neutron's NetworkInUse) and takes the
// network's subnets with it.
func (f *Fake) DeleteNetwork(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeleteNetwork"); err != nil {
		return fmt.Errorf("delete network %s: %w", id, err)
	}
	n, ok := f.nets[id]
	if !ok {
		return fmt.Errorf("delete network %s: %w", id, notFound("Network", id))
	}
	for _, p := range f.ports {
		if p.NetworkID == id {
			return fmt.Errorf("delete network %s: %w", id, NewError(ErrConflict, fmt.Sprintf(
				"Unable to complete operation on network %s. There are one or more ports still in use on the network.", id)))
		}
	}
	for _, s := range n.Subnets {
		delete(f.subnets, s)
	}
	delete(f.nets, id)
	return nil
}

// CreateSubnet creates a subnet on an existing network.
func (f *Fake) CreateSubnet(ctx context.Context, spec SubnetSpec) (*Subnet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CreateSubnet"); err != nil {
		return nil, fmt.Errorf("create subnet %s: %w", spec.Name, err)
	}
	if err := validateTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create subnet %s: %w", spec.Name, err)
	}
	n, ok := f.nets[spec.NetworkID]
	if !ok {
		return nil, fmt.Errorf("create subnet %s: %w", spec.Name, notFound("Network", spec.NetworkID))
	}
	if err := f.quota("subnet", len(f.subnets)); err != nil {
		return nil, fmt.Errorf("create subnet %s: %w", spec.Name, err)
	}
	s := &Subnet{ID: f.id(), Name: spec.Name, NetworkID: spec.NetworkID, CIDR: spec.CIDR, IPVersion: 4, Tags: slices.Clone(spec.Tags)}
	if spec.IPVersion == 6 {
		s.IPVersion = 6
	}
	if spec.GatewayIP != nil {
		s.GatewayIP = *spec.GatewayIP
	}
	f.subnets[s.ID] = s
	n.Subnets = append(n.Subnets, s.ID)
	out := *s
	out.Tags = slices.Clone(s.Tags)
	return &out, nil
}

// GetSubnet returns the subnet.
func (f *Fake) GetSubnet(ctx context.Context, id string) (*Subnet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetSubnet"); err != nil {
		return nil, fmt.Errorf("get subnet %s: %w", id, err)
	}
	s, ok := f.subnets[id]
	if !ok {
		return nil, fmt.Errorf("get subnet %s: %w", id, notFound("Subnet", id))
	}
	out := *s
	out.Tags = slices.Clone(s.Tags)
	return &out, nil
}

// ListSubnets lists subnets carrying tag.
func (f *Fake) ListSubnets(ctx context.Context, tag string) ([]Subnet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListSubnets"); err != nil {
		return nil, fmt.Errorf("list subnets tagged %q: %w", tag, err)
	}
	return sortedValues(f.subnets, func(s *Subnet) bool { return tagged(s.Tags, tag) }), nil
}

// DeleteSubnet refuses while a port has an address on it (Neutron's SubnetInUse).
func (f *Fake) DeleteSubnet(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeleteSubnet"); err != nil {
		return fmt.Errorf("delete subnet %s: %w", id, err)
	}
	s, ok := f.subnets[id]
	if !ok {
		return fmt.Errorf("delete subnet %s: %w", id, notFound("Subnet", id))
	}
	for _, p := range f.ports {
		for _, ip := range p.FixedIPs {
			if ip.SubnetID == id {
				return fmt.Errorf("delete subnet %s: %w", id, NewError(ErrConflict, fmt.Sprintf(
					"Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet.", id)))
			}
		}
	}
	delete(f.subnets, id)
	if n := f.nets[s.NetworkID]; n != nil {
		n.Subnets = slices.DeleteFunc(n.Subnets, func(v string) bool { return v == id })
	}
	return nil
}

// CreatePort creates a port on an existing network, with an address on its first
// subnet unless FixedIPs say otherwise.
func (f *Fake) CreatePort(ctx context.Context, spec PortSpec) (*Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("create port %s: %w", spec.Name, err) }
	if err := f.begin(ctx, "CreatePort"); err != nil {
		return nil, wrap(err)
	}
	if err := validateTags(spec.Tags); err != nil {
		return nil, wrap(err)
	}
	n, ok := f.nets[spec.NetworkID]
	if !ok {
		return nil, wrap(notFound("Network", spec.NetworkID))
	}
	for _, sg := range spec.SecurityGroupIDs {
		if f.sgs[sg] == nil {
			return nil, wrap(notFound("Security group", sg))
		}
	}
	if err := f.quota("port", len(f.ports)); err != nil {
		return nil, wrap(err)
	}
	p := &Port{ID: f.id(), Name: spec.Name, NetworkID: spec.NetworkID, Status: "DOWN",
		MACAddress:       fmt.Sprintf("fa:16:3e:00:%02x:%02x", f.seq/256%256, f.seq%256),
		SecurityGroupIDs: slices.Clone(spec.SecurityGroupIDs), Tags: slices.Clone(spec.Tags)}
	for _, ip := range spec.FixedIPs {
		if ip.SubnetID != "" && f.subnets[ip.SubnetID] == nil {
			return nil, wrap(notFound("Subnet", ip.SubnetID))
		}
		p.FixedIPs = append(p.FixedIPs, FixedIP{SubnetID: coalesce(ip.SubnetID, first(n.Subnets)),
			IPAddress: coalesce(ip.IPAddress, fmt.Sprintf("10.0.%d.%d", f.seq/250, f.seq%250+2))})
	}
	if len(spec.FixedIPs) == 0 && len(n.Subnets) > 0 {
		p.FixedIPs = []FixedIP{{SubnetID: n.Subnets[0], IPAddress: fmt.Sprintf("10.0.%d.%d", f.seq/250, f.seq%250+2)}}
	}
	f.ports[p.ID] = p
	out := clonePort(*p)
	return &out, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func clonePort(p Port) Port {
	p.FixedIPs, p.SecurityGroupIDs, p.Tags = slices.Clone(p.FixedIPs), slices.Clone(p.SecurityGroupIDs), slices.Clone(p.Tags)
	return p
}

// GetPort returns the port.
func (f *Fake) GetPort(ctx context.Context, id string) (*Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetPort"); err != nil {
		return nil, fmt.Errorf("get port %s: %w", id, err)
	}
	p, ok := f.ports[id]
	if !ok {
		return nil, fmt.Errorf("get port %s: %w", id, notFound("Port", id))
	}
	out := clonePort(*p)
	return &out, nil
}

// ListPorts lists ports carrying tag.
func (f *Fake) ListPorts(ctx context.Context, tag string) ([]Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListPorts"); err != nil {
		return nil, fmt.Errorf("list ports tagged %q: %w", tag, err)
	}
	return convert(sortedValues(f.ports, func(p *Port) bool { return tagged(p.Tags, tag) }), clonePort), nil
}

// DeletePort deletes the port and detaches floating IPs from it.
func (f *Fake) DeletePort(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeletePort"); err != nil {
		return fmt.Errorf("delete port %s: %w", id, err)
	}
	if _, ok := f.ports[id]; !ok {
		return fmt.Errorf("delete port %s: %w", id, notFound("Port", id))
	}
	delete(f.ports, id)
	for _, fip := range f.fips {
		if fip.PortID == id {
			fip.PortID, fip.FixedIP, fip.Status = "", "", "DOWN"
		}
	}
	return nil
}

// CreateSecurityGroup creates a group with Neutron's two allow-all egress rules.
func (f *Fake) CreateSecurityGroup(ctx context.Context, spec SecurityGroupSpec) (*SecurityGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CreateSecurityGroup"); err != nil {
		return nil, fmt.Errorf("create security group %s: %w", spec.Name, err)
	}
	if err := validateTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create security group %s: %w", spec.Name, err)
	}
	if err := f.quota("security_group", len(f.sgs)); err != nil {
		return nil, fmt.Errorf("create security group %s: %w", spec.Name, err)
	}
	g := &SecurityGroup{ID: f.id(), Name: spec.Name, Description: spec.Description, Tags: slices.Clone(spec.Tags)}
	f.sgs[g.ID] = g
	for _, et := range []string{"IPv4", "IPv6"} {
		r := &SecurityGroupRule{ID: f.id(), SecurityGroupRuleSpec: SecurityGroupRuleSpec{SecurityGroupID: g.ID, Direction: "egress", EtherType: et}}
		f.rules[r.ID] = r
	}
	out := f.securityGroup(g)
	return &out, nil
}

// securityGroup is a copy of g with its rules. Holds f.mu.
func (f *Fake) securityGroup(g *SecurityGroup) SecurityGroup {
	out := *g
	out.Tags = slices.Clone(g.Tags)
	out.Rules = sortedValues(f.rules, func(r *SecurityGroupRule) bool { return r.SecurityGroupID == g.ID })
	return out
}

// GetSecurityGroup returns the group with its rules.
func (f *Fake) GetSecurityGroup(ctx context.Context, id string) (*SecurityGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetSecurityGroup"); err != nil {
		return nil, fmt.Errorf("get security group %s: %w", id, err)
	}
	g, ok := f.sgs[id]
	if !ok {
		return nil, fmt.Errorf("get security group %s: %w", id, notFound("Security group", id))
	}
	out := f.securityGroup(g)
	return &out, nil
}

// ListSecurityGroups lists groups carrying tag.
func (f *Fake) ListSecurityGroups(ctx context.Context, tag string) ([]SecurityGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListSecurityGroups"); err != nil {
		return nil, fmt.Errorf("list security groups tagged %q: %w", tag, err)
	}
	list := sortedValues(f.sgs, func(g *SecurityGroup) bool { return tagged(g.Tags, tag) })
	for i := range list {
		list[i] = f.securityGroup(f.sgs[list[i].ID])
	}
	return list, nil
}

// DeleteSecurityGroup refuses while a port uses the group (Neutron's SecurityGroupInUse).
func (f *Fake) DeleteSecurityGroup(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeleteSecurityGroup"); err != nil {
		return fmt.Errorf("delete security group %s: %w", id, err)
	}
	if _, ok := f.sgs[id]; !ok {
		return fmt.Errorf("delete security group %s: %w", id, notFound("Security group", id))
	}
	for _, p := range f.ports {
		if slices.Contains(p.SecurityGroupIDs, id) {
			return fmt.Errorf("delete security group %s: %w", id, NewError(ErrConflict, fmt.Sprintf("Security Group %s in use.", id)))
		}
	}
	delete(f.sgs, id)
	for rid, r := range f.rules {
		if r.SecurityGroupID == id {
			delete(f.rules, rid)
		}
	}
	return nil
}

// CreateSecurityGroupRule adds a rule to an existing group.
func (f *Fake) CreateSecurityGroupRule(ctx context.Context, spec SecurityGroupRuleSpec) (*SecurityGroupRule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error {
		return fmt.Errorf("create rule in security group %s: %w", spec.SecurityGroupID, err)
	}
	if err := f.begin(ctx, "CreateSecurityGroupRule"); err != nil {
		return nil, wrap(err)
	}
	if spec.Direction != "ingress" && spec.Direction != "egress" {
		return nil, wrap(invalidInput("a direction (ingress or egress) is required"))
	}
	if f.sgs[spec.SecurityGroupID] == nil {
		return nil, wrap(notFound("Security group", spec.SecurityGroupID))
	}
	spec.EtherType = coalesce(spec.EtherType, "IPv4")
	for _, r := range f.rules {
		if r.SecurityGroupRuleSpec == spec {
			return nil, wrap(NewError(ErrConflict, "Security group rule already exists. Rule id is "+r.ID+"."))
		}
	}
	r := &SecurityGroupRule{ID: f.id(), SecurityGroupRuleSpec: spec}
	f.rules[r.ID] = r
	out := *r
	return &out, nil
}

// DeleteSecurityGroupRule deletes a rule.
func (f *Fake) DeleteSecurityGroupRule(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeleteSecurityGroupRule"); err != nil {
		return fmt.Errorf("delete security group rule %s: %w", id, err)
	}
	if _, ok := f.rules[id]; !ok {
		return fmt.Errorf("delete security group rule %s: %w", id, notFound("Security group rule", id))
	}
	delete(f.rules, id)
	return nil
}
