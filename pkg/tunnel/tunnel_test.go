package tunnel_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeseed/kubeseed/pkg/tunnel"
)

func TestConnectThroughUDSReachesBackend(t *testing.T) {
	e := newEnv(t)
	host, port := backend(t, "kubelet")
	if got := e.agentsAtHealth(); got != `200 {"status":"ok","agents":0}` {
		t.Errorf("healthz without agents = %s, want 200 with 0 agents (readiness must not need agents)", got)
	}
	e.agent(agentOpts{nodeIPs: []string{host}, expectConnection: true})
	eventually(t, "server counts the agent", func() bool { return e.server.Agents() == 1 })
	if got := e.agentsAtHealth(); got != `200 {"status":"ok","agents":1}` {
		t.Errorf("healthz = %s, want 1 agent", got)
	}

	body, err := e.get("http://" + net.JoinHostPort(host, port) + "/containerLogs/x")
	if err != nil {
		t.Fatalf("GET through the tunnel: %v", err)
	}
	if body != "kubelet /containerLogs/x" {
		t.Errorf("body = %q", body)
	}

	resp, err := http.Get(e.health + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"kubeseed_tunnel_agents 1", "kubeseed_tunnel_connects_total 1", "kubeseed_tunnel_connect_failures_total 0"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
}

func TestNoAgentIsServiceUnavailable(t *testing.T) {
	e := newEnv(t)
	_, err := e.dialUDS(context.Background(), "10.0.0.1:10250")
	if statusOf(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "no tunnel agent is connected") {
		t.Fatalf("CONNECT without agents: %v, want 503 no tunnel agent is connected", err)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		request string
		status  string
	}{
		{"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405"},
		{"CONNECT nonsense HTTP/1.1\r\nHost: nonsense\r\n\r\n", "HTTP/1.1 400"},
		{"garbage\r\n\r\n", "HTTP/1.1 400"},
	} {
		c, err := net.Dial("unix", e.socket)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, tc.request); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		_ = c.Close()
		if !strings.HasPrefix(string(b), tc.status) {
			t.Errorf("%q answered %q, want %s", tc.request, b, tc.status)
		}
	}
}

func TestRoutesByNodeAddress(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var seenA, seenB []string
	hostA, portA := backend(t, "node-a")
	hostB, portB := backend(t, "node-b")
	e.agent(agentOpts{id: "a", nodeIPs: []string{"10.0.0.1"}, dial: redirect(net.JoinHostPort(hostA, portA), &seenA, &mu), expectConnection: true})
	e.agent(agentOpts{id: "b", nodeIPs: []string{"10.0.0.2", "fd00::2"}, dial: redirect(net.JoinHostPort(hostB, portB), &seenB, &mu), expectConnection: true})
	eventually(t, "two agents", func() bool { return e.server.Agents() == 2 })

	for _, tc := range []struct{ target, want string }{
		{"10.0.0.1:10250", "node-a /"},
		{"10.0.0.2:10250", "node-b /"},
		{"[fd00::2]:10250", "node-b /"},
	} {
		got, err := e.get("http://" + tc.target + "/")
		if err != nil || got != tc.want {
			t.Errorf("GET %s = %q, %v; want %q", tc.target, got, err, tc.want)
		}
	}
	mu.Lock()
	if strings.Join(seenA, ",") != "10.0.0.1:10250" || strings.Join(seenB, ",") != "10.0.0.2:10250,[fd00::2]:10250" {
		t.Errorf("agent a dialed %v, agent b %v", seenA, seenB)
	}
	mu.Unlock()

	// Several agents and none serves the host: refused by the server.
	_, err := e.dialUDS(context.Background(), "10.0.0.3:10250")
	if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "no tunnel agent serves 10.0.0.3") {
		t.Errorf("CONNECT to an unknown host: %v, want 502 no tunnel agent serves", err)
	}
}

func TestAllowedCIDRRoutesAndDials(t *testing.T) {
	e := newEnv(t)
	host, port := backend(t, "webhook")
	// The node is elsewhere; loopback stands for the tenant's service CIDR.
	e.agent(agentOpts{id: "a", nodeIPs: []string{"192.0.2.10"}, cidrs: []string{"127.0.0.0/8"}, expectConnection: true})
	e.agent(agentOpts{id: "b", nodeIPs: []string{"192.0.2.11"}, cidrs: []string{"127.0.0.0/8"}, expectConnection: true})
	eventually(t, "two agents", func() bool { return e.server.Agents() == 2 })
	for range 4 { // in turn over both agents
		got, err := e.get("http://" + net.JoinHostPort(host, port) + "/validate")
		if err != nil || got != "webhook /validate" {
			t.Fatalf("GET = %q, %v", got, err)
		}
	}
}

func TestSingleAgentFallbackStillDeniesTargets(t *testing.T) {
	e := newEnv(t)
	host, port := backend(t, "node")
	// One agent: every CONNECT goes to it, but it dials only its node and allowed CIDRs.
	e.agent(agentOpts{nodeIPs: []string{"127.0.0.2"}, cidrs: []string{"10.96.0.0/12"}, expectConnection: true})
	eventually(t, "one agent", func() bool { return e.server.Agents() == 1 })

	for _, target := range []string{
		net.JoinHostPort(host, port), // 127.0.0.1: not the node, not allowed
		"169.254.169.254:80",         // the cloud's metadata service
		"192.168.1.1:22",             // elsewhere in the customer's network
	} {
		_, err := e.dialUDS(context.Background(), target)
		if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "is not allowed") {
			t.Errorf("CONNECT %s: %v, want 502 not allowed", target, err)
		}
	}
	// A failed target does not break the session.
	if e.server.Agents() != 1 {
		t.Errorf("agents = %d after refusals", e.server.Agents())
	}
}

func TestDialFailureIsBadGateway(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	e.agent(agentOpts{nodeIPs: []string{"127.0.0.1"}, expectConnection: true})
	eventually(t, "one agent", func() bool { return e.server.Agents() == 1 })
	_, err = e.dialUDS(context.Background(), closed)
	if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "dial "+closed) {
		t.Fatalf("CONNECT to a closed port: %v, want 502 with the dial error", err)
	}
}

func TestAgentReconnectsAfterServerRestart(t *testing.T) {
	e := newEnv(t)
	host, port := backend(t, "kubelet")
	url := "http://" + net.JoinHostPort(host, port) + "/"
	a, _ := e.agent(agentOpts{nodeIPs: []string{host}, expectConnection: true})
	eventually(t, "one agent", func() bool { return e.server.Agents() == 1 })
	if _, err := e.get(url); err != nil {
		t.Fatal(err)
	}

	e.stop()
	eventually(t, "agent notices the server is gone", func() bool { return !a.Connected() })
	tcp, err := net.Listen("tcp", e.agentAddr)
	if err != nil {
		t.Fatal(err)
	}
	e.start(tcp)
	eventually(t, "agent back", func() bool { return e.server.Agents() == 1 })
	if got, err := e.get(url); err != nil || got != "kubelet /" {
		t.Fatalf("GET after reconnect = %q, %v", got, err)
	}
}

func TestAgentDisconnectIsNoticed(t *testing.T) {
	e := newEnv(t)
	host, port := backend(t, "kubelet")
	_, stop := e.agent(agentOpts{nodeIPs: []string{host}, expectConnection: true})
	eventually(t, "one agent", func() bool { return e.server.Agents() == 1 })
	stop()
	eventually(t, "server drops the agent", func() bool { return e.server.Agents() == 0 })
	_, err := e.dialUDS(context.Background(), net.JoinHostPort(host, port))
	if statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("CONNECT after the agent left: %v, want 503", err)
	}
	// The same agent comes back.
	e.agent(agentOpts{nodeIPs: []string{host}, expectConnection: true})
	eventually(t, "agent back", func() bool { return e.server.Agents() == 1 })
	if _, err := e.get("http://" + net.JoinHostPort(host, port) + "/"); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentStreams(t *testing.T) {
	e := newEnv(t)
	host, port := backend(t, "kubelet")
	e.agent(agentOpts{nodeIPs: []string{host}, expectConnection: true})
	eventually(t, "one agent", func() bool { return e.server.Agents() == 1 })
	url := "http://" + net.JoinHostPort(host, port) + "/echo"
	client := e.client()

	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			// Large enough to exercise yamux's flow control window (256 KiB).
			payload := make([]byte, 300<<10+i)
			_, _ = rand.Read(payload)
			resp, err := client.Post(url, "application/octet-stream", bytes.NewReader(payload))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, payload) {
				errs <- fmt.Errorf("stream %d: echo of %d bytes came back as %d different bytes", i, len(payload), len(got))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestHalfCloseCarriesTheRest(t *testing.T) {
	e := newEnv(t)
	// An echo server that answers only once the client is done sending.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		_, _ = c.Write(bytes.ToUpper(b))
	}()
	e.agent(agentOpts{nodeIPs: []string{"127.0.0.1"}, expectConnection: true})
	eventually(t, "one agent", func() bool { return e.server.Agents() == 1 })
	c, err := e.dialUDS(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "port-forward"); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "PORT-FORWARD" {
		t.Fatalf("read %q, %v; want PORT-FORWARD then EOF", got, err)
	}
}

func TestAgentOfAnotherCAIsRefused(t *testing.T) {
	e := newEnv(t)
	other := newCA(t, "other")
	cert, key := other.nodeCert(t, "node-127-0-0-1")
	// It trusts the right server, but its own certificate is another CA's.
	a, _ := e.agent(agentOpts{nodeIPs: []string{"127.0.0.1"}, certFile: cert, key: key})
	time.Sleep(300 * time.Millisecond) // several attempts with the test's backoff
	if a.Connected() || e.server.Agents() != 0 {
		t.Fatalf("agent with a foreign certificate: connected %v, server counts %d", a.Connected(), e.server.Agents())
	}
}

func TestAgentWithAnotherCommonNameIsRefused(t *testing.T) {
	e := newEnv(t)
	cert, key := e.ca.leaf(t, "admin", "kubernetes-admin", x509.ExtKeyUsageClientAuth)
	a, _ := e.agent(agentOpts{nodeIPs: []string{"127.0.0.1"}, certFile: cert, key: key})
	time.Sleep(300 * time.Millisecond)
	if a.Connected() || e.server.Agents() != 0 {
		t.Fatalf("agent with CN kubernetes-admin: connected %v, server counts %d", a.Connected(), e.server.Agents())
	}
}

func TestAgentRefusesAServerOfAnotherCA(t *testing.T) {
	e := newEnv(t)
	other := newCA(t, "other")
	a, _ := e.agent(agentOpts{nodeIPs: []string{"127.0.0.1"}, caFile: other.file})
	time.Sleep(300 * time.Millisecond)
	if a.Connected() || e.server.Agents() != 0 {
		t.Fatalf("agent trusting another CA: connected %v, server counts %d", a.Connected(), e.server.Agents())
	}
}

func TestAgentAllowed(t *testing.T) {
	cfg, err := (func() (*tunnel.Agent, error) {
		return tunnel.NewAgent(tunnel.AgentConfig{
			ServerAddress: "203.0.113.10:8132",
			TLS:           newClientTLS(t),
			NodeIPs:       []netip.Addr{netip.MustParseAddr("10.0.0.5")},
			AllowedCIDRs:  []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("10.244.1.7/16")},
		})
	})()
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{
		"10.0.0.5": true, "::ffff:10.0.0.5": true, "10.96.0.1": true, "10.111.255.254": true, "10.244.0.3": true,
		"10.0.0.6": false, "127.0.0.1": false, "169.254.169.254": false, "10.112.0.1": false, "fd00::1": false,
	} {
		if got := cfg.Allowed(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", ip, got, want)
		}
	}
}

func newClientTLS(t *testing.T) *tlsConfig {
	ca := newCA(t, "ca")
	cert, key := ca.nodeCert(t, "node-1")
	cfg, err := tunnel.AgentTLSConfig(cert, key, ca.file, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestConfigErrors(t *testing.T) {
	if _, err := tunnel.NewServer(tunnel.ServerConfig{}); err == nil {
		t.Error("NewServer without TLS: no error")
	}
	if _, err := tunnel.NewServer(tunnel.ServerConfig{TLS: &tlsConfig{}}); err == nil {
		t.Error("NewServer without client certificates: no error")
	}
	tlsCfg := newClientTLS(t)
	if _, err := tunnel.NewAgent(tunnel.AgentConfig{ServerAddress: "nohostport", TLS: tlsCfg, NodeIPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}); err == nil {
		t.Error("NewAgent with a bad server address: no error")
	}
	if _, err := tunnel.NewAgent(tunnel.AgentConfig{ServerAddress: "h:1", TLS: tlsCfg}); err == nil {
		t.Error("NewAgent without node addresses: no error")
	}
	if _, err := tunnel.ServerTLSConfig("/nonexistent", "/nonexistent", "/nonexistent"); err == nil {
		t.Error("ServerTLSConfig of missing files: no error")
	}
}

type tlsConfig = tls.Config

func TestAgentConnectsToEveryServerReplica(t *testing.T) {
	ca := newCA(t, "tenant")
	one := newReplica(t, ca, "apiserver-0", 2)
	two := newReplica(t, ca, "apiserver-1", 2)
	host, port := backend(t, "kubelet")
	// Agents dial the Service; each connection lands on one replica.
	lb := &env{t: t, ca: ca, agentAddr: balancer(t, one.agentAddr, two.agentAddr)}
	a, _ := lb.agent(agentOpts{nodeIPs: []string{host}, serverName: "127.0.0.1", expectConnection: true})
	eventually(t, "a session to each replica", func() bool {
		return a.Sessions() == 2 && one.server.Agents() == 1 && two.server.Agents() == 1
	})
	for _, e := range []*env{one, two} {
		if got, err := e.get("http://" + net.JoinHostPort(host, port) + "/"); err != nil || got != "kubelet /" {
			t.Errorf("GET through replica %s = %q, %v", e.id, got, err)
		}
	}
	// A replica restarts; the agent finds it again and keeps the other session meanwhile.
	two.stop()
	eventually(t, "the agent notices", func() bool { return a.Sessions() == 1 })
	tcp, err := net.Listen("tcp", two.agentAddr)
	if err != nil {
		t.Fatal(err)
	}
	two.start(tcp)
	eventually(t, "back to both replicas", func() bool { return a.Sessions() == 2 && two.server.Agents() == 1 })
	if one.server.Agents() != 1 {
		t.Errorf("replica one counts %d agents, want 1", one.server.Agents())
	}
}
