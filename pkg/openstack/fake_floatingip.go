package openstack

import (
	"context"
	"fmt"
	"slices"
)

// CreateFloatingIP allocates an address from an existing network (any network will do).
func (f *Fake) CreateFloatingIP(ctx context.Context, spec FloatingIPSpec) (*FloatingIP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error {
		return fmt.Errorf("create floating IP on network %s: %w", spec.FloatingNetworkID, err)
	}
	if err := f.begin(ctx, "CreateFloatingIP"); err != nil {
		return nil, wrap(err)
	}
	if err := validateTags(spec.Tags); err != nil {
		return nil, wrap(err)
	}
	if f.nets[spec.FloatingNetworkID] == nil {
		return nil, wrap(notFound("Network", spec.FloatingNetworkID))
	}
	if spec.PortID != "" && f.ports[spec.PortID] == nil {
		return nil, wrap(notFound("Port", spec.PortID))
	}
	if err := f.quota("floatingip", len(f.fips)); err != nil {
		return nil, wrap(err)
	}
	fip := &FloatingIP{ID: f.id(), FloatingNetworkID: spec.FloatingNetworkID, Description: spec.Description,
		Address: fmt.Sprintf("203.0.113.%d", f.seq%250+2), Status: "DOWN", Tags: slices.Clone(spec.Tags)}
	f.fips[fip.ID] = fip
	f.attach(fip, spec.PortID, spec.FixedIP)
	out := *fip
	out.Tags = slices.Clone(fip.Tags)
	return &out, nil
}

// attach points fip at a port. Holds f.mu.
func (f *Fake) attach(fip *FloatingIP, portID, fixedIP string) {
	fip.PortID, fip.FixedIP, fip.Status = portID, "", "DOWN"
	if p := f.ports[portID]; p != nil {
		fip.Status = "ACTIVE"
		fip.FixedIP = fixedIP
		if fixedIP == "" && len(p.FixedIPs) > 0 {
			fip.FixedIP = p.FixedIPs[0].IPAddress
		}
	}
}

// GetFloatingIP returns the floating IP.
func (f *Fake) GetFloatingIP(ctx context.Context, id string) (*FloatingIP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetFloatingIP"); err != nil {
		return nil, fmt.Errorf("get floating IP %s: %w", id, err)
	}
	fip, ok := f.fips[id]
	if !ok {
		return nil, fmt.Errorf("get floating IP %s: %w", id, notFound("Floating IP", id))
	}
	out := *fip
	out.Tags = slices.Clone(fip.Tags)
	return &out, nil
}

// ListFloatingIPs lists floating IPs carrying tag.
func (f *Fake) ListFloatingIPs(ctx context.Context, tag string) ([]FloatingIP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListFloatingIPs"); err != nil {
		return nil, fmt.Errorf("list floating IPs tagged %q: %w", tag, err)
	}
	return sortedValues(f.fips, func(fip *FloatingIP) bool { return tagged(fip.Tags, tag) }), nil
}

// AssociateFloatingIP attaches the floating IP to a port, or detaches it for "".
func (f *Fake) AssociateFloatingIP(ctx context.Context, id, portID string) (*FloatingIP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("associate floating IP %s with port %q: %w", id, portID, err) }
	if err := f.begin(ctx, "AssociateFloatingIP"); err != nil {
		return nil, wrap(err)
	}
	fip, ok := f.fips[id]
	if !ok {
		return nil, wrap(notFound("Floating IP", id))
	}
	if portID != "" && f.ports[portID] == nil {
		return nil, wrap(notFound("Port", portID))
	}
	f.attach(fip, portID, "")
	out := *fip
	out.Tags = slices.Clone(fip.Tags)
	return &out, nil
}

// DeleteFloatingIP releases the floating IP.
func (f *Fake) DeleteFloatingIP(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeleteFloatingIP"); err != nil {
		return fmt.Errorf("delete floating IP %s: %w", id, err)
	}
	if _, ok := f.fips[id]; !ok {
		return fmt.Errorf("delete floating IP %s: %w", id, notFound("Floating IP", id))
	}
	delete(f.fips, id)
	return nil
}
