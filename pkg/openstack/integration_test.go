package openstack

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// The integration test runs against a real cloud when KUBESEED_OPENSTACK_CLOUDS names a
// clouds.yaml with two clouds: "customer" (a project member; everything is created
// there) and "admin" (reads user_data back). Optional:
//
//	KUBESEED_OPENSTACK_FLAVOR            flavor name or ID (default m1.tiny)
//	KUBESEED_OPENSTACK_IMAGE             image name or ID (default cirros)
//	KUBESEED_OPENSTACK_EXTERNAL_NETWORK  network ID for a floating IP (skipped when unset)
//	KUBESEED_OPENSTACK_CUSTOMER_SUBNET   subnet with a router to that network, for the
//	                                     floating IP's port (needed with the one above)
//
// Everything it creates carries a tag unique to the run; it deletes all of it and then
// checks that nothing with the tag is left.
const cloudsEnv = "KUBESEED_OPENSTACK_CLOUDS"

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func randomUID(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func TestIntegrationRealCloud(t *testing.T) {
	path := os.Getenv(cloudsEnv)
	if path == "" {
		t.Skipf("%s is not set: no real cloud to test against (set it to a clouds.yaml with clouds \"admin\" and \"customer\")", cloudsEnv)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", cloudsEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	customer, err := NewFromCloudsYAML(ctx, data, "customer", Options{})
	if err != nil {
		t.Fatalf("customer cloud: %v", err)
	}
	admin, err := NewFromCloudsYAML(ctx, data, "admin", Options{Services: []Service{ServiceCompute}})
	if err != nil {
		t.Fatalf("admin cloud: %v", err)
	}
	t.Logf("compute microversion %s, Octavia API %s", customer.Compute.Microversion(), customer.LoadBalancer.APIVersion())

	uid := randomUID(t)
	tag := TenantTag(uid)
	tags := []string{tag, RoleTag("integration-test")}
	name := "kubeseed-it-" + uid[:8]
	cleanup := newCleanup(t)
	defer cleanup.run()

	comp, net, lbs := customer.Compute, customer.Network, customer.LoadBalancer
	flavor, err := comp.GetFlavor(ctx, envOr("KUBESEED_OPENSTACK_FLAVOR", "m1.tiny"))
	if err != nil {
		t.Fatal(err)
	}
	image, err := comp.GetImage(ctx, envOr("KUBESEED_OPENSTACK_IMAGE", "cirros"))
	if err != nil {
		t.Fatal(err)
	}

	// Network, subnet, security group, port.
	nw, err := net.CreateNetwork(ctx, NetSpec{Name: name, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	cleanup.add("network", func(ctx context.Context) error { return net.DeleteNetwork(ctx, nw.ID) })
	subnet, err := net.CreateSubnet(ctx, SubnetSpec{Name: name, NetworkID: nw.ID, CIDR: "10.250.0.0/24", Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	cleanup.add("subnet", func(ctx context.Context) error { return net.DeleteSubnet(ctx, subnet.ID) })
	sg, err := net.CreateSecurityGroup(ctx, SecurityGroupSpec{Name: name, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	cleanup.add("security group", func(ctx context.Context) error { return net.DeleteSecurityGroup(ctx, sg.ID) })
	if _, err := net.CreateSecurityGroupRule(ctx, SecurityGroupRuleSpec{SecurityGroupID: sg.ID, Direction: "ingress",
		Protocol: "tcp", PortRangeMin: 10250, PortRangeMax: 10250, RemoteIPPrefix: "10.250.0.0/24"}); err != nil {
		t.Fatal(err)
	}
	port, err := net.CreatePort(ctx, PortSpec{Name: name, NetworkID: nw.ID, FixedIPs: []FixedIP{{SubnetID: subnet.ID}},
		SecurityGroupIDs: []string{sg.ID}, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	cleanup.add("port", func(ctx context.Context) error { return net.DeletePort(ctx, port.ID) })
	if got, err := net.GetPort(ctx, port.ID); err != nil || !HasTag(got.Tags, tag) {
		t.Fatalf("port %+v, %v: not tagged", got, err)
	}

	// A server in an anti-affinity group on that port, with user_data read back as admin.
	group, err := comp.CreateServerGroup(ctx, name, PolicySoftAntiAffinity)
	if err != nil {
		t.Fatal(err)
	}
	cleanup.add("server group", func(ctx context.Context) error { return comp.DeleteServerGroup(ctx, group.ID) })
	userData := []byte("#cloud-config\nruncmd:\n  - [echo, " + uid + "]\n")
	srv, err := comp.CreateServer(ctx, ServerSpec{Name: name, FlavorID: flavor.ID, ImageID: image.ID,
		Networks: []ServerNetwork{{PortID: port.ID}}, UserData: userData, Metadata: map[string]string{"kubeseed-test": uid},
		Tags: tags, ServerGroupID: group.ID})
	if err != nil {
		t.Fatal(err)
	}
	cleanup.add("server", func(ctx context.Context) error {
		if err := IgnoreNotFound(comp.DeleteServer(ctx, srv.ID)); err != nil {
			return err
		}
		return poll(ctx, func() (bool, error) {
			_, err := comp.GetServer(ctx, srv.ID)
			return IsNotFound(err), IgnoreNotFound(err)
		})
	})
	err = poll(ctx, func() (bool, error) {
		s, err := comp.GetServer(ctx, srv.ID)
		if err != nil {
			return false, err
		}
		if s.Status == "ERROR" {
			return false, fmt.Errorf("server %s went ERROR: %s", srv.ID, s.Fault)
		}
		return s.Status == "ACTIVE", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := comp.ListServers(ctx, tag); err != nil || len(list) != 1 || list[0].Metadata["kubeseed-test"] != uid {
		t.Errorf("servers tagged %s: %+v, %v", tag, list, err)
	}
	// Metadata set later merges with what the server was made with.
	if err := comp.SetServerMetadata(ctx, srv.ID, map[string]string{"kubeseed-later": "yes"}); err != nil {
		t.Errorf("set server metadata: %v", err)
	} else if s, err := comp.GetServer(ctx, srv.ID); err != nil || s.Metadata["kubeseed-later"] != "yes" || s.Metadata["kubeseed-test"] != uid {
		t.Errorf("metadata after SetServerMetadata: %v, %v; want kubeseed-later=yes beside kubeseed-test", s, err)
	}
	got, err := admin.Compute.ServerUserData(ctx, srv.ID)
	if err != nil || string(got) != string(userData) {
		t.Errorf("user_data read back as admin = %q, %v; want %q", got, err, userData)
	}
	if _, err := comp.ServerUserData(ctx, srv.ID); err != nil && !IsForbidden(err) {
		t.Errorf("user_data as the customer: %v, want it or ErrForbidden", err)
	}

	// A floating IP, when the cloud has an external network for it. Neutron associates one
	// only with a port on a subnet that has a router to that network, which the test's own
	// network has not (this package creates no routers): the port is on the customer's
	// subnet, as a kubeseed server's would be.
	if ext := os.Getenv("KUBESEED_OPENSTACK_EXTERNAL_NETWORK"); ext != "" {
		routed := os.Getenv("KUBESEED_OPENSTACK_CUSTOMER_SUBNET")
		if routed == "" {
			t.Fatal("KUBESEED_OPENSTACK_EXTERNAL_NETWORK is set but KUBESEED_OPENSTACK_CUSTOMER_SUBNET is not: a floating IP needs a subnet with a router to the external network")
		}
		rs, err := net.GetSubnet(ctx, routed)
		if err != nil {
			t.Fatal(err)
		}
		fport, err := net.CreatePort(ctx, PortSpec{Name: name + "-fip", NetworkID: rs.NetworkID,
			FixedIPs: []FixedIP{{SubnetID: rs.ID}}, Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		cleanup.add("floating IP's port", func(ctx context.Context) error { return net.DeletePort(ctx, fport.ID) })
		fip, err := net.CreateFloatingIP(ctx, FloatingIPSpec{FloatingNetworkID: ext, Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		fipID := fip.ID // fip is reassigned below, and may be nil then
		cleanup.add("floating IP", func(ctx context.Context) error { return net.DeleteFloatingIP(ctx, fipID) })
		if fip, err = net.AssociateFloatingIP(ctx, fipID, fport.ID); err != nil || fip.PortID != fport.ID {
			t.Errorf("associate floating IP: %+v, %v", fip, err)
		}
		if fip, err = net.AssociateFloatingIP(ctx, fipID, ""); err != nil || fip.PortID != "" {
			t.Errorf("detach floating IP: %+v, %v", fip, err)
		}
	}

	// A load balancer with listener, pool, member and monitor.
	lb, err := lbs.CreateLoadBalancer(ctx, LBSpec{Name: name, VIPSubnetID: subnet.ID, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	cleanup.add("load balancer", func(ctx context.Context) error {
		if err := IgnoreNotFound(lbs.DeleteLoadBalancer(ctx, lb.ID, true)); err != nil {
			return err
		}
		return WaitForLoadBalancerDeleted(ctx, lbs, lb.ID, time.Second)
	})
	wait := func(step string) {
		t.Helper()
		if _, err := WaitForLoadBalancer(ctx, lbs, lb.ID, time.Second); err != nil {
			t.Fatalf("after %s: %v", step, err)
		}
	}
	wait("create")
	timeout := 4 * 60 * 60 * 1000 // ms: apiserver watches stay open for long
	li, err := lbs.CreateListener(ctx, ListenerSpec{Name: name, LoadBalancerID: lb.ID, Protocol: "TCP", Port: 6443,
		AllowedCIDRs: []string{"10.250.0.0/24"}, TimeoutClientData: &timeout, TimeoutMemberData: &timeout, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	wait("listener")
	pool, err := lbs.CreatePool(ctx, PoolSpec{Name: name, ListenerID: li.ID, Protocol: "TCP", Method: "ROUND_ROBIN", Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	wait("pool")
	if _, err := lbs.CreateMember(ctx, pool.ID, MemberSpec{Name: name, Address: port.FixedIPs[0].IPAddress, Port: 6443, SubnetID: subnet.ID, Tags: tags}); err != nil {
		t.Fatal(err)
	}
	wait("member")
	if _, err := lbs.CreateMonitor(ctx, MonitorSpec{Name: name, PoolID: pool.ID, Type: "TCP", Delay: 10, Timeout: 5, MaxRetries: 3, Tags: tags}); err != nil {
		t.Fatal(err)
	}
	wait("monitor")
	if li, err = lbs.SetListenerAllowedCIDRs(ctx, li.ID, []string{"10.250.0.0/24", "192.0.2.0/24"}); err != nil || len(li.AllowedCIDRs) != 2 {
		t.Errorf("allowed CIDRs: %+v, %v", li, err)
	}
	wait("allowed CIDRs")
	if list, err := lbs.ListLoadBalancers(ctx, tag); err != nil || len(list) != 1 {
		t.Errorf("load balancers tagged: %+v, %v", list, err)
	}
	if members, err := lbs.ListMembers(ctx, pool.ID); err != nil || len(members) != 1 || !HasTag(members[0].Tags, tag) {
		t.Errorf("members: %+v, %v", members, err)
	}

	// The same in one call (a fully populated create): one provisioning for all of it.
	start := time.Now()
	full, err := lbs.CreateLoadBalancer(ctx, LBSpec{Name: name + "-full", VIPSubnetID: subnet.ID, Tags: tags, Listeners: []LBListenerSpec{{
		ListenerSpec: ListenerSpec{Name: name + "-full", Protocol: "TCP", Port: 6443, AllowedCIDRs: []string{"10.250.0.0/24"},
			TimeoutClientData: &timeout, TimeoutMemberData: &timeout, Tags: tags},
		Pool: &LBPoolSpec{
			PoolSpec: PoolSpec{Name: name + "-full", Protocol: "TCP", Method: "ROUND_ROBIN", Tags: tags},
			Members:  []MemberSpec{{Name: name + "-full", Address: port.FixedIPs[0].IPAddress, Port: 6443, SubnetID: subnet.ID, Tags: tags}},
			Monitor:  &MonitorSpec{Name: name + "-full", Type: "TCP", Delay: 10, Timeout: 5, MaxRetries: 3, Tags: tags},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	cleanup.add("populated load balancer", func(ctx context.Context) error {
		if err := IgnoreNotFound(lbs.DeleteLoadBalancer(ctx, full.ID, true)); err != nil {
			return err
		}
		return WaitForLoadBalancerDeleted(ctx, lbs, full.ID, time.Second)
	})
	if _, err := WaitForLoadBalancer(ctx, lbs, full.ID, time.Second); err != nil {
		t.Fatalf("populated load balancer: %v", err)
	}
	t.Logf("populated load balancer ACTIVE in %.1fs", time.Since(start).Seconds())
	fullListeners, err := lbs.ListListeners(ctx, tag)
	fullListeners = slices.DeleteFunc(fullListeners, func(l Listener) bool { return l.LoadBalancerID != full.ID })
	if err != nil || len(fullListeners) != 1 || fullListeners[0].DefaultPoolID == "" || fullListeners[0].Port != 6443 {
		t.Fatalf("listeners of the populated load balancer: %+v, %v", fullListeners, err)
	}
	fullPool, err := lbs.GetPool(ctx, fullListeners[0].DefaultPoolID)
	if err != nil || fullPool.MonitorID == "" || !HasTag(fullPool.Tags, tag) {
		t.Errorf("pool of the populated load balancer: %+v, %v", fullPool, err)
	}
	if members, err := lbs.ListMembers(ctx, fullListeners[0].DefaultPoolID); err != nil || len(members) != 1 || !HasTag(members[0].Tags, tag) {
		t.Errorf("members of the populated load balancer: %+v, %v", members, err)
	}

	// Delete everything, then look for leftovers.
	cleanup.run()
	left := map[string]func() (int, error){
		"servers":         func() (int, error) { l, err := comp.ListServers(ctx, tag); return len(l), err },
		"ports":           func() (int, error) { l, err := net.ListPorts(ctx, tag); return len(l), err },
		"subnets":         func() (int, error) { l, err := net.ListSubnets(ctx, tag); return len(l), err },
		"networks":        func() (int, error) { l, err := net.ListNetworks(ctx, tag); return len(l), err },
		"security groups": func() (int, error) { l, err := net.ListSecurityGroups(ctx, tag); return len(l), err },
		"floating IPs":    func() (int, error) { l, err := net.ListFloatingIPs(ctx, tag); return len(l), err },
		"load balancers":  func() (int, error) { l, err := lbs.ListLoadBalancers(ctx, tag); return len(l), err },
		"listeners":       func() (int, error) { l, err := lbs.ListListeners(ctx, tag); return len(l), err },
		"pools":           func() (int, error) { l, err := lbs.ListPools(ctx, tag); return len(l), err },
		"health monitors": func() (int, error) { l, err := lbs.ListMonitors(ctx, tag); return len(l), err },
	}
	for what, count := range left {
		if n, err := count(); err != nil || n != 0 {
			t.Errorf("%d %s tagged %s left (%v)", n, what, tag, err)
		}
	}
	groups, err := comp.ListServerGroups(ctx)
	for _, g := range groups {
		if g.Name == name {
			t.Errorf("server group %s left", g.ID)
		}
	}
	if err != nil {
		t.Error(err)
	}
}

// cleanup deletes, last created first, whatever a test made, even when it fails or its
// context has ended; run is idempotent.
type cleanup struct {
	t     *testing.T
	steps []cleanupStep
}

type cleanupStep struct {
	what string
	del  func(context.Context) error
}

func newCleanup(t *testing.T) *cleanup { return &cleanup{t: t} }

func (c *cleanup) add(what string, del func(context.Context) error) {
	c.steps = append(c.steps, cleanupStep{what, del})
}

func (c *cleanup) run() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for i := len(c.steps) - 1; i >= 0; i-- {
		s := c.steps[i]
		if err := IgnoreNotFound(s.del(ctx)); err != nil {
			c.t.Errorf("delete %s: %v", s.what, err)
		}
	}
	c.steps = nil
}

// poll calls f every second until it reports done, fails, or ctx ends (3 minutes at most).
func poll(ctx context.Context, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		done, err := f()
		if err != nil && !IsTransient(err) {
			return err
		}
		if done {
			return nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}
