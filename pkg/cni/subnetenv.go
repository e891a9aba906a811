// Package cni is the logic of kubeseed-cni, the pod network's node helper: it installs the
// CNI plugins on a node and writes the node's CNI config from flanneld's subnet.env. It
// stands in for flannel's own CNI plugin, which the Go module proxy does not serve, by
// writing the bridge + host-local + portmap chain that plugin would delegate to.
package cni

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SubnetEnv is what flanneld writes to /run/flannel/subnet.env once it holds a lease.
type SubnetEnv struct {
	// Network is the whole pod network (FLANNEL_NETWORK), e.g. 10.244.0.0/16.
	Network netip.Prefix
	// Subnet is this node's lease (FLANNEL_SUBNET) as flanneld writes it, the bridge's
	// address with the lease's length, e.g. 10.244.1.1/24.
	Subnet netip.Prefix
	// MTU is the pod interfaces' MTU (FLANNEL_MTU): the uplink's less the VXLAN overhead.
	MTU int
	// IPMasq (FLANNEL_IPMASQ) is true when flanneld masquerades traffic leaving the pod
	// network itself.
	IPMasq bool
}

// The keys of subnet.env this package reads; flanneld writes others (IPv6) that it ignores.
const (
	keyNetwork = "FLANNEL_NETWORK"
	keySubnet  = "FLANNEL_SUBNET"
	keyMTU     = "FLANNEL_MTU"
	keyIPMasq  = "FLANNEL_IPMASQ"
)

// ParseSubnetEnv parses subnet.env: KEY=VALUE lines, blank lines and # comments skipped.
// Every error names the key (or the line) at fault.
func ParseSubnetEnv(raw []byte) (SubnetEnv, error) {
	values := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return SubnetEnv{}, fmt.Errorf("line %d: %q is not KEY=VALUE", n, line)
		}
		values[strings.TrimSpace(key)] = unquote(strings.TrimSpace(value))
	}
	if err := sc.Err(); err != nil {
		return SubnetEnv{}, fmt.Errorf("read: %w", err)
	}

	var env SubnetEnv
	var errs []error
	get := func(key string) (string, bool) {
		v, ok := values[key]
		if !ok || v == "" {
			errs = append(errs, fmt.Errorf("%s is missing", key))
			return "", false
		}
		return v, true
	}
	if v, ok := get(keyNetwork); ok {
		p, err := netip.ParsePrefix(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", keyNetwork, err))
		case !p.Addr().Is4():
			errs = append(errs, fmt.Errorf("%s: %s is not IPv4", keyNetwork, v))
		default:
			env.Network = p.Masked()
		}
	}
	if v, ok := get(keySubnet); ok {
		p, err := netip.ParsePrefix(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", keySubnet, err))
		case !p.Addr().Is4():
			errs = append(errs, fmt.Errorf("%s: %s is not IPv4", keySubnet, v))
		default:
			env.Subnet = p
		}
	}
	if v, ok := get(keyMTU); ok {
		mtu, err := strconv.Atoi(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %q is not a number", keyMTU, v))
		case mtu < 68 || mtu > 65535: // 68 is the least MTU IPv4 allows
			errs = append(errs, fmt.Errorf("%s: %d is out of range [68, 65535]", keyMTU, mtu))
		default:
			env.MTU = mtu
		}
	}
	if v, ok := get(keyIPMasq); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", keyIPMasq, v))
		}
		env.IPMasq = b
	}
	if len(errs) > 0 {
		return SubnetEnv{}, errors.Join(errs...)
	}
	// A lease outside the network would give pods addresses the other nodes route elsewhere.
	if !env.Network.Contains(env.Subnet.Addr()) || env.Subnet.Bits() < env.Network.Bits() {
		return SubnetEnv{}, fmt.Errorf("%s %s is not inside %s %s", keySubnet, env.Subnet, keyNetwork, env.Network)
	}
	return env, nil
}

// unquote strips one pair of matching quotes, as a shell would read the value.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
