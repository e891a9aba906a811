package tunnel_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeseed/kubeseed/pkg/tunnel"
)

// An agent is the node its kubelet certificate names, with that Node's addresses, and
// announces only CIDRs within the tenant's networks.
func TestAgentIsItsCertificatesNode(t *testing.T) {
	e := newEnv(t)
	e.ca.setNode("node-a", "10.0.0.1")
	e.ca.setNode("node-b", "10.0.0.2")
	admin, adminKey := e.ca.leaf(t, "admin", "kubernetes-admin", x509.ExtKeyUsageClientAuth)
	for _, tc := range []struct {
		name string
		o    agentOpts
		want string // in the refusal; empty: accepted
	}{
		{"its own node and address", agentOpts{id: "node-a", nodeIPs: []string{"10.0.0.1"}}, ""},
		{"its node's second address", agentOpts{id: "node-c", nodeIPs: []string{"10.0.0.3", "fd00::3"}}, ""},
		{"posing as another node", agentOpts{id: "node-a", sendID: "node-b", nodeIPs: []string{"10.0.0.1"}},
			`the agent says it is node "node-b" but its certificate is node "node-a"'s`},
		{"offering another node's address", agentOpts{id: "node-a", unregistered: true, nodeIPs: []string{"10.0.0.1", "10.0.0.2"}},
			"10.0.0.2 is not an address of node node-a"},
		{"a node that does not exist", agentOpts{id: "node-x", unregistered: true, nodeIPs: []string{"10.0.0.9"}},
			"look up node node-x: node node-x: no such Node"},
		{"a certificate that is no node's", agentOpts{nodeIPs: []string{"10.0.0.1"}, certFile: admin, key: adminKey},
			`client certificate "kubernetes-admin" (organizations [])`},
		{"a CIDR outside the tenant's networks", agentOpts{id: "node-a", nodeIPs: []string{"10.0.0.1"}, cidrs: []string{"192.168.0.0/16"}},
			"allowed CIDR 192.168.0.0/16 is not within the tenant's networks"},
		{"a CIDR wider than the tenant's", agentOpts{id: "node-a", nodeIPs: []string{"10.0.0.1"}, cidrs: []string{"0.0.0.0/0"}},
			"allowed CIDR 0.0.0.0/0 is not within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.newAgent(tc.o).Check(context.Background())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want a refusal with %q", err, tc.want)
			}
		})
	}
	if n := e.server.Agents(); n != 0 {
		t.Errorf("Check left %d agents registered", n)
	}
}

// A node has one session per server: a second is refused while the first answers, and
// the first keeps its traffic.
func TestSecondSessionOfANodeIsRefused(t *testing.T) {
	e := newEnv(t)
	host, port := backend(t, "kubelet")
	_, stop := e.agent(agentOpts{id: "node-a", nodeIPs: []string{host}, expectConnection: true})
	eventually(t, "one agent", func() bool { return e.server.Agents() == 1 })

	second := e.newAgent(agentOpts{id: "node-a", nodeIPs: []string{host}})
	if err := second.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "node node-a has a live session already") {
		t.Fatalf("second session: %v, want refused for the live one", err)
	}
	if got, err := e.get("http://" + net.JoinHostPort(host, port) + "/"); err != nil || got != "kubelet /" {
		t.Fatalf("GET through the first session = %q, %v", got, err)
	}
	// Once the first is gone, the node connects again.
	stop()
	eventually(t, "the server drops the first", func() bool { return e.server.Agents() == 0 })
	if err := second.Check(context.Background()); err != nil {
		t.Fatalf("after the first session ended: %v", err)
	}
}

// An agent that reconnects while its old connection hangs (a node whose network went
// away and came back) is not locked out until keepalives notice: the old session does
// not answer a ping and is replaced.
func TestDeadSessionOfANodeIsReplaced(t *testing.T) {
	e := newEnv(t)
	host, port := backend(t, "kubelet")
	p := freezer(t, e.agentAddr)
	old := &env{t: t, ca: e.ca, agentAddr: p.addr}
	_, _ = old.agent(agentOpts{id: "node-a", nodeIPs: []string{host}, serverName: "127.0.0.1", expectConnection: true})
	eventually(t, "one agent", func() bool { return e.server.Agents() == 1 })

	p.frozen.Store(true)
	e.agent(agentOpts{id: "node-a", nodeIPs: []string{host}, expectConnection: true})
	// The agent counts itself connected once it has sent its join; the server registers
	// the new session (and closes the dead one) just after, so a request sent in between
	// may still meet the dead session: it ends with it, and the next goes through.
	eventually(t, "a GET through the new session", func() bool {
		got, err := e.get("http://" + net.JoinHostPort(host, port) + "/")
		return err == nil && got == "kubelet /"
	})
	if n := e.server.Agents(); n != 1 {
		t.Fatalf("agents = %d after the replacement, want 1", n)
	}
}

// The server bounds the connections through an agent; so does the agent itself.
func TestStreamLimits(t *testing.T) {
	host, port := backend(t, "kubelet")
	target := net.JoinHostPort(host, port)
	for _, tc := range []struct {
		name       string
		limits     tunnel.Limits
		maxStreams int
		limit      int
		status     int
		want       string
	}{
		{"server", tunnel.Limits{StreamsPerAgent: 2}, 0, 2, http.StatusServiceUnavailable, "agent node-a carries 2 connections, its limit"},
		{"agent", tunnel.Limits{}, 1, 1, http.StatusBadGateway, "agent node-a carries 1 connections, its limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLimitedReplica(t, newCA(t, "tenant"), "", 1, tc.limits)
			e.agent(agentOpts{id: "node-a", nodeIPs: []string{host}, maxStreams: tc.maxStreams, expectConnection: true})
			var open []net.Conn
			for range tc.limit {
				c, err := e.dialUDS(context.Background(), target)
				if err != nil {
					t.Fatalf("connection within the limit: %v", err)
				}
				open = append(open, c)
			}
			_, err := e.dialUDS(context.Background(), target)
			if statusOf(err) != tc.status || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("connection over the limit: %v, want %d %q", err, tc.status, tc.want)
			}
			_ = open[0].Close()
			eventually(t, "a connection again once one closed", func() bool {
				c, err := e.dialUDS(context.Background(), target)
				if err == nil {
					_ = c.Close()
				}
				return err == nil
			})
			for _, c := range open[1:] {
				_ = c.Close()
			}
		})
	}
}

// Connections that have not authenticated are few at a time: the agents' port is public.
func TestHandshakeLimit(t *testing.T) {
	e := newLimitedReplica(t, newCA(t, "tenant"), "", 1, tunnel.Limits{Handshakes: 1})
	idle, err := net.Dial("tcp", e.agentAddr) // says nothing, holds the only slot
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	a := e.newAgent(agentOpts{id: "node-a", nodeIPs: []string{"10.0.0.1"}})
	if err := a.Check(context.Background()); err == nil {
		t.Fatal("an agent got in while the handshake slot was taken")
	}
	_ = idle.Close()
	eventually(t, "the agent gets in once the slot is free", func() bool { return a.Check(context.Background()) == nil })
}

func TestAPINodeAddresses(t *testing.T) {
	var path atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		switch r.URL.Path {
		case "/api/v1/nodes/worker-1":
			_, _ = io.WriteString(w, `{"kind":"Node","status":{"addresses":[
				{"type":"InternalIP","address":"10.0.0.5"},{"type":"ExternalIP","address":"203.0.113.5"},
				{"type":"Hostname","address":"worker-1"},{"type":"InternalDNS","address":"10.0.0.99"},
				{"type":"InternalIP","address":"fd00::5"}]}}`)
		case "/api/v1/nodes/forbidden":
			http.Error(w, `nodes "forbidden" is forbidden`, http.StatusForbidden)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	lookup, err := tunnel.APINodeAddresses(srv.URL, srv.Client().Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	got, err := lookup(context.Background(), "worker-1")
	want := []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("fd00::5")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("worker-1: %v, %v; want %v", got, err, want)
	}
	if _, err := lookup(context.Background(), "gone"); !errors.Is(err, tunnel.ErrNoNode) {
		t.Errorf("a missing node: %v, want ErrNoNode", err)
	}
	if _, err := lookup(context.Background(), "forbidden"); err == nil || !strings.Contains(err.Error(), "403 Forbidden") {
		t.Errorf("a forbidden lookup: %v, want the 403", err)
	}
	if _, err := tunnel.APINodeAddresses("http://127.0.0.1:6443", nil); err == nil {
		t.Error("a plain-HTTP apiserver URL was accepted")
	}
}

// frozenProxy forwards connections to a backend until frozen, then holds every byte: a
// connection that hangs without closing.
type frozenProxy struct {
	addr   string
	frozen atomic.Bool
}

func freezer(t *testing.T, backend string) *frozenProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &frozenProxy{addr: l.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	cp := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			for p.frozen.Load() {
				time.Sleep(10 * time.Millisecond)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if _, werr := dst.Write(nil); werr != nil {
					return
				}
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				_ = dst.Close()
				return
			}
		}
	}
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, b)
			mu.Unlock()
			wg.Go(func() { cp(b, c) })
			wg.Go(func() { cp(c, b) })
		}
	})
	return p
}
