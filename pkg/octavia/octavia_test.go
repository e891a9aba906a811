package octavia

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// These tests run against openstack.Fake, an in-memory stand-in for Octavia and Neutron:
// a real cloud cannot run in the fast tier. The same flow runs against the test cloud in
// the e2e tier (e2e/octavia_test.go).

const (
	tenantUID = "6a1c0f8e-2b1d-4c3e-9f00-0123456789ab"
	seedID    = "0f0e0d0c-0b0a-4908-8706-050403020100"
)

type cloud struct {
	fake     *openstack.Fake
	subnetID string
	publicID string
}

func newCloud(t *testing.T) cloud {
	t.Helper()
	ctx := context.Background()
	f := openstack.NewFake()
	n, err := f.CreateNetwork(ctx, openstack.NetSpec{Name: "customer-net"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.CreateSubnet(ctx, openstack.SubnetSpec{Name: "customer-subnet", NetworkID: n.ID, CIDR: "10.0.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := f.CreateNetwork(ctx, openstack.NetSpec{Name: "public"})
	if err != nil {
		t.Fatal(err)
	}
	return cloud{fake: f, subnetID: s.ID, publicID: pub.ID}
}

func (c cloud) clients() Clients { return Clients{LoadBalancer: c.fake, Network: c.fake} }

func (c cloud) desired() Desired {
	return Desired{
		TenantUID: tenantUID, Name: "kubeseed-demo-small", SeedID: seedID, SubnetID: c.subnetID,
		Backends: []string{"192.0.2.10", "192.0.2.11"},
		Ports:    []Port{{Name: "apiserver", Port: 6443, NodePort: 31443}, {Name: "tunnel", Port: 8132, NodePort: 31132}},
	}
}

// converge calls Ensure until Ready, failing after max calls.
func converge(t *testing.T, c Clients, d Desired, limit int) State {
	t.Helper()
	for range limit {
		st, err := Ensure(context.Background(), c, d)
		if err != nil {
			t.Fatalf("Ensure: %v", err)
		}
		if st.Ready {
			return st
		}
		if st.Progress == "" {
			t.Fatalf("not Ready and no progress message: %+v", st)
		}
	}
	t.Fatalf("not Ready after %d calls", limit)
	return State{}
}

func mutations(calls []string) []string {
	return slices.DeleteFunc(slices.Clone(calls), func(op string) bool {
		return strings.HasPrefix(op, "Get") || strings.HasPrefix(op, "List")
	})
}

func TestEnsureConverges(t *testing.T) {
	cases := []struct {
		name     string
		floating bool
		cidrs    []string
	}{
		{name: "VIP"},
		{name: "floating IP", floating: true},
		{name: "allowed CIDRs", cidrs: []string{"198.51.100.0/24"}},
		// Octavia stores CIDRs masked and canonical; a spelling that differs must not make
		// every pass update the listener.
		{name: "non-canonical CIDRs", cidrs: []string{"2001:DB8::/32", "198.51.100.7/24"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloud(t)
			d := c.desired()
			d.AllowedCIDRs = tc.cidrs
			if tc.floating {
				d.FloatingNetworkID = c.publicID
			}
			setup := len(c.fake.Calls()) // the test's networks
			first, err := Ensure(context.Background(), c.clients(), d)
			if err != nil {
				t.Fatal(err)
			}
			// The address to publish is known from the first step (floating: the second),
			// long before the load balancer is ready: certificates must not wait for it.
			if !tc.floating && first.Address == "" {
				t.Fatalf("no address after the create: %+v", first)
			}
			st := converge(t, c.clients(), d, 40)
			// One provisioning: the children came with the load balancer (fully populated).
			want := []string{"CreateLoadBalancer"}
			if tc.floating {
				want = append(want, "CreateFloatingIP")
			}
			if m := mutations(c.fake.Calls()[setup:]); !slices.Equal(m, want) {
				t.Errorf("changes made to create the endpoint: %v, want %v", m, want)
			}
			if tc.floating {
				if !strings.HasPrefix(st.Address, "203.0.113.") || st.Address != st.FloatingIP {
					t.Errorf("published %q, want the floating IP %q", st.Address, st.FloatingIP)
				}
			} else if st.Address != st.VIP || st.Address != first.Address {
				t.Errorf("published %q, want the VIP %q allocated first (%q)", st.Address, st.VIP, first.Address)
			}

			ctx := context.Background()
			tag := openstack.TenantTag(tenantUID)
			lis, _ := c.fake.ListListeners(ctx, tag)
			pools, _ := c.fake.ListPools(ctx, tag)
			mons, _ := c.fake.ListMonitors(ctx, tag)
			if len(lis) != 2 || len(pools) != 2 || len(mons) != 2 {
				t.Fatalf("got %d listeners, %d pools, %d monitors; want 2 of each", len(lis), len(pools), len(mons))
			}
			for _, l := range lis {
				if !sameSet(l.AllowedCIDRs, tc.cidrs) || l.Protocol != "TCP" {
					t.Errorf("listener %s: protocol %s, allowed %v; want TCP, %v", l.Name, l.Protocol, l.AllowedCIDRs, tc.cidrs)
				}
				if !openstack.HasTag(l.Tags, SeedTag(seedID)) {
					t.Errorf("listener %s lacks the seed tag: %v", l.Name, l.Tags)
				}
			}
			for _, p := range pools {
				ms, _ := c.fake.ListMembers(ctx, p.ID)
				var got []string
				for _, m := range ms {
					got = append(got, m.Name)
				}
				slices.Sort(got)
				want := map[string][]string{
					"kubeseed-demo-small-apiserver": {"192.0.2.10:31443", "192.0.2.11:31443"},
					"kubeseed-demo-small-tunnel":    {"192.0.2.10:31132", "192.0.2.11:31132"},
				}[p.Name]
				if !slices.Equal(got, want) {
					t.Errorf("pool %s members %v, want %v", p.Name, got, want)
				}
			}

			// Converged: another pass reads and writes nothing.
			before := len(c.fake.Calls())
			again, err := Ensure(ctx, c.clients(), d)
			if err != nil || !again.Ready || again.Address != st.Address {
				t.Fatalf("second pass: %+v, %v", again, err)
			}
			if m := mutations(c.fake.Calls()[before:]); len(m) > 0 {
				t.Errorf("a converged endpoint was changed: %v", m)
			}
		})
	}
}

func TestEnsureFollowsChanges(t *testing.T) {
	c := newCloud(t)
	d := c.desired()
	converge(t, c.clients(), d, 40)
	ctx := context.Background()

	d.Backends = []string{"192.0.2.11", "192.0.2.12"}
	d.AllowedCIDRs = []string{"10.0.0.0/8"}
	converge(t, c.clients(), d, 20)
	pools, _ := c.fake.ListPools(ctx, openstack.TenantTag(tenantUID))
	for _, p := range pools {
		ms, _ := c.fake.ListMembers(ctx, p.ID)
		var addrs []string
		for _, m := range ms {
			addrs = append(addrs, m.Address)
		}
		slices.Sort(addrs)
		if !slices.Equal(addrs, d.Backends) {
			t.Errorf("pool %s members %v, want %v", p.Name, addrs, d.Backends)
		}
	}
	lis, _ := c.fake.ListListeners(ctx, openstack.TenantTag(tenantUID))
	for _, l := range lis {
		if !sameSet(l.AllowedCIDRs, d.AllowedCIDRs) {
			t.Errorf("listener %s allows %v, want %v", l.Name, l.AllowedCIDRs, d.AllowedCIDRs)
		}
	}

	// The tunnel is no longer published: its listener and pool go.
	d.Ports = d.Ports[:1]
	converge(t, c.clients(), d, 20)
	lis, _ = c.fake.ListListeners(ctx, openstack.TenantTag(tenantUID))
	pools, _ = c.fake.ListPools(ctx, openstack.TenantTag(tenantUID))
	if len(lis) != 1 || len(pools) != 1 || lis[0].Port != 6443 {
		t.Errorf("after unpublishing the tunnel: %d listeners, %d pools", len(lis), len(pools))
	}
}

func TestEnsureErrors(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(c cloud, d *Desired)
		check  func(t *testing.T, err error)
		inject string
	}{
		{
			name:  "quota names the resource",
			setup: func(c cloud, _ *Desired) { c.fake.SetQuota("load_balancer", 0) },
			check: func(t *testing.T, err error) {
				if res, ok := openstack.IsQuota(err); !ok || res != "load_balancer" {
					t.Errorf("got %v, want a quota error for load_balancer", err)
				}
			},
		},
		{
			name:  "missing subnet is the spec's fault",
			setup: func(_ cloud, d *Desired) { d.SubnetID = "no-such-subnet" },
			check: func(t *testing.T, err error) {
				if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "spec.endpoint.octavia.subnetID") {
					t.Errorf("got %v, want ErrInvalidSpec naming spec.endpoint.octavia.subnetID", err)
				}
			},
		},
		{
			name:  "missing floating network is the spec's fault",
			setup: func(_ cloud, d *Desired) { d.FloatingNetworkID = "no-such-network" },
			check: func(t *testing.T, err error) {
				if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "spec.endpoint.octavia.floatingNetworkID") {
					t.Errorf("got %v, want ErrInvalidSpec naming floatingNetworkID", err)
				}
			},
		},
		{
			name: "timeout is transient",
			setup: func(c cloud, _ *Desired) {
				c.fake.Inject("ListLoadBalancers", openstack.TimeoutError(), 1)
			},
			check: func(t *testing.T, err error) {
				if !openstack.IsTransient(err) {
					t.Errorf("got %v, want a transient error", err)
				}
			},
		},
		{
			name: "expired credentials",
			setup: func(c cloud, _ *Desired) {
				c.fake.Inject("ListLoadBalancers", openstack.NewError(openstack.ErrUnauthorized, "The request you have made requires authentication."), 1)
			},
			check: func(t *testing.T, err error) {
				if !openstack.IsUnauthorized(err) {
					t.Errorf("got %v, want unauthorized", err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloud(t)
			d := c.desired()
			tc.setup(c, &d)
			_, err := Ensure(context.Background(), c.clients(), d)
			if err == nil {
				t.Fatal("Ensure succeeded")
			}
			tc.check(t, err)
			if lbs, _ := c.fake.ListLoadBalancers(context.Background(), ""); len(lbs) > 0 {
				t.Errorf("a load balancer was created: %v", lbs)
			}
		})
	}
}

func TestEnsureConflictMidway(t *testing.T) {
	// Octavia's 409 for a load balancer still PENDING_UPDATE comes back as transient
	// (the client retried already); the next pass carries on where it stopped.
	c := newCloud(t)
	d := c.desired()
	// Made with one port, then given another: the second is added a child at a time.
	ports := d.Ports
	d.Ports = ports[:1]
	converge(t, c.clients(), d, 40)
	d.Ports = ports
	for i := 0; ; i++ {
		st, err := Ensure(context.Background(), c.clients(), d)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(st.Progress, "creating listener") {
			break
		}
		if i == 20 {
			t.Fatalf("no listener created after 20 passes: %+v", st)
		}
	}
	c.fake.Inject("CreatePool", openstack.NewError(openstack.ErrTransient, "Load Balancer is immutable and cannot be updated."), 1)
	var err error
	for range 5 {
		if _, err = Ensure(context.Background(), c.clients(), d); err != nil {
			break
		}
	}
	if !openstack.IsTransient(err) {
		t.Fatalf("got %v, want the injected transient conflict", err)
	}
	converge(t, c.clients(), d, 40)
}

func TestEnsureReplacesErroredLoadBalancer(t *testing.T) {
	c := newCloud(t)
	d := c.desired()
	st := converge(t, c.clients(), d, 40)
	if err := c.fake.SetProvisioningStatus(st.LoadBalancerID, openstack.StatusError); err != nil {
		t.Fatal(err)
	}
	_, err := Ensure(context.Background(), c.clients(), d)
	if !openstack.IsProvisioningFailed(err) {
		t.Fatalf("got %v, want provisioning failed", err)
	}
	d.VIPAddress = st.VIP // as the controller passes the published one
	again := converge(t, c.clients(), d, 40)
	if again.LoadBalancerID == st.LoadBalancerID {
		t.Error("the load balancer in ERROR was kept")
	}
	if again.VIP != st.VIP {
		t.Errorf("the replacement's VIP is %s, want the published %s kept", again.VIP, st.VIP)
	}
	lbs, _ := c.fake.ListLoadBalancers(context.Background(), openstack.TenantTag(tenantUID))
	if len(lbs) != 1 {
		t.Errorf("%d load balancers, want 1", len(lbs))
	}
}

func TestEnsureAdoptsDuplicates(t *testing.T) {
	// A create whose answer was lost and retried leaves two; one is kept.
	c := newCloud(t)
	d := c.desired()
	ctx := context.Background()
	for range 2 {
		if _, err := c.fake.CreateLoadBalancer(ctx, openstack.LBSpec{Name: d.Name, VIPSubnetID: d.SubnetID, Tags: tags(d)}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		converge(t, c.clients(), d, 40)
		// The fake settles a PENDING_* state of a load balancer on reads of it.
		for _, lb := range mustList(t, c.fake) {
			_, _ = c.fake.GetLoadBalancer(ctx, lb.ID)
		}
	}
	if lbs := mustList(t, c.fake); len(lbs) != 1 {
		t.Errorf("%d load balancers left, want 1", len(lbs))
	}
}

func mustList(t *testing.T, f *openstack.Fake) []openstack.LB {
	t.Helper()
	lbs, err := f.ListLoadBalancers(context.Background(), openstack.TenantTag(tenantUID))
	if err != nil {
		t.Fatal(err)
	}
	return lbs
}

func TestDelete(t *testing.T) {
	cases := []struct {
		name   string
		inject func(f *openstack.Fake)
	}{
		{name: "plain"},
		{name: "404 during delete", inject: func(f *openstack.Fake) {
			f.Inject("DeleteLoadBalancer", openstack.NewError(openstack.ErrNotFound, "Load Balancer not found"), 1)
		}},
		{name: "409 while busy", inject: func(f *openstack.Fake) {
			f.Inject("DeleteLoadBalancer", openstack.NewError(openstack.ErrTransient, "Invalid state PENDING_UPDATE"), 1)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloud(t)
			d := c.desired()
			d.FloatingNetworkID = c.publicID
			converge(t, c.clients(), d, 40)
			if tc.inject != nil {
				tc.inject(c.fake)
			}
			ctx := context.Background()
			gone := false
			for range 10 {
				var err error
				if gone, err = Delete(ctx, c.clients(), tenantUID); err != nil {
					t.Fatal(err)
				}
				if gone {
					break
				}
			}
			if !gone {
				t.Fatal("not gone after 10 passes")
			}
			fips, _ := c.fake.ListFloatingIPs(ctx, "")
			ports, _ := c.fake.ListPorts(ctx, "")
			if len(fips) != 0 || len(ports) != 0 {
				t.Errorf("left %d floating IPs and %d ports", len(fips), len(ports))
			}
		})
	}
}

func TestSweep(t *testing.T) {
	c := newCloud(t)
	ctx := context.Background()
	mk := func(uid, seed string) {
		d := c.desired()
		d.TenantUID, d.SeedID, d.FloatingNetworkID = uid, seed, c.publicID
		converge(t, c.clients(), d, 40)
	}
	const alive, gone, other = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	mk(alive, seedID)
	mk(gone, seedID)
	mk(other, "99999999-9999-4999-8999-999999999999") // another seed's tenant: never ours to judge
	deleted, err := Sweep(ctx, c.clients(), seedID, func(uid string) bool { return uid == alive })
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 {
		t.Errorf("deleted %v, want the gone tenant's load balancer and floating IP", deleted)
	}
	for uid, want := range map[string]int{alive: 1, gone: 0, other: 1} {
		lbs, _ := c.fake.ListLoadBalancers(ctx, openstack.TenantTag(uid))
		lbs = slices.DeleteFunc(lbs, func(lb openstack.LB) bool { return lb.ProvisioningStatus == openstack.StatusPendingDelete })
		if len(lbs) != want {
			t.Errorf("tenant %s: %d load balancers, want %d", uid, len(lbs), want)
		}
	}
}
