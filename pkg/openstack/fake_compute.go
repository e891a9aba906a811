package openstack

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// Compute

// Microversion is what a Zed cloud negotiates.
func (f *Fake) Microversion() string { return ComputeMaxMicroversion }

// CreateServer boots a server in BUILD. Flavor, image, networks, ports and server group
// must exist.
func (f *Fake) CreateServer(ctx context.Context, spec ServerSpec) (*Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("create server %s: %w", spec.Name, err) }
	if err := f.begin(ctx, "CreateServer"); err != nil {
		return nil, wrap(err)
	}
	if err := validateServerSpec(spec); err != nil {
		return nil, wrap(err)
	}
	if _, ok := f.flavors[spec.FlavorID]; !ok {
		return nil, wrap(NewError(ErrInvalidInput, fmt.Sprintf("Flavor %s could not be found.", spec.FlavorID)))
	}
	if _, ok := f.images[spec.ImageID]; !ok {
		return nil, wrap(NewError(ErrInvalidInput, fmt.Sprintf("Image %s could not be found.", spec.ImageID)))
	}
	var group *ServerGroup
	if spec.ServerGroupID != "" {
		if group = f.groups[spec.ServerGroupID]; group == nil {
			return nil, wrap(NewError(ErrInvalidInput, fmt.Sprintf("Invalid server group %s", spec.ServerGroupID)))
		}
	}
	for _, n := range spec.Networks {
		if n.PortID != "" && f.ports[n.PortID] == nil {
			return nil, wrap(NewError(ErrInvalidInput, fmt.Sprintf("Port %s could not be found.", n.PortID)))
		}
		if n.PortID == "" && f.nets[n.NetworkID] == nil {
			return nil, wrap(NewError(ErrInvalidInput, fmt.Sprintf("Network %s could not be found.", n.NetworkID)))
		}
	}
	if err := f.quota("instances", len(f.servers)); err != nil {
		return nil, wrap(err)
	}
	s := &fakeServer{Server: Server{ID: f.id(), Name: spec.Name, Status: "BUILD", AvailabilityZone: coalesce(spec.AvailabilityZone, "nova"),
		Tags: slices.Clone(spec.Tags), Metadata: maps.Clone(spec.Metadata), Addresses: map[string][]string{}},
		userData: slices.Clone(spec.UserData), polls: f.ServerPolls}
	for _, n := range spec.Networks {
		netID, ip := n.NetworkID, n.FixedIP
		if p := f.ports[n.PortID]; p != nil {
			p.DeviceID, p.DeviceOwner, netID = s.ID, "compute:"+s.AvailabilityZone, p.NetworkID
			if len(p.FixedIPs) > 0 {
				ip = p.FixedIPs[0].IPAddress
			}
		}
		name := netID
		if nw := f.nets[netID]; nw != nil {
			name = coalesce(nw.Name, netID)
		}
		s.Addresses[name] = append(s.Addresses[name], coalesce(ip, fmt.Sprintf("10.0.%d.%d", f.seq/250, f.seq%250+2)))
	}
	if s.polls == 0 {
		s.Status = "ACTIVE"
	}
	f.servers[s.ID] = s
	if group != nil {
		group.Members = append(group.Members, s.ID)
	}
	return &Server{ID: s.ID, Name: s.Name, Tags: slices.Clone(s.Tags), Metadata: maps.Clone(s.Metadata)}, nil
}

// GetServer returns the server; a new one shows BUILD to ServerPolls calls, then ACTIVE.
func (f *Fake) GetServer(ctx context.Context, id string) (*Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetServer"); err != nil {
		return nil, fmt.Errorf("get server %s: %w", id, err)
	}
	s, ok := f.servers[id]
	if !ok {
		return nil, fmt.Errorf("get server %s: %w", id, notFound("Instance", id))
	}
	out := cloneServer(s.Server)
	if s.Status == "BUILD" {
		if s.polls--; s.polls <= 0 {
			s.Status = "ACTIVE"
		}
	}
	return &out, nil
}

func cloneServer(s Server) Server {
	s.Tags, s.Metadata, s.Addresses = slices.Clone(s.Tags), maps.Clone(s.Metadata), maps.Clone(s.Addresses)
	return s
}

// ListServers lists servers carrying tag.
func (f *Fake) ListServers(ctx context.Context, tag string) ([]Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListServers"); err != nil {
		return nil, fmt.Errorf("list servers tagged %q: %w", tag, err)
	}
	list := sortedValues(f.servers, func(s *fakeServer) bool { return tagged(s.Tags, tag) })
	return convert(list, func(s fakeServer) Server { return cloneServer(s.Server) }), nil
}

// DeleteServer deletes at once, detaching its ports and leaving its server group.
func (f *Fake) DeleteServer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeleteServer"); err != nil {
		return fmt.Errorf("delete server %s: %w", id, err)
	}
	if _, ok := f.servers[id]; !ok {
		return fmt.Errorf("delete server %s: %w", id, notFound("Instance", id))
	}
	delete(f.servers, id)
	for _, p := range f.ports {
		if p.DeviceID == id {
			p.DeviceID, p.DeviceOwner = "", ""
		}
	}
	for _, g := range f.groups {
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == id })
	}
	return nil
}

// SetServerMetadata merges metadata into the server's.
func (f *Fake) SetServerMetadata(ctx context.Context, id string, metadata map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "SetServerMetadata"); err != nil {
		return fmt.Errorf("set metadata of server %s: %w", id, err)
	}
	s, ok := f.servers[id]
	if !ok {
		return fmt.Errorf("set metadata of server %s: %w", id, notFound("Instance", id))
	}
	if s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	maps.Copy(s.Metadata, metadata)
	return nil
}

// ServerUserData returns the user data the server was created with (the fake's caller
// is always admin; inject ErrForbidden to test otherwise).
func (f *Fake) ServerUserData(ctx context.Context, id string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ServerUserData"); err != nil {
		return nil, fmt.Errorf("get user_data of server %s: %w", id, err)
	}
	s, ok := f.servers[id]
	if !ok {
		return nil, fmt.Errorf("get user_data of server %s: %w", id, notFound("Instance", id))
	}
	return slices.Clone(s.userData), nil
}

// CreateServerGroup creates a server group.
func (f *Fake) CreateServerGroup(ctx context.Context, name, policy string) (*ServerGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CreateServerGroup"); err != nil {
		return nil, fmt.Errorf("create server group %s: %w", name, err)
	}
	switch policy {
	case PolicyAntiAffinity, PolicySoftAntiAffinity, PolicyAffinity, PolicySoftAffinity:
	default:
		return nil, fmt.Errorf("create server group %s: %w", name, invalidInput("unknown policy %q", policy))
	}
	if err := f.quota("server_groups", len(f.groups)); err != nil {
		return nil, fmt.Errorf("create server group %s: %w", name, err)
	}
	g := &ServerGroup{ID: f.id(), Name: name, Policy: policy, Members: []string{}}
	f.groups[g.ID] = g
	out := *g
	return &out, nil
}

// GetServerGroup returns the server group.
func (f *Fake) GetServerGroup(ctx context.Context, id string) (*ServerGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetServerGroup"); err != nil {
		return nil, fmt.Errorf("get server group %s: %w", id, err)
	}
	g, ok := f.groups[id]
	if !ok {
		return nil, fmt.Errorf("get server group %s: %w", id, notFound("Server group", id))
	}
	out := *g
	out.Members = slices.Clone(g.Members)
	return &out, nil
}

// ListServerGroups lists all server groups.
func (f *Fake) ListServerGroups(ctx context.Context) ([]ServerGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListServerGroups"); err != nil {
		return nil, fmt.Errorf("list server groups: %w", err)
	}
	return sortedValues(f.groups, func(*ServerGroup) bool { return true }), nil
}

// DeleteServerGroup deletes the server group (Nova allows it with members left).
func (f *Fake) DeleteServerGroup(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "DeleteServerGroup"); err != nil {
		return fmt.Errorf("delete server group %s: %w", id, err)
	}
	if _, ok := f.groups[id]; !ok {
		return fmt.Errorf("delete server group %s: %w", id, notFound("Server group", id))
	}
	delete(f.groups, id)
	return nil
}

// GetFlavor finds a flavor added with AddFlavor by ID, then by name.
func (f *Fake) GetFlavor(ctx context.Context, nameOrID string) (*Flavor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetFlavor"); err != nil {
		return nil, fmt.Errorf("get flavor %s: %w", nameOrID, err)
	}
	if fl, ok := f.flavors[nameOrID]; ok {
		return &fl, nil
	}
	var found []Flavor
	for _, fl := range f.flavors {
		if fl.Name == nameOrID {
			found = append(found, fl)
		}
	}
	if err := one("flavor", nameOrID, len(found)); err != nil {
		return nil, err
	}
	return &found[0], nil
}

// GetImage finds an image added with AddImage by ID, then by name.
func (f *Fake) GetImage(ctx context.Context, nameOrID string) (*Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "GetImage"); err != nil {
		return nil, fmt.Errorf("get image %s: %w", nameOrID, err)
	}
	if img, ok := f.images[nameOrID]; ok {
		return &img, nil
	}
	var found []Image
	for _, img := range f.images {
		if img.Name == nameOrID {
			found = append(found, img)
		}
	}
	if err := one("image", nameOrID, len(found)); err != nil {
		return nil, err
	}
	return &found[0], nil
}
