//go:build e2e

package e2e

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeseed/kubeseed/pkg/addons"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/tunnel"
)

// testTunnelIdentity plays a worker that turned hostile: it holds node's kubelet
// certificate (read off the machine, as root there could) and dials the tenant's tunnel
// server with its own agent. The server refuses it as another node, with another node's
// address, and as node itself while node's own agent is connected; the real agent keeps
// the node's traffic (the callers' logs and exec checks).
func testTunnelIdentity(t *testing.T, ctx context.Context, host seed.MachineHost, tenant kubernetes.Interface, cfg *rest.Config, node, nodeIP string) {
	pem, err := host.MachineExec(ctx, node, "cat", "/var/lib/kubelet/pki/kubelet-client-current.pem")
	if err != nil {
		t.Fatalf("read the kubelet's client certificate on %s: %v", node, err)
	}
	dir := t.TempDir()
	certFile, caFile := filepath.Join(dir, "kubelet.pem"), filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(certFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, cfg.CAData, 0o600); err != nil {
		t.Fatal(err)
	}
	// Where the tenant's agents dial: the DaemonSet's --server.
	ds, err := tenant.AppsV1().DaemonSets("kube-system").Get(ctx, addons.TunnelAgentDaemonSet, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var server string
	for _, a := range ds.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--server="); ok {
			server = v
		}
	}
	if server == "" {
		t.Fatalf("the agent DaemonSet has no --server: %q", ds.Spec.Template.Spec.Containers[0].Args)
	}
	// The endpoint's address, the seed's: no node's. A DNS endpoint: a documentation address.
	other := netip.MustParseAddr("192.0.2.1")
	if h, _, err := net.SplitHostPort(server); err == nil {
		if a, err := netip.ParseAddr(h); err == nil {
			other = a
		}
	}
	tlsCfg, err := tunnel.AgentTLSConfig(certFile, certFile, caFile, "")
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr(nodeIP)
	for _, c := range []struct {
		name string
		id   string
		ips  []netip.Addr
		want string
	}{
		{"as another node", "e2e-impostor", []netip.Addr{ip}, `certificate is node "` + node + `"'s`},
		{"offering an address that is not the node's", node, []netip.Addr{ip, other}, other.String() + " is not an address of node " + node},
		{"as itself while its agent is connected", node, []netip.Addr{ip}, "node " + node + " has a live session already"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := tunnel.NewAgent(tunnel.AgentConfig{ServerAddress: server, TLS: tlsCfg, ID: c.id, NodeIPs: c.ips})
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := a.Check(cctx); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("the tunnel server answered %v; want a refusal with %q", err, c.want)
			}
		})
	}
}
