package tunnel

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"
)

// NodeAddressesFunc returns the addresses of the tenant's Node name, or an error wrapping
// ErrNoNode when there is no such Node.
type NodeAddressesFunc func(ctx context.Context, name string) ([]netip.Addr, error)

// ErrNoNode is a node that does not exist.
var ErrNoNode = errors.New("no such Node")

// nodeAddressTypes are the Node addresses the apiserver dials a kubelet at
// (--kubelet-preferred-address-types); a Hostname counts when it is an IP, as the kubelet
// maps it.
var nodeAddressTypes = []string{"InternalIP", "ExternalIP", "Hostname"}

// APINodeAddresses reads Nodes from the kube-apiserver at server (a URL) with tlsConfig,
// whose client certificate's user may get nodes. Each lookup is one GET, bounded by ctx
// and 5 s.
func APINodeAddresses(server string, tlsConfig *tls.Config) (NodeAddressesFunc, error) {
	base, err := url.Parse(server)
	if err != nil || base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("apiserver URL %q: want https://host:port", server)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig, MaxIdleConnsPerHost: 2}}
	return func(ctx context.Context, name string) ([]netip.Addr, error) {
		u := base.JoinPath("api", "v1", "nodes", url.PathEscape(name))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusNotFound:
			return nil, fmt.Errorf("node %s: %w", name, ErrNoNode)
		default:
			return nil, fmt.Errorf("GET node %s: %s: %.200s", name, resp.Status, body)
		}
		return nodeAddresses(body)
	}, nil
}

// nodeAddresses parses a Node's JSON for its addresses of nodeAddressTypes.
func nodeAddresses(body []byte) ([]netip.Addr, error) {
	var node struct {
		Status struct {
			Addresses []struct {
				Type    string `json:"type"`
				Address string `json:"address"`
			} `json:"addresses"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &node); err != nil {
		return nil, fmt.Errorf("decode node: %w", err)
	}
	var out []netip.Addr
	for _, a := range node.Status.Addresses {
		if !slices.Contains(nodeAddressTypes, a.Type) {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && !slices.Contains(out, ip.Unmap()) {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}
