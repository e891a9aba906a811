// Package dataplane fills exactly the gap of the OpenStack test cloud (docs/test-cloud.md),
// which has real APIs but no data plane: Nova's fake driver boots nothing and Octavia's
// noop amphora forwards nothing. The Harness
//
//   - starts a seed machine (pkg/seed) for every ACTIVE server of the customer's project,
//     running the server's user_data (read back from Nova as admin) as cloud-init would, and
//     removes the machine when the server goes;
//   - forwards, for every ACTIVE Octavia load balancer of the project, each listener's VIP
//     address and port to the members of its pool, as read from Octavia's API, with the VIP
//     added to a host interface so that machines reach it.
//
// Everything else — which servers exist, their user_data, the pools' members — comes from
// the cloud's APIs, as the product left it there.
package dataplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubeseed/kubeseed/controllers/workerpool"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// VIPLabel labels the VIP addresses the harness puts on the host's loopback interface
// (local addresses, so machines routed through the host reach them; a dummy interface would
// need a kernel module the host may not have).
const VIPLabel = "lo:ksm-vip"

// Harness runs servers and load balancers of one project.
type Harness struct {
	// Customer lists the project's servers and load balancers; Admin reads user_data,
	// which Nova shows to admins only.
	Customer, Admin *openstack.Clients
	Host            seed.MachineHost
	// KubernetesVersion of the kubelet and kubeadm on machines whose server names no
	// version in its metadata (workerpool.MetadataKubernetesVersion). A server that names
	// one gets that one: the harness plays an image carrying every supported version that
	// picks the one the server asks for (docs/workers.md).
	KubernetesVersion string
	// Images preloaded into every machine's containerd, as an air-gapped image carries them.
	Images []string
	// ImagesFor, when set, replaces Images with the images of a machine of that version
	// (its kube-proxy's differs).
	ImagesFor func(version string) []string
	Logf      func(format string, args ...any)
	// Interval between two looks at the cloud; 1 s when zero.
	Interval time.Duration
	// ServerTag limits the servers booted to those carrying it (all when empty).
	ServerTag string
	// Prelude, when set, returns shell commands run before the user_data: what the VM
	// image would carry on its disk (e.g. a CNI configuration). n counts the machines booted.
	Prelude func(serverName string, n int) string

	booted int

	mu       sync.Mutex
	machines map[string]Started // by server ID
	vips     map[string]*vip    // by "address:port"
	errs     []error
}

// Started records a server the harness booted.
type Started struct {
	ServerID, Name string
	// Active is when the harness first saw the server ACTIVE; Booted when its machine was up.
	Active, Booted time.Time
}

// Run looks at the cloud every Interval until ctx ends; forwarders and machines stay until
// Close. Errors are recorded (Errors) and the loop goes on.
func (h *Harness) Run(ctx context.Context) {
	interval := h.Interval
	if interval <= 0 {
		interval = time.Second
	}
	for {
		if err := h.Sync(ctx); err != nil && ctx.Err() == nil {
			h.record(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (h *Harness) record(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, err)
	h.logf("dataplane: %v", err)
}

// Errors returns what went wrong so far.
func (h *Harness) Errors() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

// Machines returns the servers running as machines.
func (h *Harness) Machines() map[string]Started {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]Started{}
	for k, v := range h.machines {
		out[k] = v
	}
	return out
}

func (h *Harness) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
	}
}

// Sync makes one pass over servers and load balancers.
func (h *Harness) Sync(ctx context.Context) error {
	return errors.Join(h.syncServers(ctx), h.syncLoadBalancers(ctx))
}

func (h *Harness) syncServers(ctx context.Context) error {
	servers, err := h.Customer.Compute.ListServers(ctx, h.ServerTag)
	if err != nil {
		return fmt.Errorf("list servers: %w", err)
	}
	h.mu.Lock()
	if h.machines == nil {
		h.machines = map[string]Started{}
	}
	h.mu.Unlock()
	active := map[string]bool{}
	for _, s := range servers {
		if s.Status == "ACTIVE" {
			active[s.ID] = true
		}
	}
	var errs []error
	// Gone servers first: a replacement may carry the same name, and its machine must not
	// be the one removed.
	for id, m := range h.Machines() {
		if active[id] {
			continue
		}
		// Deleted (or no longer ACTIVE) in Nova: the VM is gone.
		if err := h.Host.RemoveMachine(ctx, m.Name); err != nil {
			errs = append(errs, fmt.Errorf("remove machine of server %s: %w", m.Name, err))
			continue
		}
		h.logf("dataplane: server %s (%s) gone: machine removed", m.Name, id)
		h.mu.Lock()
		delete(h.machines, id)
		h.mu.Unlock()
	}
	for _, s := range servers {
		if !active[s.ID] {
			continue
		}
		h.mu.Lock()
		_, running := h.machines[s.ID]
		h.mu.Unlock()
		if running {
			continue
		}
		seen := time.Now()
		if err := h.boot(ctx, s); errors.Is(err, errGone) {
			continue // deleted since the listing
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		h.mu.Lock()
		h.machines[s.ID] = Started{ServerID: s.ID, Name: s.Name, Active: seen, Booted: time.Now()}
		h.mu.Unlock()
	}
	return errors.Join(errs...)
}

// NodeImages are the docker-archive tarballs (in dir, seed.ImagesDir) a worker's VM image
// carries for an air-gapped site: the pause image, the tenant's addons at the default
// version (kube-proxy, CoreDNS, the pod network: flannel, kube-router and kubeseed-cni,
// the tunnel agent) and the tests' workload.
func NodeImages(dir string) []string { return NodeImagesAt(dir, versions.Default) }

// NodeImagesAt are NodeImages of a worker of Kubernetes version: its kube-proxy's.
func NodeImagesAt(dir, version string) []string {
	names := []string{
		"pause.tar", "coredns.tar", "testserver.tar", "kube-proxy-" + version + ".tar", "kubeseed-tunnel.tar",
		"flannel.tar", "kube-router.tar", "kubeseed-cni.tar",
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}

// errGone: the server was deleted between the listing and the boot.
var errGone = errors.New("server gone")

func (h *Harness) boot(ctx context.Context, s openstack.Server) error {
	userData, err := h.Admin.Compute.ServerUserData(ctx, s.ID)
	if openstack.IsNotFound(err) {
		return errGone
	}
	if err != nil {
		return fmt.Errorf("read user_data of server %s: %w", s.Name, err)
	}
	script, err := Script(userData)
	if err != nil {
		return fmt.Errorf("user_data of server %s: %w", s.Name, err)
	}
	if h.Prelude != nil {
		h.mu.Lock()
		h.booted++
		n := h.booted
		h.mu.Unlock()
		script = "# the image's own files\n" + h.Prelude(s.Name, n) + "\n" + script
	}
	// A machine left by a server of the same name that is gone (replaced) goes first.
	_ = h.Host.RemoveMachine(ctx, s.Name)
	version := cmp.Or(s.Metadata[workerpool.MetadataKubernetesVersion], h.KubernetesVersion)
	images := h.Images
	if h.ImagesFor != nil {
		images = h.ImagesFor(version)
	}
	if _, err := h.Host.AddMachine(ctx, seed.MachineSpec{
		Name: s.Name, KubernetesVersion: version, Images: images, Bootstrap: script,
	}); err != nil {
		return fmt.Errorf("boot server %s: %w", s.Name, err)
	}
	h.logf("dataplane: server %s (%s) booted as a machine at %s", s.Name, s.ID, version)
	return nil
}

// vip forwards one listener.
type vip struct {
	ln      net.Listener
	rule    string // the VIP:port redirected to ln
	mu      sync.Mutex
	members []string
	next    int
}

func (h *Harness) syncLoadBalancers(ctx context.Context) error {
	lbs, err := h.Customer.LoadBalancer.ListLoadBalancers(ctx, "")
	if err != nil {
		return fmt.Errorf("list load balancers: %w", err)
	}
	listeners, err := h.Customer.LoadBalancer.ListListeners(ctx, "")
	if err != nil {
		return fmt.Errorf("list listeners: %w", err)
	}
	want := map[string][]string{} // VIP:port -> members
	for _, lb := range lbs {
		// An amphora keeps serving while its load balancer is PENDING_UPDATE (or even in
		// ERROR); only a deleted one stops.
		if lb.ProvisioningStatus == openstack.StatusPendingDelete || lb.ProvisioningStatus == openstack.StatusDeleted ||
			lb.ProvisioningStatus == openstack.StatusPendingCreate || lb.VIPAddress == "" {
			continue
		}
		for _, l := range listeners {
			if l.LoadBalancerID != lb.ID || l.DefaultPoolID == "" {
				continue
			}
			ms, err := h.Customer.LoadBalancer.ListMembers(ctx, l.DefaultPoolID)
			if openstack.IsNotFound(err) {
				continue // deleted since the listing
			}
			if err != nil {
				return fmt.Errorf("members of pool %s: %w", l.DefaultPoolID, err)
			}
			var addrs []string
			for _, m := range ms {
				addrs = append(addrs, net.JoinHostPort(m.Address, strconv.Itoa(m.Port)))
			}
			want[net.JoinHostPort(lb.VIPAddress, strconv.Itoa(l.Port))] = addrs
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.vips == nil {
		h.vips = map[string]*vip{}
	}
	var errs []error
	for addr, members := range want {
		v, ok := h.vips[addr]
		if !ok {
			host, _, _ := net.SplitHostPort(addr)
			if err := addVIP(host); err != nil {
				errs = append(errs, err)
				continue
			}
			// The seed's own kube-apiserver listens on *:6443, so the forwarder cannot take
			// VIP:6443 itself: it listens on an ephemeral port of the VIP, and a NAT rule
			// sends VIP:port there, for machines (PREROUTING) and this host (OUTPUT) alike.
			ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				errs = append(errs, fmt.Errorf("listen on VIP %s: %w", host, err))
				continue
			}
			if err := redirect(addr, ln.Addr().String(), true); err != nil {
				_ = ln.Close()
				errs = append(errs, err)
				continue
			}
			v = &vip{ln: ln, rule: addr}
			h.vips[addr] = v
			go v.serve()
			h.logf("dataplane: forwarding VIP %s to %v", addr, members)
		}
		v.mu.Lock()
		v.members = members
		v.mu.Unlock()
	}
	for addr, v := range h.vips {
		if _, ok := want[addr]; ok {
			continue
		}
		_ = redirect(v.rule, v.ln.Addr().String(), false)
		_ = v.ln.Close()
		delete(h.vips, addr)
		host, _, _ := net.SplitHostPort(addr)
		if !h.hostStillUsed(host) {
			_ = delVIP(host)
		}
		h.logf("dataplane: VIP %s no longer forwarded", addr)
	}
	return errors.Join(errs...)
}

// hostStillUsed says whether another forwarded listener uses the address. Holds h.mu.
func (h *Harness) hostStillUsed(host string) bool {
	for addr := range h.vips {
		if strings.HasPrefix(addr, host+":") {
			return true
		}
	}
	return false
}

func (v *vip) serve() {
	for {
		c, err := v.ln.Accept()
		if err != nil {
			return // closed
		}
		go v.forward(c)
	}
}

// forward connects a client to the next member, round robin, as the amphora's haproxy would.
func (v *vip) forward(c net.Conn) {
	defer c.Close()
	v.mu.Lock()
	if len(v.members) == 0 {
		v.mu.Unlock()
		return
	}
	member := v.members[v.next%len(v.members)]
	v.next++
	v.mu.Unlock()
	up, err := net.DialTimeout("tcp", member, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); closeWrite(up); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); closeWrite(c); done <- struct{}{} }()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// Close stops every forwarder, removes the VIP interface and every machine the harness
// started.
func (h *Harness) Close(ctx context.Context) error {
	h.mu.Lock()
	for addr, v := range h.vips {
		_ = v.ln.Close()
		delete(h.vips, addr)
	}
	h.mu.Unlock()
	var errs []error
	if err := delAllVIPs(); err != nil {
		errs = append(errs, err)
	}
	if err := delChain(); err != nil {
		errs = append(errs, err)
	}
	for id, m := range h.Machines() {
		if err := h.Host.RemoveMachine(ctx, m.Name); err != nil {
			errs = append(errs, fmt.Errorf("remove machine %s: %w", m.Name, err))
		}
		h.mu.Lock()
		delete(h.machines, id)
		h.mu.Unlock()
	}
	return errors.Join(errs...)
}

// NATChain holds the harness's redirections of VIP:port to its forwarders, in the nat table,
// jumped to from PREROUTING (machines) and OUTPUT (this host).
const NATChain = "KSM-VIP"

func iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w", "-t", "nat"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// redirect adds (or removes) the rule sending from (VIP:port) to the forwarder at to.
func redirect(from, to string, add bool) error {
	host, port, _ := net.SplitHostPort(from)
	if add && iptables("-L", NATChain, "-n") != nil {
		if err := iptables("-N", NATChain); err != nil {
			return err
		}
		for _, hook := range []string{"PREROUTING", "OUTPUT"} {
			if err := iptables("-I", hook, "1", "-j", NATChain); err != nil {
				return err
			}
		}
	}
	op := "-A"
	if !add {
		op = "-D"
	}
	return iptables(op, NATChain, "-d", host+"/32", "-p", "tcp", "--dport", port, "-j", "DNAT", "--to-destination", to)
}

// delChain removes the harness's NAT chain and its jumps.
func delChain() error {
	if iptables("-L", NATChain, "-n") != nil {
		return nil
	}
	for _, hook := range []string{"PREROUTING", "OUTPUT"} {
		for iptables("-D", hook, "-j", NATChain) == nil {
		}
	}
	if err := iptables("-F", NATChain); err != nil {
		return err
	}
	return iptables("-X", NATChain)
}

// addVIP puts address on the loopback interface under VIPLabel.
func addVIP(address string) error {
	out, err := exec.Command("ip", "addr", "replace", address+"/32", "dev", "lo", "label", VIPLabel).CombinedOutput()
	if err != nil {
		return fmt.Errorf("add VIP %s to lo: %w: %s", address, err, out)
	}
	return nil
}

func delVIP(address string) error {
	return exec.Command("ip", "addr", "del", address+"/32", "dev", "lo").Run()
}

// VIPs lists the addresses carrying VIPLabel.
func VIPs() ([]string, error) {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show", "dev", "lo", "label", VIPLabel).Output()
	if err != nil {
		return nil, fmt.Errorf("list VIPs: %w", err)
	}
	var addrs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				addrs = append(addrs, strings.TrimSuffix(f[i+1], "/32"))
			}
		}
	}
	return addrs, nil
}

func delAllVIPs() error {
	addrs, err := VIPs()
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range addrs {
		if err := delVIP(a); err != nil {
			errs = append(errs, fmt.Errorf("remove VIP %s: %w", a, err))
		}
	}
	return errors.Join(errs...)
}
