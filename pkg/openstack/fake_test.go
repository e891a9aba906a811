package openstack

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// fakeWithNetwork returns a fake with a flavor, an image, a network and a subnet.
func fakeWithNetwork(t *testing.T) (*Fake, Flavor, Image, *Net, *Subnet) {
	t.Helper()
	f := NewFake()
	fl := f.AddFlavor(Flavor{Name: "m1.large", VCPUs: 4, RAMMiB: 8192})
	img := f.AddImage(Image{Name: "ubuntu-24.04"})
	ctx := context.Background()
	n, err := f.CreateNetwork(ctx, NetSpec{Name: "acme", Tags: []string{TenantTag("uid-1")}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.CreateSubnet(ctx, SubnetSpec{Name: "acme", NetworkID: n.ID, CIDR: "10.0.0.0/24", Tags: []string{TenantTag("uid-1")}})
	if err != nil {
		t.Fatal(err)
	}
	return f, fl, img, n, s
}

func TestFakeInjection(t *testing.T) {
	ctx := context.Background()
	f, fl, img, n, _ := fakeWithNetwork(t)
	spec := ServerSpec{Name: "w-0", FlavorID: fl.ID, ImageID: img.ID, Networks: []ServerNetwork{{NetworkID: n.ID}}}

	t.Run("quota", func(t *testing.T) {
		f.Inject("CreateServer", NewQuotaError("instances"), 1)
		_, err := f.CreateServer(ctx, spec)
		if r, ok := IsQuota(err); !ok || r != "instances" {
			t.Errorf("err = %v, want a quota on instances", err)
		}
		if _, err := f.CreateServer(ctx, spec); err != nil {
			t.Errorf("the injection outlived its one call: %v", err)
		}
	})
	t.Run("conflict", func(t *testing.T) {
		f.Inject("DeleteNetwork", NewError(ErrConflict, "in use"), 1)
		if err := f.DeleteNetwork(ctx, n.ID); !IsConflict(err) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("404 during delete", func(t *testing.T) {
		s, err := f.CreateServer(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		f.Inject("DeleteServer", NewError(ErrNotFound, "gone"), 1)
		if err := f.DeleteServer(ctx, s.ID); !IsNotFound(err) || IgnoreNotFound(err) != nil {
			t.Errorf("err = %v", err)
		}
		if err := f.DeleteServer(ctx, s.ID); err != nil {
			t.Errorf("real delete after the injected 404: %v", err)
		}
		if err := f.DeleteServer(ctx, s.ID); !IsNotFound(err) {
			t.Errorf("second delete: err = %v, want a 404", err)
		}
	})
	t.Run("timeouts until cleared", func(t *testing.T) {
		f.Inject("ListServers", TimeoutError(), 0)
		for range 3 {
			if _, err := f.ListServers(ctx, ""); !IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v", err)
			}
		}
		f.ClearInjections()
		if _, err := f.ListServers(ctx, ""); err != nil {
			t.Errorf("after ClearInjections: %v", err)
		}
	})
	t.Run("in order", func(t *testing.T) {
		f.Inject("GetFlavor", TimeoutError(), 1)
		f.Inject("GetFlavor", NewError(ErrForbidden, "policy"), 1)
		_, err1 := f.GetFlavor(ctx, fl.ID)
		_, err2 := f.GetFlavor(ctx, fl.ID)
		got, err3 := f.GetFlavor(ctx, "m1.large")
		if !IsTransient(err1) || !IsForbidden(err2) || err3 != nil || got.ID != fl.ID {
			t.Errorf("errors %v, %v, %v", err1, err2, err3)
		}
	})
	t.Run("unknown op panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("Inject accepted an unknown operation")
			}
		}()
		f.Inject("CreateSever", TimeoutError(), 1)
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := f.GetNetwork(cctx, n.ID); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	})
	if calls := f.Calls(); !slices.Contains(calls, "CreateServer") || !slices.Contains(calls, "DeleteNetwork") {
		t.Errorf("calls = %v", calls)
	}
}

func TestFakeServers(t *testing.T) {
	ctx := context.Background()
	f, fl, img, n, _ := fakeWithNetwork(t)
	g, err := f.CreateServerGroup(ctx, "pool-a", PolicySoftAntiAffinity)
	if err != nil {
		t.Fatal(err)
	}
	tag := PoolTag("uid-2")
	spec := ServerSpec{Name: "w-0", FlavorID: fl.ID, ImageID: img.ID, Networks: []ServerNetwork{{NetworkID: n.ID}},
		UserData: []byte("#cloud-config\n"), Tags: []string{tag}, ServerGroupID: g.ID}
	s, err := f.CreateServer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.GetServer(ctx, s.ID); got.Status != "BUILD" {
		t.Errorf("first poll: %s, want BUILD", got.Status)
	}
	if got, _ := f.GetServer(ctx, s.ID); got.Status != "ACTIVE" || len(got.Addresses["acme"]) != 1 {
		t.Errorf("second poll: %+v", got)
	}
	if ud, _ := f.ServerUserData(ctx, s.ID); string(ud) != "#cloud-config\n" {
		t.Errorf("user data %q", ud)
	}
	if got, _ := f.GetServerGroup(ctx, g.ID); !slices.Equal(got.Members, []string{s.ID}) {
		t.Errorf("group members %v", got.Members)
	}
	if list, _ := f.ListServers(ctx, tag); len(list) != 1 {
		t.Errorf("list by tag: %v", list)
	}
	if list, _ := f.ListServers(ctx, PoolTag("other")); len(list) != 0 {
		t.Errorf("list by another tag: %v", list)
	}
	if err := f.SetServerStatus(s.ID, "ERROR", "No valid host was found."); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.GetServer(ctx, s.ID); got.Status != "ERROR" || got.Fault == "" {
		t.Errorf("after SetServerStatus: %+v", got)
	}

	f.SetQuota("instances", 1)
	spec.Name = "w-1"
	if _, err := f.CreateServer(ctx, spec); err == nil {
		t.Error("quota of 1 let a second server in")
	} else if r, _ := IsQuota(err); r != "instances" {
		t.Errorf("err = %v", err)
	}
	spec.FlavorID = "nope"
	f.SetQuota("instances", -1)
	if _, err := f.CreateServer(ctx, spec); !IsInvalidInput(err) {
		t.Errorf("unknown flavor: %v", err)
	}
}

func TestFakeNetwork(t *testing.T) {
	ctx := context.Background()
	f, _, _, n, s := fakeWithNetwork(t)
	sg, err := f.CreateSecurityGroup(ctx, SecurityGroupSpec{Name: "workers", Tags: []string{TenantTag("uid-1")}})
	if err != nil || len(sg.Rules) != 2 {
		t.Fatalf("security group %+v, %v", sg, err)
	}
	rule := SecurityGroupRuleSpec{SecurityGroupID: sg.ID, Direction: "ingress", Protocol: "tcp", PortRangeMin: 10250, PortRangeMax: 10250}
	if _, err := f.CreateSecurityGroupRule(ctx, rule); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateSecurityGroupRule(ctx, rule); !IsConflict(err) {
		t.Errorf("duplicate rule: %v", err)
	}
	p, err := f.CreatePort(ctx, PortSpec{Name: "w-0", NetworkID: n.ID, SecurityGroupIDs: []string{sg.ID}, Tags: []string{TenantTag("uid-1")}})
	if err != nil || len(p.FixedIPs) != 1 || p.FixedIPs[0].SubnetID != s.ID {
		t.Fatalf("port %+v, %v", p, err)
	}
	ext, _ := f.CreateNetwork(ctx, NetSpec{Name: "public"})
	fip, err := f.CreateFloatingIP(ctx, FloatingIPSpec{FloatingNetworkID: ext.ID, Tags: []string{TenantTag("uid-1")}})
	if err != nil || fip.PortID != "" {
		t.Fatalf("floating IP %+v, %v", fip, err)
	}
	if fip, err = f.AssociateFloatingIP(ctx, fip.ID, p.ID); err != nil || fip.FixedIP != p.FixedIPs[0].IPAddress || fip.Status != "ACTIVE" {
		t.Errorf("associated %+v, %v", fip, err)
	}
	for name, err := range map[string]error{
		"network with a port":   f.DeleteNetwork(ctx, n.ID),
		"subnet with a port":    f.DeleteSubnet(ctx, s.ID),
		"security group in use": f.DeleteSecurityGroup(ctx, sg.ID),
	} {
		if !IsConflict(err) {
			t.Errorf("delete %s: %v, want ErrConflict", name, err)
		}
	}
	if list, _ := f.ListPorts(ctx, TenantTag("uid-1")); len(list) != 1 {
		t.Errorf("ports by tag: %v", list)
	}
	for _, del := range []func() error{
		func() error { return f.DeletePort(ctx, p.ID) },
		func() error { return f.DeleteFloatingIP(ctx, fip.ID) },
		func() error { return f.DeleteSecurityGroup(ctx, sg.ID) },
		func() error { return f.DeleteNetwork(ctx, n.ID) },
	} {
		if err := del(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.GetSubnet(ctx, s.ID); !IsNotFound(err) {
		t.Errorf("the network's subnet survived it: %v", err)
	}
	if _, err := f.CreatePort(ctx, PortSpec{Name: "x", NetworkID: n.ID}); !IsNotFound(err) {
		t.Errorf("port on a deleted network: %v", err)
	}
}

// The fake follows Octavia: changes while the load balancer is PENDING_* are refused as
// transient, deletes of a load balancer with children need cascade, ERROR is reported.
func TestFakeLoadBalancer(t *testing.T) {
	ctx := context.Background()
	f, _, _, _, s := fakeWithNetwork(t)
	tag := TenantTag("uid-1")
	lb, err := f.CreateLoadBalancer(ctx, LBSpec{Name: "acme", VIPSubnetID: s.ID, Tags: []string{tag}})
	if err != nil || lb.ProvisioningStatus != StatusPendingCreate {
		t.Fatalf("lb %+v, %v", lb, err)
	}
	_, err = f.CreateListener(ctx, ListenerSpec{Name: "api", LoadBalancerID: lb.ID, Protocol: "TCP", Port: 6443, Tags: []string{tag}})
	if !IsTransient(err) {
		t.Fatalf("listener on a PENDING_CREATE load balancer: %v, want ErrTransient", err)
	}
	if lb, err = WaitForLoadBalancer(ctx, f, lb.ID, time.Millisecond); err != nil || lb.ProvisioningStatus != StatusActive {
		t.Fatalf("wait: %+v, %v", lb, err)
	}
	li, err := f.CreateListener(ctx, ListenerSpec{Name: "api", LoadBalancerID: lb.ID, Protocol: "TCP", Port: 6443, AllowedCIDRs: []string{"192.0.2.0/24"}, Tags: []string{tag}})
	if err != nil {
		t.Fatal(err)
	}
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, err := WaitForLoadBalancer(ctx, f, lb.ID, time.Millisecond); err != nil {
			t.Fatalf("wait after %s: %v", what, err)
		}
	}
	step("listener", nil)
	pool, err := f.CreatePool(ctx, PoolSpec{Name: "api", ListenerID: li.ID, Protocol: "TCP", Method: "ROUND_ROBIN", Tags: []string{tag}})
	step("pool", err)
	_, err = f.CreateMember(ctx, pool.ID, MemberSpec{Address: "192.0.2.10", Port: 31443, Tags: []string{tag}})
	step("member", err)
	_, err = f.CreateMonitor(ctx, MonitorSpec{PoolID: pool.ID, Type: "TCP", Delay: 5, Timeout: 3, MaxRetries: 3, Tags: []string{tag}})
	step("monitor", err)
	_, err = f.CreateMember(ctx, pool.ID, MemberSpec{Address: "192.0.2.10", Port: 31443})
	if !IsConflict(err) {
		t.Errorf("duplicate member: %v", err)
	}
	if got, _ := f.GetLoadBalancer(ctx, lb.ID); len(got.ListenerIDs) != 1 || len(got.PoolIDs) != 1 {
		t.Errorf("children of the load balancer: %+v", got)
	}
	if err := f.DeleteLoadBalancer(ctx, lb.ID, false); !IsInvalidInput(err) {
		t.Errorf("delete without cascade: %v", err)
	}
	if err := f.DeleteLoadBalancer(ctx, lb.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := WaitForLoadBalancerDeleted(ctx, f, lb.ID, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for what, n := range map[string]int{
		"load balancers": len(must(f.ListLoadBalancers(ctx, tag))), "listeners": len(must(f.ListListeners(ctx, tag))),
		"pools": len(must(f.ListPools(ctx, tag))), "monitors": len(must(f.ListMonitors(ctx, tag))),
	} {
		if n != 0 {
			t.Errorf("%d %s left after the cascade delete", n, what)
		}
	}
	if err := f.DeleteLoadBalancer(ctx, lb.ID, true); !IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}

	// ERROR ends a wait.
	lb2, _ := f.CreateLoadBalancer(ctx, LBSpec{Name: "broken", VIPSubnetID: s.ID})
	if err := f.SetProvisioningStatus(lb2.ID, StatusError); err != nil {
		t.Fatal(err)
	}
	if _, err := WaitForLoadBalancer(ctx, f, lb2.ID, time.Millisecond); !IsProvisioningFailed(err) {
		t.Errorf("wait on ERROR: %v", err)
	}
	// A wait ends with its context.
	f.ProvisioningPolls = 1000
	lb3, _ := f.CreateLoadBalancer(ctx, LBSpec{Name: "slow", VIPSubnetID: s.ID})
	wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := WaitForLoadBalancer(wctx, f, lb3.ID, time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past its deadline: %v", err)
	}
	f.SetQuota("load_balancer", 2)
	if _, err := f.CreateLoadBalancer(ctx, LBSpec{Name: "one-too-many", VIPSubnetID: s.ID}); err == nil {
		t.Error("quota ignored")
	} else if r, _ := IsQuota(err); r != "load_balancer" {
		t.Errorf("quota err = %v", err)
	}
}

func TestFakeClients(t *testing.T) {
	f := NewFake()
	c := f.Clients()
	if c.Compute.Microversion() != ComputeMaxMicroversion || c.LoadBalancer.APIVersion() != "2.26" {
		t.Errorf("versions %s, %s", c.Compute.Microversion(), c.LoadBalancer.APIVersion())
	}
	f.SetScope(Scope{ProjectID: "p"})
	if s, err := c.Identity.Scope(context.Background()); err != nil || s.ProjectID != "p" {
		t.Errorf("scope %+v, %v", s, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
