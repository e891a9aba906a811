package tunnel_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeseed/kubeseed/pkg/tunnel"
)

// testCA is a CA that writes PEM files of itself and of leaves it signs. It stands for a
// tenant: nodes are its Nodes' addresses, which the servers of the tenant look up (the
// tenant's apiserver in a real server; a map here).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
	file string // the CA certificate

	mu    sync.Mutex
	nodes map[string][]netip.Addr
}

// setNode makes (or, with no addresses, removes) the tenant's Node name.
func (ca *testCA) setNode(name string, ips ...string) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if len(ips) == 0 {
		delete(ca.nodes, name)
		return
	}
	var addrs []netip.Addr
	for _, ip := range ips {
		addrs = append(addrs, netip.MustParseAddr(ip).Unmap())
	}
	ca.nodes[name] = addrs
}

// nodeAddresses is the servers' NodeAddresses.
func (ca *testCA) nodeAddresses(_ context.Context, name string) ([]netip.Addr, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	addrs, ok := ca.nodes[name]
	if !ok {
		return nil, fmt.Errorf("node %s: %w", name, tunnel.ErrNoNode)
	}
	return addrs, nil
}

// nodeCert issues node name's kubelet client certificate, as the tenant's controller
// manager signs it at join.
func (ca *testCA) nodeCert(t *testing.T, name string) (certFile, keyFile string) {
	t.Helper()
	return ca.issue(t, "node-"+name, pkix.Name{CommonName: tunnel.NodeUserPrefix + name, Organization: []string{tunnel.NodesGroup}}, x509.ExtKeyUsageClientAuth)
}

var serial int64

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(nextSerial()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, dir: t.TempDir(), nodes: map[string][]netip.Addr{}}
	ca.file = filepath.Join(ca.dir, name+"-ca.crt")
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

var serialMu sync.Mutex

func nextSerial() int64 {
	serialMu.Lock()
	defer serialMu.Unlock()
	serial++
	return serial
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// leaf issues a certificate and returns the paths of its certificate and key.
func (ca *testCA) leaf(t *testing.T, name, cn string, usage x509.ExtKeyUsage, ips ...string) (certFile, keyFile string) {
	t.Helper()
	return ca.issue(t, name, pkix.Name{CommonName: cn}, usage, ips...)
}

func (ca *testCA) issue(t *testing.T, name string, subject pkix.Name, usage x509.ExtKeyUsage, ips ...string) (certFile, keyFile string) {
	t.Helper()
	key := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(nextSerial()),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(ca.dir, name+".crt"), filepath.Join(ca.dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

// env is a running Server: its agent listener, its Unix socket and its health endpoint.
type env struct {
	t          *testing.T
	ca         *testCA
	server     *tunnel.Server
	agentAddr  string
	socket     string
	health     string
	serverDone chan struct{}
	healthSrv  *http.Server
	id         string
	count      int
	limits     tunnel.Limits
}

// agentCIDRs are what the test servers let agents announce: loopback stands for the
// tenant's service network, 10/8 for its pod network.
var agentCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newReplica(t, newCA(t, "tenant"), "", 1)
}

// newReplica is an env whose Server is replica id of count, with the tenant CA ca.
func newReplica(t *testing.T, ca *testCA, id string, count int) *env {
	t.Helper()
	return newLimitedReplica(t, ca, id, count, tunnel.Limits{})
}

func newLimitedReplica(t *testing.T, ca *testCA, id string, count int, limits tunnel.Limits) *env {
	t.Helper()
	e := &env{t: t, ca: ca, id: id, count: count, limits: limits}
	dir, err := os.MkdirTemp("", "tunnel") // Unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	e.socket = filepath.Join(dir, "konnectivity.socket")
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.agentAddr = tcp.Addr().String()
	e.start(tcp)
	return e
}

// start runs a Server with agents on tcp.
func (e *env) start(tcp net.Listener) {
	t := e.t
	certFile, keyFile := e.ca.leaf(t, "server"+e.id, "tunnel-server", x509.ExtKeyUsageServerAuth, "127.0.0.1")
	cfg, err := tunnel.ServerTLSConfig(certFile, keyFile, e.ca.file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tunnel.NewServer(tunnel.ServerConfig{
		TLS: cfg, DialTimeout: 5 * time.Second, Logger: testLogger(t), ID: e.id, Count: e.count,
		NodeAddresses: e.ca.nodeAddresses, AgentCIDRs: agentCIDRs, Limits: e.limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(e.socket)
	uds, err := net.Listen("unix", e.socket)
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.HealthHandler(), ReadHeaderTimeout: time.Second}
	e.health = "http://" + hl.Addr().String()
	e.server = s
	e.healthSrv = hs
	done := make(chan struct{})
	e.serverDone = done
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.ServeAgents(tcp) })
	wg.Go(func() { _ = s.ServeConnect(uds) })
	wg.Go(func() { _ = hs.Serve(hl) })
	go func() { wg.Wait(); close(done) }()
	t.Cleanup(e.stop)
}

// stop closes the Server and waits for its listeners to return.
func (e *env) stop() {
	_ = e.server.Close()
	_ = e.healthSrv.Close()
	<-e.serverDone
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return nil
}

type agentOpts struct {
	// id is the agent's node; empty means one named after the first node address. The
	// agent gets that node's certificate, and the node these addresses, unless
	// certFile or unregistered say otherwise.
	id               string
	unregistered     bool
	sendID           string // the ID in the hello, if not id
	maxStreams       int
	nodeIPs          []string
	cidrs            []string
	certFile, key    string
	caFile           string
	dial             func(ctx context.Context, network, address string) (net.Conn, error)
	serverName       string
	expectConnection bool
}

// agent runs an agent until the test ends or the returned stop is called.
func (e *env) agent(o agentOpts) (*tunnel.Agent, func()) {
	t := e.t
	t.Helper()
	a := e.newAgent(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	if o.expectConnection {
		eventually(t, "agent connected", a.Connected)
	}
	return a, stop
}

// nodeName is the node an agent of these options stands for.
func (o agentOpts) nodeName() string {
	if o.id != "" {
		return o.id
	}
	return "node-" + strings.NewReplacer(".", "-", ":", "-").Replace(o.nodeIPs[0])
}

// newAgent makes the agent of o, its node certificate and Node.
func (e *env) newAgent(o agentOpts) *tunnel.Agent {
	t := e.t
	t.Helper()
	node := o.nodeName()
	if o.certFile == "" {
		o.certFile, o.key = e.ca.nodeCert(t, node)
	}
	if !o.unregistered {
		e.ca.setNode(node, o.nodeIPs...)
	}
	if o.caFile == "" {
		o.caFile = e.ca.file
	}
	cfg, err := tunnel.AgentTLSConfig(o.certFile, o.key, o.caFile, o.serverName)
	if err != nil {
		t.Fatal(err)
	}
	id := o.id
	if o.sendID != "" {
		id = o.sendID
	}
	ac := tunnel.AgentConfig{
		ServerAddress: e.agentAddr, TLS: cfg, ID: id, Dial: o.dial, MaxStreams: o.maxStreams,
		DialTimeout: 2 * time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: testLogger(t),
	}
	for _, ip := range o.nodeIPs {
		ac.NodeIPs = append(ac.NodeIPs, netip.MustParseAddr(ip))
	}
	for _, c := range o.cidrs {
		ac.AllowedCIDRs = append(ac.AllowedCIDRs, netip.MustParsePrefix(c))
	}
	a, err := tunnel.NewAgent(ac)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connectError is a CONNECT the tunnel answered with another status than 200.
type connectError struct {
	status int
	body   string
}

func (e *connectError) Error() string {
	return fmt.Sprintf("CONNECT answered %d: %s", e.status, e.body)
}

// dialUDS does what the kube-apiserver's egress dialer does for an HTTPConnect egress over
// a Unix socket: send CONNECT, read the response, and refuse anything but 200 and any
// byte after it.
func (e *env) dialUDS(ctx context.Context, address string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", e.socket)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", address, address); err != nil {
		_ = c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("read CONNECT response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		_ = c.Close()
		return nil, &connectError{status: resp.StatusCode, body: strings.TrimSpace(string(body))}
	}
	if n := br.Buffered(); n > 0 {
		_ = c.Close()
		return nil, fmt.Errorf("%d unexpected bytes after the CONNECT response", n)
	}
	return c, nil
}

// client is an HTTP client whose every connection goes through the tunnel.
func (e *env) client() *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, address string) (net.Conn, error) {
			return e.dialUDS(ctx, address)
		},
		DisableKeepAlives: true,
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (e *env) get(url string) (string, error) {
	resp, err := e.client().Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (e *env) agentsAtHealth() string {
	resp, err := http.Get(e.health + "/healthz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
}

// statusOf is the status of the CONNECT behind err, 0 if none.
func statusOf(err error) int {
	var ce *connectError
	if errors.As(err, &ce) {
		return ce.status
	}
	return 0
}

// backend is an HTTP server on loopback answering its name.
func backend(t *testing.T, name string) (host, port string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				_, _ = io.Copy(w, r.Body)
				return
			}
			_, _ = fmt.Fprintf(w, "%s %s", name, r.URL.Path)
		}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	host, port, _ = net.SplitHostPort(l.Addr().String())
	return host, port
}

// redirect dials to, whatever address the agent was asked for, and records that address.
func redirect(to string, seen *[]string, mu *sync.Mutex) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		mu.Lock()
		*seen = append(*seen, address)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, to)
	}
}

// balancer forwards each connection to the next of backends, as a Service in front of
// several kube-apiserver pods does; it returns its address.
func balancer(t *testing.T, backends ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", backends[i%len(backends)])
				if err != nil {
					return
				}
				defer b.Close()
				go func() { _, _ = io.Copy(b, c); _ = b.Close() }()
				_, _ = io.Copy(c, b)
			}()
		}
	}()
	return l.Addr().String()
}
