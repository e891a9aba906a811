package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// The conflist's fixed names: flannel's own, so that nodes and docs look as with upstream.
const (
	// NetworkName is the CNI network's name (the conflist's "name").
	NetworkName = "cbr0"
	// BridgeName is the Linux bridge the pods of a node attach to.
	BridgeName = "cni0"
	// CNIVersion is the spec version of the conflist; the plugins of pkg/versions.CNIPlugins
	// and the container runtimes we run all support it.
	CNIVersion = "1.0.0"
)

type conflist struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type bridgePlugin struct {
	Type             string `json:"type"`
	Bridge           string `json:"bridge"`
	IsDefaultGateway bool   `json:"isDefaultGateway"`
	HairpinMode      bool   `json:"hairpinMode"`
	IPMasq           bool   `json:"ipMasq"`
	MTU              int    `json:"mtu"`
	IPAM             ipam   `json:"ipam"`
}

type ipam struct {
	Type   string              `json:"type"`
	Ranges [][]ipRange         `json:"ranges"`
	Routes []map[string]string `json:"routes"`
}

type ipRange struct {
	Subnet string `json:"subnet"`
}

type portmapPlugin struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
	SNAT         bool            `json:"snat"`
}

// Conflist is the node's CNI config for env: what flannel's CNI plugin would delegate, a
// bridge whose host-local IPAM hands out the node's lease and routes the pod network
// through it, then portmap for hostPort. host-local keeps its default dataDir
// (/var/lib/cni/networks), so allocations survive a restart of this helper.
func Conflist(env SubnetEnv) ([]byte, error) {
	if !env.Network.IsValid() || !env.Subnet.IsValid() || env.MTU <= 0 {
		return nil, fmt.Errorf("conflist: subnet.env lacks a value: network %v, subnet %v, mtu %d", env.Network, env.Subnet, env.MTU)
	}
	list := conflist{
		CNIVersion: CNIVersion,
		Name:       NetworkName,
		Plugins: []any{
			bridgePlugin{
				Type: "bridge", Bridge: BridgeName, IsDefaultGateway: true, HairpinMode: true,
				// flanneld masquerades traffic leaving the pod network when FLANNEL_IPMASQ is
				// true; the bridge masquerading too would translate it twice.
				IPMasq: !env.IPMasq,
				MTU:    env.MTU,
				IPAM: ipam{
					Type: "host-local",
					// The lease as a network (10.244.1.1/24 → 10.244.1.0/24): host-local gives
					// the bridge the first address, as flanneld announced it.
					Ranges: [][]ipRange{{{Subnet: env.Subnet.Masked().String()}}},
					Routes: []map[string]string{{"dst": env.Network.String()}},
				},
			},
			portmapPlugin{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}, SNAT: true},
		},
	}
	out, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("conflist: %w", err)
	}
	return append(out, '\n'), nil
}

// WatchConfig waits for flanneld's subnet file, writes the conflist for it to out and keeps
// polling the file every interval, rewriting out when the conflist changes, until ctx is
// done; it then returns nil and leaves out in place, so the node keeps its pod network
// while this helper's pod is replaced. A malformed subnet file is an error: flanneld
// replaces the file atomically, so it is never seen half-written.
func WatchConfig(ctx context.Context, subnetFile, out string, interval time.Duration, logf func(string, ...any)) error {
	waiting := false
	for {
		raw, err := os.ReadFile(subnetFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if !waiting {
				logf("waiting for %s (flanneld writes it once it holds a lease)", subnetFile)
				waiting = true
			}
		case err != nil:
			return fmt.Errorf("read %s: %w", subnetFile, err)
		default:
			waiting = false
			env, err := ParseSubnetEnv(raw)
			if err != nil {
				return fmt.Errorf("%s: %w", subnetFile, err)
			}
			data, err := Conflist(env)
			if err != nil {
				return fmt.Errorf("%s: %w", subnetFile, err)
			}
			changed, err := writeIfChanged(out, data, 0o644)
			if err != nil {
				return err
			}
			if changed {
				logf("wrote %s: subnet %s of %s, mtu %d", out, env.Subnet.Masked(), env.Network, env.MTU)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
