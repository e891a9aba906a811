package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
)

// FloatingIPSpec describes a floating IP to allocate from an external network,
// optionally attached to a port at once.
type FloatingIPSpec struct {
	FloatingNetworkID string
	PortID, FixedIP   string
	Description       string
	Tags              []string
}

// FloatingIP is a Neutron floating IP.
type FloatingIP struct {
	ID, FloatingNetworkID string
	Address               string
	PortID, FixedIP       string
	// Status is ACTIVE, DOWN or ERROR (DOWN where no L3 agent runs).
	Status      string
	Description string
	Tags        []string
}

func (n *network) CreateFloatingIP(ctx context.Context, spec FloatingIPSpec) (*FloatingIP, error) {
	if err := validateTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create floating IP on %s: %w", spec.FloatingNetworkID, err)
	}
	f, err := floatingips.Create(ctx, n.sc, floatingips.CreateOpts{
		FloatingNetworkID: spec.FloatingNetworkID,
		PortID:            spec.PortID,
		FixedIP:           spec.FixedIP,
		Description:       spec.Description,
	}).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "create floating IP on network %s", spec.FloatingNetworkID)
	}
	if err := n.setTags(ctx, "floatingips", f.ID, spec.Tags, func(ctx context.Context) error {
		return floatingips.Delete(ctx, n.sc, f.ID).ExtractErr()
	}); err != nil {
		return nil, fmt.Errorf("create floating IP on network %s: %w", spec.FloatingNetworkID, err)
	}
	f.Tags = spec.Tags
	out := toFloatingIP(*f)
	return &out, nil
}

func (n *network) GetFloatingIP(ctx context.Context, id string) (*FloatingIP, error) {
	f, err := floatingips.Get(ctx, n.sc, id).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "get floating IP %s", id)
	}
	out := toFloatingIP(*f)
	return &out, nil
}

func (n *network) ListFloatingIPs(ctx context.Context, tag string) ([]FloatingIP, error) {
	pages, err := floatingips.List(n.sc, floatingips.ListOpts{Tags: tag}).AllPages(ctx)
	if err != nil {
		return nil, n.s.wrap(err, "list floating IPs tagged %q", tag)
	}
	list, err := floatingips.ExtractFloatingIPs(pages)
	if err != nil {
		return nil, n.s.wrap(err, "list floating IPs tagged %q", tag)
	}
	return convert(list, toFloatingIP), nil
}

func (n *network) AssociateFloatingIP(ctx context.Context, id, portID string) (*FloatingIP, error) {
	// gophercloud sends port_id null for "", which detaches.
	f, err := floatingips.Update(ctx, n.sc, id, floatingips.UpdateOpts{PortID: &portID}).Extract()
	if err != nil {
		return nil, n.s.wrap(err, "associate floating IP %s with port %q", id, portID)
	}
	out := toFloatingIP(*f)
	return &out, nil
}

func (n *network) DeleteFloatingIP(ctx context.Context, id string) error {
	return n.s.wrap(floatingips.Delete(ctx, n.sc, id).ExtractErr(), "delete floating IP %s", id)
}

func toFloatingIP(f floatingips.FloatingIP) FloatingIP {
	return FloatingIP{ID: f.ID, FloatingNetworkID: f.FloatingNetworkID, Address: f.FloatingIP, PortID: f.PortID,
		FixedIP: f.FixedIP, Status: f.Status, Description: f.Description, Tags: f.Tags}
}
