package openstack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"sync"
)

// Fake is an in-memory cloud that implements Identity, Compute, Network and
// LoadBalancer, for controller tests. It stands in for a real cloud only in fast tests:
// it keeps state and follows the rules controllers trip over (Octavia's PENDING_* states
// and "immutable" 409s, cascade deletes, Neutron's in-use 409s, quotas, tags, 404 on a
// second delete, servers in BUILD before ACTIVE), but it validates far less than Nova,
// Neutron and Octavia do, schedules nothing, and never retries. Anything that must hold
// against OpenStack belongs in the integration test (KUBESEED_OPENSTACK_CLOUDS).
//
// Failures are injected per call with Inject, by method name ("CreateServer",
// "DeleteLoadBalancer"...): an injected failure is returned before the fake does
// anything, exactly as the real client would return it after its own retries. The errors
// have the real client's kinds; NewError and NewQuotaError make them.
//
// Safe for concurrent use. Resources get predictable IDs (00000000-0000-4000-8000-<n>).
type Fake struct {
	// ProvisioningPolls is how many GetLoadBalancer calls a load balancer stays in
	// PENDING_CREATE, PENDING_UPDATE or PENDING_DELETE after a change; ServerPolls how
	// many GetServer calls a new server stays in BUILD. NewFake sets both to 1; 0 makes
	// changes take effect at once.
	ProvisioningPolls int
	ServerPolls       int

	mu       sync.Mutex
	seq      int
	calls    []string
	failures map[string][]*failure
	quotas   map[string]int
	scope    Scope

	flavors  map[string]Flavor
	images   map[string]Image
	servers  map[string]*fakeServer
	groups   map[string]*ServerGroup
	nets     map[string]*Net
	subnets  map[string]*Subnet
	ports    map[string]*Port
	sgs      map[string]*SecurityGroup
	rules    map[string]*SecurityGroupRule
	fips     map[string]*FloatingIP
	lbs      map[string]*fakeLB
	lis      map[string]*Listener
	pools    map[string]*Pool
	members  map[string]*Member
	monitors map[string]*Monitor
}

type fakeServer struct {
	Server
	userData []byte
	polls    int
}

type fakeLB struct {
	LB
	polls int
	next  string // status after the pending one: ACTIVE, or "" for gone
	// ownsVIPPort: the fake created the VIP port and deletes it with the load balancer.
	ownsVIPPort bool
}

type failure struct {
	err   error
	times int // <= 0: every call
}

var (
	_ Identity     = (*Fake)(nil)
	_ Compute      = (*Fake)(nil)
	_ Network      = (*Fake)(nil)
	_ LoadBalancer = (*Fake)(nil)
)

// NewFake returns an empty cloud: add flavors and images with AddFlavor and AddImage.
func NewFake() *Fake {
	return &Fake{
		ProvisioningPolls: 1, ServerPolls: 1,
		failures: map[string][]*failure{}, quotas: map[string]int{},
		scope:   Scope{ProjectID: "fake-project", ProjectName: "fake", UserID: "fake-user", UserName: "fake"},
		flavors: map[string]Flavor{}, images: map[string]Image{},
		servers: map[string]*fakeServer{}, groups: map[string]*ServerGroup{},
		nets: map[string]*Net{}, subnets: map[string]*Subnet{}, ports: map[string]*Port{},
		sgs: map[string]*SecurityGroup{}, rules: map[string]*SecurityGroupRule{}, fips: map[string]*FloatingIP{},
		lbs: map[string]*fakeLB{}, lis: map[string]*Listener{}, pools: map[string]*Pool{},
		members: map[string]*Member{}, monitors: map[string]*Monitor{},
	}
}

// Clients wraps the fake as the clients NewFromCloudsYAML would return.
func (f *Fake) Clients() *Clients {
	return &Clients{Identity: f, Compute: f, Network: f, LoadBalancer: f, Cloud: &CloudConfig{Name: "fake"}}
}

var fakeOps = func() map[string]bool {
	ops := map[string]bool{}
	for _, t := range []reflect.Type{reflect.TypeFor[Identity](), reflect.TypeFor[Compute](), reflect.TypeFor[Network](), reflect.TypeFor[LoadBalancer]()} {
		for i := range t.NumMethod() {
			ops[t.Method(i).Name] = true
		}
	}
	return ops
}()

// Inject makes the next times calls of op fail with err (times <= 0: every call until
// ClearInjections). Injections for one op are used in order. It panics on an op that is
// no method of the interfaces, so that a typo cannot silently inject nothing.
func (f *Fake) Inject(op string, err error, times int) {
	if !fakeOps[op] {
		panic(fmt.Sprintf("openstack.Fake: no operation %q", op))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[op] = append(f.failures[op], &failure{err: err, times: times})
}

// ClearInjections drops every injected failure.
func (f *Fake) ClearInjections() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = map[string][]*failure{}
}

// Calls returns the operations called so far, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// SetQuota limits how many resources of a kind the project may have: "instances",
// "server_groups", "network", "subnet", "port", "security_group", "floatingip",
// "load_balancer", "listener", "pool", "member", "health_monitor". A create beyond it
// fails with a *QuotaExceededError; a negative limit removes the quota.
func (f *Fake) SetQuota(resource string, limit int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if limit < 0 {
		delete(f.quotas, resource)
		return
	}
	f.quotas[resource] = limit
}

// SetScope sets what Scope returns.
func (f *Fake) SetScope(s Scope) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scope = s
}

// AddFlavor makes a flavor known; its ID is made up when empty.
func (f *Fake) AddFlavor(fl Flavor) Flavor {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl.ID = coalesce(fl.ID, f.id())
	f.flavors[fl.ID] = fl
	return fl
}

// AddImage makes an image known; its ID is made up when empty, its status is "active"
// unless given.
func (f *Fake) AddImage(img Image) Image {
	f.mu.Lock()
	defer f.mu.Unlock()
	img.ID = coalesce(img.ID, f.id())
	img.Status = coalesce(img.Status, "active")
	f.images[img.ID] = img
	return img
}

// SetServerStatus forces a server's status, e.g. ERROR with Nova's fault message.
func (f *Fake) SetServerStatus(id, status, fault string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.servers[id]
	if !ok {
		return fmt.Errorf("fake: no server %s", id)
	}
	s.Status, s.Fault, s.polls = status, fault, 0
	return nil
}

// SetProvisioningStatus forces a load balancer's provisioning_status, e.g. ERROR.
func (f *Fake) SetProvisioningStatus(id, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	lb, ok := f.lbs[id]
	if !ok {
		return fmt.Errorf("fake: no load balancer %s", id)
	}
	lb.ProvisioningStatus, lb.polls = status, 0
	return nil
}

// NewError makes an error of the given kind as the real client returns it, with the
// HTTP status the kind usually comes with (ErrTransient: 503, or a timeout when message
// is "timeout").
func NewError(kind error, message string) error {
	status := map[error]int{
		ErrNotFound: http.StatusNotFound, ErrConflict: http.StatusConflict, ErrInvalidInput: http.StatusBadRequest,
		ErrTransient: http.StatusServiceUnavailable, ErrUnauthorized: http.StatusUnauthorized, ErrForbidden: http.StatusForbidden,
	}[kind]
	if errors.Is(kind, ErrTransient) && message == "timeout" {
		return &APIError{Kind: ErrTransient, Message: "timeout awaiting response headers", cause: context.DeadlineExceeded}
	}
	return &APIError{Kind: kind, StatusCode: status, Message: message}
}

// TimeoutError is a request that got no answer in time.
func TimeoutError() error { return NewError(ErrTransient, "timeout") }

// NewQuotaError is a quota refusal for resource, as IsQuota reports it.
func NewQuotaError(resource string) error {
	return &QuotaExceededError{Resource: resource, Err: &APIError{Kind: ErrQuotaExceeded, StatusCode: http.StatusForbidden,
		Message: "Quota exceeded for " + resource}}
}

// begin records a call and returns an injected failure, or ctx's error. Holds f.mu.
func (f *Fake) begin(ctx context.Context, op string) error {
	f.calls = append(f.calls, op)
	if err := ctx.Err(); err != nil {
		return err
	}
	list := f.failures[op]
	if len(list) == 0 {
		return nil
	}
	fl := list[0]
	if fl.times > 0 {
		fl.times--
		if fl.times == 0 {
			f.failures[op] = list[1:]
		}
	}
	return fl.err
}

func (f *Fake) id() string {
	f.seq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", f.seq)
}

// quota refuses a create beyond SetQuota's limit. Holds f.mu.
func (f *Fake) quota(resource string, used int) error {
	if limit, ok := f.quotas[resource]; ok && used >= limit {
		return NewQuotaError(resource)
	}
	return nil
}

func notFound(kind, id string) error {
	return NewError(ErrNotFound, fmt.Sprintf("%s %s could not be found.", kind, id))
}

func tagged(tags []string, tag string) bool { return tag == "" || slices.Contains(tags, tag) }

// sortedValues lists a map's values in ID order, so that fakes list deterministically.
func sortedValues[T any](m map[string]*T, keep func(*T) bool) []T {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	out := []T{}
	for _, k := range keys {
		if keep(m[k]) {
			out = append(out, *m[k])
		}
	}
	return out
}

// Identity

// Scope returns what SetScope set.
func (f *Fake) Scope(ctx context.Context) (Scope, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "Scope"); err != nil {
		return Scope{}, fmt.Errorf("token scope: %w", err)
	}
	return f.scope, nil
}

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
	if err := validateTags(spec.Tags); err != nil {
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
