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

	containers map[string]map[string]*fakeObject
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
	return &Clients{Identity: f, Compute: f, Network: f, LoadBalancer: f, ObjectStore: f, Cloud: &CloudConfig{Name: "fake"}}
}

var fakeOps = func() map[string]bool {
	ops := map[string]bool{}
	for _, t := range []reflect.Type{reflect.TypeFor[Identity](), reflect.TypeFor[Compute](), reflect.TypeFor[Network](), reflect.TypeFor[LoadBalancer](), reflect.TypeFor[ObjectStore]()} {
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
