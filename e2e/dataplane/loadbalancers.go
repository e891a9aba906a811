package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// The load-balancer half of the harness: each ACTIVE listener's VIP forwarded to its pool's
// members, as the amphora's haproxy would.

// VIPLabel labels the VIP addresses the harness puts on the host's loopback interface
// (local addresses, so machines routed through the host reach them; a dummy interface would
// need a kernel module the host may not have).
const VIPLabel = "lo:ksm-vip"

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
