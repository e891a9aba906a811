package openstack

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
)

// LoadBalancer is what kubeseed needs from Octavia (API v2). Every change to a load
// balancer or its children puts the load balancer in PENDING_UPDATE until the change is
// done; a second change meanwhile fails with ErrTransient (after the client's retries).
// Call WaitForLoadBalancer between steps. List calls return the project's resources
// carrying tag (all when tag is ""); deletes return ErrNotFound when already gone.
type LoadBalancer interface {
	CreateLoadBalancer(ctx context.Context, spec LBSpec) (*LB, error)
	GetLoadBalancer(ctx context.Context, id string) (*LB, error)
	ListLoadBalancers(ctx context.Context, tag string) ([]LB, error)
	// DeleteLoadBalancer deletes it; cascade takes its listeners, pools, members and
	// monitors with it (without, Octavia refuses while it has any).
	DeleteLoadBalancer(ctx context.Context, id string, cascade bool) error

	CreateListener(ctx context.Context, spec ListenerSpec) (*Listener, error)
	GetListener(ctx context.Context, id string) (*Listener, error)
	ListListeners(ctx context.Context, tag string) ([]Listener, error)
	// SetListenerAllowedCIDRs replaces who may connect; empty allows everyone.
	SetListenerAllowedCIDRs(ctx context.Context, id string, cidrs []string) (*Listener, error)
	DeleteListener(ctx context.Context, id string) error

	CreatePool(ctx context.Context, spec PoolSpec) (*Pool, error)
	GetPool(ctx context.Context, id string) (*Pool, error)
	ListPools(ctx context.Context, tag string) ([]Pool, error)
	DeletePool(ctx context.Context, id string) error

	CreateMember(ctx context.Context, poolID string, spec MemberSpec) (*Member, error)
	GetMember(ctx context.Context, poolID, id string) (*Member, error)
	ListMembers(ctx context.Context, poolID string) ([]Member, error)
	DeleteMember(ctx context.Context, poolID, id string) error

	CreateMonitor(ctx context.Context, spec MonitorSpec) (*Monitor, error)
	GetMonitor(ctx context.Context, id string) (*Monitor, error)
	ListMonitors(ctx context.Context, tag string) ([]Monitor, error)
	DeleteMonitor(ctx context.Context, id string) error

	// APIVersion is the newest Octavia API version the cloud advertises ("2.26" on Zed),
	// "" when it did not say.
	APIVersion() string
}

// Octavia provisioning statuses.
const (
	StatusActive        = "ACTIVE"
	StatusError         = "ERROR"
	StatusPendingCreate = "PENDING_CREATE"
	StatusPendingUpdate = "PENDING_UPDATE"
	StatusPendingDelete = "PENDING_DELETE"
	StatusDeleted       = "DELETED"
)

// LBSpec describes a load balancer; its VIP comes from VIPSubnetID, VIPNetworkID or an
// existing VIPPortID.
type LBSpec struct {
	Name, Description                    string
	VIPSubnetID, VIPNetworkID, VIPPortID string
	VIPAddress                           string
	FlavorID, AvailabilityZone           string
	// Provider is the Octavia provider driver (amphora, ovn); the cloud's default if "".
	Provider string
	Tags     []string
	// Listeners are created with the load balancer in one call (Octavia's fully populated
	// create), each with its default pool, the pool's members and health monitor: one
	// provisioning instead of one per child. Empty creates the load balancer alone.
	Listeners []LBListenerSpec
}

// LBListenerSpec is a listener made with its load balancer (LoadBalancerID and
// DefaultPoolID are not used) and its default pool.
type LBListenerSpec struct {
	ListenerSpec
	Pool *LBPoolSpec
}

// LBPoolSpec is a pool made with its listener (LoadBalancerID and ListenerID are not used),
// with its members and health monitor (whose PoolID is not used).
type LBPoolSpec struct {
	PoolSpec
	Members []MemberSpec
	Monitor *MonitorSpec
}

// populatedTags are every tag of a fully populated create, children's too.
func (s LBSpec) populatedTags() []string {
	out := slices.Clone(s.Tags)
	for _, l := range s.Listeners {
		out = append(out, l.Tags...)
		if p := l.Pool; p != nil {
			out = append(out, p.Tags...)
			for _, m := range p.Members {
				out = append(out, m.Tags...)
			}
			if p.Monitor != nil {
				out = append(out, p.Monitor.Tags...)
			}
		}
	}
	return out
}

// LB is an Octavia load balancer.
type LB struct {
	ID, Name                            string
	ProvisioningStatus, OperatingStatus string
	VIPAddress, VIPPortID, VIPSubnetID  string
	VIPNetworkID, Provider              string
	ListenerIDs, PoolIDs                []string
	Tags                                []string
}

// ListenerSpec describes a listener. Protocol is TCP, HTTP, HTTPS, UDP...
type ListenerSpec struct {
	Name, LoadBalancerID, Protocol string
	Port                           int
	DefaultPoolID                  string
	AllowedCIDRs                   []string
	// Timeouts in milliseconds; nil keeps Octavia's 50 s. A kube-apiserver's watches
	// want much longer client and member data timeouts.
	TimeoutClientData, TimeoutMemberData *int
	Tags                                 []string
}

// Listener is an Octavia listener.
type Listener struct {
	ID, Name, Protocol                  string
	Port                                int
	LoadBalancerID, DefaultPoolID       string
	ProvisioningStatus, OperatingStatus string
	AllowedCIDRs                        []string
	Tags                                []string
}

type loadBalancer struct {
	s       *session
	sc      *gophercloud.ServiceClient
	version Microversion
}

var _ LoadBalancer = (*loadBalancer)(nil)

func (l *loadBalancer) APIVersion() string {
	if l.version.IsZero() {
		return ""
	}
	return l.version.String()
}

// checkTags refuses tags an Octavia older than 2.5 would drop silently or reject.
func (l *loadBalancer) checkTags(tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	if !l.version.IsZero() && !l.version.AtLeast(octaviaTags) {
		return invalidInput("the cloud's Octavia API %s has no tags (they came with %s)", l.version, octaviaTags)
	}
	return validateTags(tags)
}

func (l *loadBalancer) CreateLoadBalancer(ctx context.Context, spec LBSpec) (*LB, error) {
	if err := l.checkTags(spec.populatedTags()); err != nil {
		return nil, fmt.Errorf("create load balancer %s: %w", spec.Name, err)
	}
	lb, err := loadbalancers.Create(ctx, l.sc, loadbalancers.CreateOpts{
		Name: spec.Name, Description: spec.Description,
		VipSubnetID: spec.VIPSubnetID, VipNetworkID: spec.VIPNetworkID, VipPortID: spec.VIPPortID, VipAddress: spec.VIPAddress,
		FlavorID: spec.FlavorID, AvailabilityZone: spec.AvailabilityZone, Provider: spec.Provider, Tags: spec.Tags,
		Listeners: populatedListeners(spec.Listeners),
	}).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "create load balancer %s", spec.Name)
	}
	out := toLB(*lb)
	return &out, nil
}

func (l *loadBalancer) GetLoadBalancer(ctx context.Context, id string) (*LB, error) {
	lb, err := loadbalancers.Get(ctx, l.sc, id).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "get load balancer %s", id)
	}
	out := toLB(*lb)
	return &out, nil
}

func (l *loadBalancer) ListLoadBalancers(ctx context.Context, tag string) ([]LB, error) {
	opts := loadbalancers.ListOpts{}
	if tag != "" {
		opts.Tags = []string{tag}
	}
	pages, err := loadbalancers.List(l.sc, opts).AllPages(ctx)
	if err != nil {
		return nil, l.s.wrap(err, "list load balancers tagged %q", tag)
	}
	list, err := loadbalancers.ExtractLoadBalancers(pages)
	if err != nil {
		return nil, l.s.wrap(err, "list load balancers tagged %q", tag)
	}
	return convert(list, toLB), nil
}

func (l *loadBalancer) DeleteLoadBalancer(ctx context.Context, id string, cascade bool) error {
	err := loadbalancers.Delete(ctx, l.sc, id, loadbalancers.DeleteOpts{Cascade: cascade}).ExtractErr()
	return l.s.wrap(err, "delete load balancer %s", id)
}

func toLB(lb loadbalancers.LoadBalancer) LB {
	out := LB{ID: lb.ID, Name: lb.Name, ProvisioningStatus: lb.ProvisioningStatus, OperatingStatus: lb.OperatingStatus,
		VIPAddress: lb.VipAddress, VIPPortID: lb.VipPortID, VIPSubnetID: lb.VipSubnetID, VIPNetworkID: lb.VipNetworkID,
		Provider: lb.Provider, Tags: lb.Tags}
	for _, li := range lb.Listeners {
		out.ListenerIDs = append(out.ListenerIDs, li.ID)
	}
	for _, p := range lb.Pools {
		out.PoolIDs = append(out.PoolIDs, p.ID)
	}
	return out
}

func (l *loadBalancer) CreateListener(ctx context.Context, spec ListenerSpec) (*Listener, error) {
	if err := l.checkTags(spec.Tags); err != nil {
		return nil, fmt.Errorf("create listener %s: %w", spec.Name, err)
	}
	li, err := listeners.Create(ctx, l.sc, listeners.CreateOpts{
		Name: spec.Name, LoadbalancerID: spec.LoadBalancerID,
		Protocol: listeners.Protocol(spec.Protocol), ProtocolPort: spec.Port,
		DefaultPoolID: spec.DefaultPoolID, AllowedCIDRs: spec.AllowedCIDRs,
		TimeoutClientData: spec.TimeoutClientData, TimeoutMemberData: spec.TimeoutMemberData,
		Tags: spec.Tags,
	}).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "create listener %s", spec.Name)
	}
	out := toListener(*li)
	return &out, nil
}

func (l *loadBalancer) GetListener(ctx context.Context, id string) (*Listener, error) {
	li, err := listeners.Get(ctx, l.sc, id).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "get listener %s", id)
	}
	out := toListener(*li)
	return &out, nil
}

func (l *loadBalancer) ListListeners(ctx context.Context, tag string) ([]Listener, error) {
	opts := listeners.ListOpts{}
	if tag != "" {
		opts.Tags = []string{tag}
	}
	pages, err := listeners.List(l.sc, opts).AllPages(ctx)
	if err != nil {
		return nil, l.s.wrap(err, "list listeners tagged %q", tag)
	}
	list, err := listeners.ExtractListeners(pages)
	if err != nil {
		return nil, l.s.wrap(err, "list listeners tagged %q", tag)
	}
	return convert(list, toListener), nil
}

func (l *loadBalancer) SetListenerAllowedCIDRs(ctx context.Context, id string, cidrs []string) (*Listener, error) {
	if cidrs == nil {
		cidrs = []string{}
	}
	li, err := listeners.Update(ctx, l.sc, id, listeners.UpdateOpts{AllowedCIDRs: &cidrs}).Extract()
	if err != nil {
		return nil, l.s.wrap(err, "set allowed CIDRs of listener %s", id)
	}
	out := toListener(*li)
	return &out, nil
}

func (l *loadBalancer) DeleteListener(ctx context.Context, id string) error {
	return l.s.wrap(listeners.Delete(ctx, l.sc, id).ExtractErr(), "delete listener %s", id)
}

func toListener(li listeners.Listener) Listener {
	out := Listener{ID: li.ID, Name: li.Name, Protocol: li.Protocol, Port: li.ProtocolPort, DefaultPoolID: li.DefaultPoolID,
		ProvisioningStatus: li.ProvisioningStatus, OperatingStatus: li.OperatingStatus, AllowedCIDRs: li.AllowedCIDRs, Tags: li.Tags}
	if len(li.Loadbalancers) > 0 {
		out.LoadBalancerID = li.Loadbalancers[0].ID
	}
	return out
}

// DefaultPollInterval is how often the Wait helpers look when given 0.
const DefaultPollInterval = 2 * time.Second

// WaitForLoadBalancer polls until the load balancer's provisioning_status is ACTIVE and
// returns it. ERROR ends the wait with ErrProvisioningFailed; transient failures are
// waited out; ctx bounds the whole wait.
func WaitForLoadBalancer(ctx context.Context, lbs LoadBalancer, id string, interval time.Duration) (*LB, error) {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	last := "unknown"
	for {
		lb, err := lbs.GetLoadBalancer(ctx, id)
		switch {
		case err == nil && lb.ProvisioningStatus == StatusActive:
			return lb, nil
		case err == nil && lb.ProvisioningStatus == StatusError:
			return lb, fmt.Errorf("load balancer %s: %w", id, &APIError{Kind: ErrProvisioningFailed, Message: "provisioning_status is ERROR"})
		case err == nil:
			last = lb.ProvisioningStatus
		case !IsTransient(err):
			return nil, fmt.Errorf("wait for load balancer %s: %w", id, err)
		}
		if err := sleep(ctx, interval); err != nil {
			return nil, fmt.Errorf("wait for load balancer %s to become ACTIVE, still %s: %w", id, last, err)
		}
	}
}

// WaitForLoadBalancerDeleted polls until the load balancer is gone (404 or DELETED).
func WaitForLoadBalancerDeleted(ctx context.Context, lbs LoadBalancer, id string, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	last := "unknown"
	for {
		lb, err := lbs.GetLoadBalancer(ctx, id)
		switch {
		case IsNotFound(err), err == nil && lb.ProvisioningStatus == StatusDeleted:
			return nil
		case err == nil && lb.ProvisioningStatus == StatusError:
			return fmt.Errorf("load balancer %s: %w", id, &APIError{Kind: ErrProvisioningFailed, Message: "provisioning_status is ERROR while deleting"})
		case err == nil:
			last = lb.ProvisioningStatus
		case !IsTransient(err):
			return fmt.Errorf("wait for load balancer %s to go: %w", id, err)
		}
		if err := sleep(ctx, interval); err != nil {
			return fmt.Errorf("wait for load balancer %s to go, still %s: %w", id, last, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
