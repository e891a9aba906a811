package openstack

import (
	"context"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
)

// Network is what kubeseed needs from Neutron. List calls return the project's
// resources carrying tag (all when tag is ""); deletes return ErrNotFound when the
// resource is already gone.
type Network interface {
	CreateNetwork(ctx context.Context, spec NetSpec) (*Net, error)
	GetNetwork(ctx context.Context, id string) (*Net, error)
	ListNetworks(ctx context.Context, tag string) ([]Net, error)
	DeleteNetwork(ctx context.Context, id string) error

	CreateSubnet(ctx context.Context, spec SubnetSpec) (*Subnet, error)
	GetSubnet(ctx context.Context, id string) (*Subnet, error)
	ListSubnets(ctx context.Context, tag string) ([]Subnet, error)
	DeleteSubnet(ctx context.Context, id string) error

	CreatePort(ctx context.Context, spec PortSpec) (*Port, error)
	GetPort(ctx context.Context, id string) (*Port, error)
	ListPorts(ctx context.Context, tag string) ([]Port, error)
	DeletePort(ctx context.Context, id string) error

	CreateSecurityGroup(ctx context.Context, spec SecurityGroupSpec) (*SecurityGroup, error)
	GetSecurityGroup(ctx context.Context, id string) (*SecurityGroup, error)
	ListSecurityGroups(ctx context.Context, tag string) ([]SecurityGroup, error)
	// DeleteSecurityGroup deletes the group with its rules.
	DeleteSecurityGroup(ctx context.Context, id string) error
	// CreateSecurityGroupRule adds a rule; rules take no tags, they go with their group.
	CreateSecurityGroupRule(ctx context.Context, spec SecurityGroupRuleSpec) (*SecurityGroupRule, error)
	DeleteSecurityGroupRule(ctx context.Context, id string) error

	CreateFloatingIP(ctx context.Context, spec FloatingIPSpec) (*FloatingIP, error)
	GetFloatingIP(ctx context.Context, id string) (*FloatingIP, error)
	ListFloatingIPs(ctx context.Context, tag string) ([]FloatingIP, error)
	// AssociateFloatingIP points the floating IP at a port; portID "" detaches it.
	AssociateFloatingIP(ctx context.Context, id, portID string) (*FloatingIP, error)
	DeleteFloatingIP(ctx context.Context, id string) error
}

// NetSpec describes a network to create.
type NetSpec struct {
	Name, Description string
	Tags              []string
}

// Net is a Neutron network.
type Net struct {
	ID, Name, Status string
	Subnets          []string
	Tags             []string
}

// SubnetSpec describes a subnet to create.
type SubnetSpec struct {
	Name, NetworkID, CIDR string
	// IPVersion is 4 or 6; 4 when zero.
	IPVersion int
	// GatewayIP: nil lets Neutron pick the first address, "" creates no gateway.
	GatewayIP      *string
	DNSNameservers []string
	EnableDHCP     *bool
	Tags           []string
}

// Subnet is a Neutron subnet.
type Subnet struct {
	ID, Name, NetworkID, CIDR, GatewayIP string
	IPVersion                            int
	Tags                                 []string
}

// PortSpec describes a port to create.
type PortSpec struct {
	Name, Description, NetworkID string
	// FixedIPs pin addresses or subnets; empty lets Neutron choose.
	FixedIPs []FixedIP
	// SecurityGroupIDs: nil gets the project's default group, an empty slice none.
	SecurityGroupIDs []string
	// AllowedAddressPairs are extra IPs or CIDRs the port may send from (a VIP).
	AllowedAddressPairs []string
	Tags                []string
}

// FixedIP is an address on a subnet; either field may be empty in a PortSpec.
type FixedIP struct {
	SubnetID, IPAddress string
}

// Port is a Neutron port.
type Port struct {
	ID, Name, NetworkID, Status string
	MACAddress                  string
	DeviceID, DeviceOwner       string
	FixedIPs                    []FixedIP
	SecurityGroupIDs            []string
	Tags                        []string
}

// SecurityGroupSpec describes a security group to create. Neutron gives a new group
// rules that allow all egress.
type SecurityGroupSpec struct {
	Name, Description string
	Tags              []string
}

// SecurityGroup is a Neutron security group.
type SecurityGroup struct {
	ID, Name, Description string
	Rules                 []SecurityGroupRule
	Tags                  []string
}

// SecurityGroupRuleSpec describes a rule. Direction is ingress or egress, EtherType IPv4
// or IPv6 (IPv4 when empty), Protocol tcp, udp, icmp... or "" for any; a zero port
// range means all ports.
type SecurityGroupRuleSpec struct {
	SecurityGroupID            string
	Direction, EtherType       string
	Protocol                   string
	PortRangeMin, PortRangeMax int
	RemoteIPPrefix             string
	RemoteGroupID              string
	Description                string
}

// SecurityGroupRule is a rule of a security group.
type SecurityGroupRule struct {
	ID string
	SecurityGroupRuleSpec
}

type network struct {
	s  *session
	sc *gophercloud.ServiceClient
}

var _ Network = (*network)(nil)

// setTags tags a resource just created. Neutron takes tags only after creation (PUT
// .../tags), and a resource left untagged would never be found again by kubeseed, so a
// failure deletes it, even when ctx is already done.
func (n *network) setTags(ctx context.Context, collection, id string, tags []string, del func(context.Context) error) error {
	if len(tags) == 0 {
		return nil
	}
	_, err := attributestags.ReplaceAll(ctx, n.sc, collection, id, attributestags.ReplaceAllOpts{Tags: tags}).Extract()
	if err == nil {
		return nil
	}
	err = n.s.classify(err)
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if derr := del(cleanup); derr != nil && !IsNotFound(derr) {
		return fmt.Errorf("tag %s %s: %w (and deleting it again failed, it is left untagged: %w)", collection, id, err, n.s.classify(derr))
	}
	return fmt.Errorf("tag %s %s (deleted it again): %w", collection, id, err)
}

func (n *network) CreateNetwork(ctx context.Context, spec NetSpec) (*Net, error) {
	if err := validateTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	nw, err := networks.Create(ctx, n.sc, networks.CreateOpts{Name: spec.Name, Description: spec.Description}).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "create network %s", spec.Name)
	}
	if err := n.setTags(ctx, "networks", nw.ID, spec.Tags, func(ctx context.Context) error {
		return networks.Delete(ctx, n.sc, nw.ID).ExtractErr()
	}); err != nil {
		return nil, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	nw.Tags = spec.Tags
	out := toNet(*nw)
	return &out, nil
}

func (n *network) GetNetwork(ctx context.Context, id string) (*Net, error) {
	nw, err := networks.Get(ctx, n.sc, id).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "get network %s", id)
	}
	out := toNet(*nw)
	return &out, nil
}

func (n *network) ListNetworks(ctx context.Context, tag string) ([]Net, error) {
	pages, err := networks.List(n.sc, networks.ListOpts{Tags: tag}).AllPages(ctx)
	if err != nil {
		return nil, n.s.wrap(err, "list networks tagged %q", tag)
	}
	list, err := networks.ExtractNetworks(pages)
	if err != nil {
		return nil, n.s.wrap(err, "list networks tagged %q", tag)
	}
	return convert(list, toNet), nil
}

func (n *network) DeleteNetwork(ctx context.Context, id string) error {
	return n.s.wrap(networks.Delete(ctx, n.sc, id).ExtractErr(), "delete network %s", id)
}

func toNet(nw networks.Network) Net {
	return Net{ID: nw.ID, Name: nw.Name, Status: nw.Status, Subnets: nw.Subnets, Tags: nw.Tags}
}

func (n *network) CreateSubnet(ctx context.Context, spec SubnetSpec) (*Subnet, error) {
	if err := validateTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create subnet %s: %w", spec.Name, err)
	}
	ipVersion := gophercloud.IPv4
	if spec.IPVersion == 6 {
		ipVersion = gophercloud.IPv6
	}
	sn, err := subnets.Create(ctx, n.sc, subnets.CreateOpts{
		Name:           spec.Name,
		NetworkID:      spec.NetworkID,
		CIDR:           spec.CIDR,
		IPVersion:      ipVersion,
		GatewayIP:      spec.GatewayIP,
		DNSNameservers: spec.DNSNameservers,
		EnableDHCP:     spec.EnableDHCP,
	}).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "create subnet %s", spec.Name)
	}
	if err := n.setTags(ctx, "subnets", sn.ID, spec.Tags, func(ctx context.Context) error {
		return subnets.Delete(ctx, n.sc, sn.ID).ExtractErr()
	}); err != nil {
		return nil, fmt.Errorf("create subnet %s: %w", spec.Name, err)
	}
	sn.Tags = spec.Tags
	out := toSubnet(*sn)
	return &out, nil
}

func (n *network) GetSubnet(ctx context.Context, id string) (*Subnet, error) {
	sn, err := subnets.Get(ctx, n.sc, id).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "get subnet %s", id)
	}
	out := toSubnet(*sn)
	return &out, nil
}

func (n *network) ListSubnets(ctx context.Context, tag string) ([]Subnet, error) {
	pages, err := subnets.List(n.sc, subnets.ListOpts{Tags: tag}).AllPages(ctx)
	if err != nil {
		return nil, n.s.wrap(err, "list subnets tagged %q", tag)
	}
	list, err := subnets.ExtractSubnets(pages)
	if err != nil {
		return nil, n.s.wrap(err, "list subnets tagged %q", tag)
	}
	return convert(list, toSubnet), nil
}

func (n *network) DeleteSubnet(ctx context.Context, id string) error {
	return n.s.wrap(subnets.Delete(ctx, n.sc, id).ExtractErr(), "delete subnet %s", id)
}

func toSubnet(s subnets.Subnet) Subnet {
	return Subnet{ID: s.ID, Name: s.Name, NetworkID: s.NetworkID, CIDR: s.CIDR, GatewayIP: s.GatewayIP, IPVersion: s.IPVersion, Tags: s.Tags}
}

func (n *network) CreatePort(ctx context.Context, spec PortSpec) (*Port, error) {
	if err := validateTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create port %s: %w", spec.Name, err)
	}
	opts := ports.CreateOpts{Name: spec.Name, Description: spec.Description, NetworkID: spec.NetworkID}
	if len(spec.FixedIPs) > 0 {
		ips := make([]ports.IP, 0, len(spec.FixedIPs))
		for _, ip := range spec.FixedIPs {
			ips = append(ips, ports.IP{SubnetID: ip.SubnetID, IPAddress: ip.IPAddress})
		}
		opts.FixedIPs = ips
	}
	if spec.SecurityGroupIDs != nil {
		sgs := spec.SecurityGroupIDs
		opts.SecurityGroups = &sgs
	}
	for _, a := range spec.AllowedAddressPairs {
		opts.AllowedAddressPairs = append(opts.AllowedAddressPairs, ports.AddressPair{IPAddress: a})
	}
	p, err := ports.Create(ctx, n.sc, opts).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "create port %s", spec.Name)
	}
	if err := n.setTags(ctx, "ports", p.ID, spec.Tags, func(ctx context.Context) error {
		return ports.Delete(ctx, n.sc, p.ID).ExtractErr()
	}); err != nil {
		return nil, fmt.Errorf("create port %s: %w", spec.Name, err)
	}
	p.Tags = spec.Tags
	out := toPort(*p)
	return &out, nil
}

func (n *network) GetPort(ctx context.Context, id string) (*Port, error) {
	p, err := ports.Get(ctx, n.sc, id).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "get port %s", id)
	}
	out := toPort(*p)
	return &out, nil
}

func (n *network) ListPorts(ctx context.Context, tag string) ([]Port, error) {
	pages, err := ports.List(n.sc, ports.ListOpts{Tags: tag}).AllPages(ctx)
	if err != nil {
		return nil, n.s.wrap(err, "list ports tagged %q", tag)
	}
	list, err := ports.ExtractPorts(pages)
	if err != nil {
		return nil, n.s.wrap(err, "list ports tagged %q", tag)
	}
	return convert(list, toPort), nil
}

func (n *network) DeletePort(ctx context.Context, id string) error {
	return n.s.wrap(ports.Delete(ctx, n.sc, id).ExtractErr(), "delete port %s", id)
}

func toPort(p ports.Port) Port {
	out := Port{ID: p.ID, Name: p.Name, NetworkID: p.NetworkID, Status: p.Status, MACAddress: p.MACAddress,
		DeviceID: p.DeviceID, DeviceOwner: p.DeviceOwner, SecurityGroupIDs: p.SecurityGroups, Tags: p.Tags}
	for _, ip := range p.FixedIPs {
		out.FixedIPs = append(out.FixedIPs, FixedIP{SubnetID: ip.SubnetID, IPAddress: ip.IPAddress})
	}
	return out
}

func (n *network) CreateSecurityGroup(ctx context.Context, spec SecurityGroupSpec) (*SecurityGroup, error) {
	if err := validateTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create security group %s: %w", spec.Name, err)
	}
	g, err := groups.Create(ctx, n.sc, groups.CreateOpts{Name: spec.Name, Description: spec.Description}).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "create security group %s", spec.Name)
	}
	if err := n.setTags(ctx, "security-groups", g.ID, spec.Tags, func(ctx context.Context) error {
		return groups.Delete(ctx, n.sc, g.ID).ExtractErr()
	}); err != nil {
		return nil, fmt.Errorf("create security group %s: %w", spec.Name, err)
	}
	g.Tags = spec.Tags
	out := toSecurityGroup(*g)
	return &out, nil
}

func (n *network) GetSecurityGroup(ctx context.Context, id string) (*SecurityGroup, error) {
	g, err := groups.Get(ctx, n.sc, id).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "get security group %s", id)
	}
	out := toSecurityGroup(*g)
	return &out, nil
}

func (n *network) ListSecurityGroups(ctx context.Context, tag string) ([]SecurityGroup, error) {
	pages, err := groups.List(n.sc, groups.ListOpts{Tags: tag}).AllPages(ctx)
	if err != nil {
		return nil, n.s.wrap(err, "list security groups tagged %q", tag)
	}
	list, err := groups.ExtractGroups(pages)
	if err != nil {
		return nil, n.s.wrap(err, "list security groups tagged %q", tag)
	}
	return convert(list, toSecurityGroup), nil
}

func (n *network) DeleteSecurityGroup(ctx context.Context, id string) error {
	return n.s.wrap(groups.Delete(ctx, n.sc, id).ExtractErr(), "delete security group %s", id)
}

func toSecurityGroup(g groups.SecGroup) SecurityGroup {
	return SecurityGroup{ID: g.ID, Name: g.Name, Description: g.Description, Tags: g.Tags, Rules: convert(g.Rules, toRule)}
}

func (n *network) CreateSecurityGroupRule(ctx context.Context, spec SecurityGroupRuleSpec) (*SecurityGroupRule, error) {
	if spec.SecurityGroupID == "" || (spec.Direction != "ingress" && spec.Direction != "egress") {
		return nil, fmt.Errorf("create security group rule: %w", invalidInput("a security group and a direction (ingress or egress) are required"))
	}
	r, err := rules.Create(ctx, n.sc, rules.CreateOpts{
		SecGroupID:     spec.SecurityGroupID,
		Direction:      rules.RuleDirection(spec.Direction),
		EtherType:      rules.RuleEtherType(coalesce(spec.EtherType, string(rules.EtherType4))),
		Protocol:       rules.RuleProtocol(spec.Protocol),
		PortRangeMin:   spec.PortRangeMin,
		PortRangeMax:   spec.PortRangeMax,
		RemoteIPPrefix: spec.RemoteIPPrefix,
		RemoteGroupID:  spec.RemoteGroupID,
		Description:    spec.Description,
	}).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "create rule in security group %s", spec.SecurityGroupID)
	}
	out := toRule(*r)
	return &out, nil
}

func (n *network) DeleteSecurityGroupRule(ctx context.Context, id string) error {
	return n.s.wrap(rules.Delete(ctx, n.sc, id).ExtractErr(), "delete security group rule %s", id)
}

func toRule(r rules.SecGroupRule) SecurityGroupRule {
	return SecurityGroupRule{ID: r.ID, SecurityGroupRuleSpec: SecurityGroupRuleSpec{
		SecurityGroupID: r.SecGroupID, Direction: r.Direction, EtherType: r.EtherType, Protocol: r.Protocol,
		PortRangeMin: r.PortRangeMin, PortRangeMax: r.PortRangeMax, RemoteIPPrefix: r.RemoteIPPrefix,
		RemoteGroupID: r.RemoteGroupID, Description: r.Description,
	}}
}

func convert[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}
