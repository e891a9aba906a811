package tunnel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// TLS serves the agents' listener. It must present the server certificate and require
	// and verify client certificates (ServerTLSConfig builds one).
	TLS *tls.Config
	// NodeAddresses looks up a node of the tenant by name: an agent is accepted only with
	// the certificate of a node that exists, and only for addresses the node has
	// (APINodeAddresses reads them from the tenant's apiserver). Required.
	NodeAddresses NodeAddressesFunc
	// AgentCIDRs bound what agents may announce as AllowedCIDRs: each announced CIDR must
	// lie within one of them (the tenant's pod and Service CIDRs). Empty refuses every
	// announced CIDR.
	AgentCIDRs []netip.Prefix
	// Limits; 0 means the default of each.
	Limits Limits
	// DialTimeout bounds how long a CONNECT waits for the agent to open the stream and dial
	// the target; 0 means 30 s.
	DialTimeout time.Duration
	// Logger logs agents coming and going and failed CONNECTs; nil discards.
	Logger *slog.Logger
	// ID names this server replica (its pod); empty means a random one. Count is how many
	// replicas serve behind the address agents dial (0 means 1): each kube-apiserver has
	// its own server, and agents connect to Count servers of distinct IDs, as konnectivity's
	// agents do with --server-count.
	ID    string
	Count int
}

// Server is the seed side of the tunnel: CONNECTs from the apiserver in, agents' sessions
// out. Its methods are safe for concurrent use.
type Server struct {
	tls         *tls.Config
	id          string
	count       int
	nodes       NodeAddressesFunc
	agentCIDRs  []netip.Prefix
	limits      Limits
	handshakes  chan struct{} // a token per agent connection not yet authenticated
	dialTimeout time.Duration
	log         *slog.Logger

	mu        sync.Mutex
	agents    []*agentSession // in registration order
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closed    bool
	next      uint64 // spreads CIDR-routed CONNECTs over the agents
	wg        sync.WaitGroup

	connects, failures atomic.Uint64
	active             atomic.Int64
}

// agentSession is one connected agent.
type agentSession struct {
	id      string // its node's name
	remote  string
	nodeIPs []netip.Addr
	cidrs   []netip.Prefix
	sess    *yamux.Session
	// streams counts connections through the agent, pending those of them still waiting
	// for the agent's dial reply.
	streams, pending atomic.Int64
	// replaces is the node's earlier session, found dead when this one said hello.
	replaces *agentSession
}

func (a *agentSession) serves(host netip.Addr) bool { return slices.Contains(a.nodeIPs, host) }

func (a *agentSession) allows(host netip.Addr) bool {
	return slices.ContainsFunc(a.cidrs, func(p netip.Prefix) bool { return p.Contains(host) })
}

// NewServer checks cfg and returns a Server; serve it with ServeAgents and ServeConnect.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.TLS == nil {
		return nil, errors.New("tunnel server: no TLS configuration")
	}
	if cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert || cfg.TLS.ClientCAs == nil {
		return nil, errors.New("tunnel server: the TLS configuration must require and verify client certificates")
	}
	if cfg.NodeAddresses == nil {
		return nil, errors.New("tunnel server: no node lookup: agents could not be checked against their Node")
	}
	limits := cfg.Limits.withDefaults()
	s := &Server{
		tls:         cfg.TLS,
		id:          cfg.ID,
		count:       max(cfg.Count, 1),
		nodes:       cfg.NodeAddresses,
		agentCIDRs:  cfg.AgentCIDRs,
		limits:      limits,
		handshakes:  make(chan struct{}, limits.Handshakes),
		dialTimeout: cfg.DialTimeout,
		log:         cfg.Logger,
		listeners:   map[net.Listener]struct{}{},
		conns:       map[net.Conn]struct{}{},
	}
	if s.dialTimeout <= 0 {
		s.dialTimeout = 30 * time.Second
	}
	if s.id == "" {
		s.id = fmt.Sprintf("server-%016x", rand.Uint64())
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// ServeAgents accepts agents on l, a plain TCP listener (the Server adds TLS), until l
// fails or the Server is closed; then it returns the error, or nil after Close.
func (s *Server) ServeAgents(l net.Listener) error {
	return s.serve(l, s.handleAgent)
}

// ServeConnect accepts HTTP CONNECT requests on l, normally the apiserver's Unix socket,
// until l fails or the Server is closed; then it returns the error, or nil after Close.
func (s *Server) ServeConnect(l net.Listener) error {
	return s.serve(l, s.handleConnect)
}

func (s *Server) serve(l net.Listener, handle func(net.Conn)) error {
	if !s.track(l) {
		_ = l.Close()
		return nil
	}
	defer s.untrack(l)
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		if !s.trackConn(c) {
			_ = c.Close()
			return nil
		}
		s.wg.Go(func() {
			defer s.untrackConn(c)
			handle(c)
		})
	}
}

// Close stops the listeners, drops every agent and connection, and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for l := range s.listeners {
		_ = l.Close()
	}
	for c := range s.conns {
		_ = c.Close()
	}
	agents := slices.Clone(s.agents)
	s.mu.Unlock()
	for _, a := range agents {
		_ = a.sess.Close()
	}
	s.wg.Wait()
	return nil
}

// Agents is how many agents are connected.
func (s *Server) Agents() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.agents)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) track(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) untrack(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, l)
}

func (s *Server) trackConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrackConn(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// handleAgent authenticates an agent, reads its hello and keeps its session registered
// until it ends.
func (s *Server) handleAgent(raw net.Conn) {
	remote := raw.RemoteAddr().String()
	// The agents' port is open to the world: connections that have not proven a node's
	// identity yet are few at a time, and the rest are dropped unread.
	select {
	case s.handshakes <- struct{}{}:
	default:
		s.log.Info("agent refused", "remote", remote, "err", fmt.Sprintf("%d handshakes in progress, the limit", s.limits.Handshakes))
		_ = raw.Close()
		return
	}
	a, err := s.acceptAgent(raw)
	<-s.handshakes
	if err != nil {
		s.log.Info("agent refused", "remote", remote, "err", err)
		_ = raw.Close()
		return
	}
	if err := s.register(a); err != nil {
		s.log.Info("agent refused", "id", a.id, "remote", remote, "err", err)
		_ = a.sess.Close()
		return
	}
	s.log.Info("agent connected", "id", a.id, "remote", remote, "nodeIPs", a.nodeIPs, "allowedCIDRs", a.cidrs)
	<-a.sess.CloseChan()
	s.unregister(a)
	s.log.Info("agent disconnected", "id", a.id, "remote", remote)
}

func (s *Server) acceptAgent(raw net.Conn) (*agentSession, error) {
	conn := tls.Server(raw, s.tls)
	if err := conn.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return nil, err
	}
	if err := conn.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	state := conn.ConnectionState()
	if len(state.VerifiedChains) == 0 || len(state.PeerCertificates) == 0 {
		return nil, errors.New("no verified client certificate")
	}
	var h hello
	if err := readFrame(conn, &h); err != nil {
		return nil, fmt.Errorf("read hello: %w", err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(handshakeTimeout))
	defer cancel()
	a, herr := s.checkHello(ctx, state.PeerCertificates[0], h, raw.RemoteAddr().String())
	reply := helloReply{ServerID: s.id, ServerCount: s.count}
	if herr != nil {
		reply.Error = herr.Error()
	}
	if err := writeFrame(conn, reply); err != nil {
		return nil, fmt.Errorf("write hello reply: %w", err)
	}
	if herr != nil {
		return nil, herr
	}
	var j join
	if err := readFrame(conn, &j); err != nil {
		return nil, fmt.Errorf("read join: %w", err)
	}
	if !j.Join {
		return nil, errors.New("the agent is connected to this server already")
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	cfg := yamuxConfig(s.log)
	// Agents never open streams; one they open anyway waits in a backlog of one, and the
	// next is reset, so an agent cannot make the server buffer for it.
	cfg.AcceptBacklog = 1
	sess, err := yamux.Client(conn, cfg)
	if err != nil {
		return nil, err
	}
	a.sess = sess
	return a, nil
}

// checkHello accepts an agent only as the node its certificate names, for addresses that
// node has and CIDRs within the server's, and only while that node has no live session.
func (s *Server) checkHello(ctx context.Context, cert *x509.Certificate, h hello, remote string) (*agentSession, error) {
	node, err := NodeOf(cert)
	if err != nil {
		return nil, err
	}
	if h.Version != protocolVersion {
		return nil, fmt.Errorf("protocol version %d, want %d", h.Version, protocolVersion)
	}
	if h.ID != "" && h.ID != node {
		return nil, fmt.Errorf("the agent says it is node %q but its certificate is node %q's", h.ID, node)
	}
	a := &agentSession{id: node, remote: remote}
	for _, v := range h.NodeIPs {
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("node address %q: %w", v, err)
		}
		a.nodeIPs = append(a.nodeIPs, ip.Unmap())
	}
	for _, v := range h.AllowedCIDRs {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("allowed CIDR %q: %w", v, err)
		}
		p = p.Masked()
		if !slices.ContainsFunc(s.agentCIDRs, func(q netip.Prefix) bool { return within(p, q) }) {
			return nil, fmt.Errorf("allowed CIDR %s is not within the tenant's networks %v", p, s.agentCIDRs)
		}
		a.cidrs = append(a.cidrs, p)
	}
	if len(a.nodeIPs) == 0 {
		return nil, errors.New("the agent announced no node address")
	}
	known, err := s.nodes(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("look up node %s: %w", node, err)
	}
	for _, ip := range a.nodeIPs {
		if !slices.Contains(known, ip) {
			return nil, fmt.Errorf("%s is not an address of node %s (its Node has %v)", ip, node, known)
		}
	}
	if s.agentCount() >= s.limits.Agents {
		return nil, fmt.Errorf("%d agents are connected, the limit", s.limits.Agents)
	}
	if old := s.session(node); old != nil && !slices.Contains(h.Sessions, s.id) {
		if old.alive() {
			return nil, fmt.Errorf("node %s has a live session already (from %s)", node, old.remote)
		}
		a.replaces = old
	}
	return a, nil
}

// NodeOf is the node a kubelet client certificate names: CN system:node:<name> in
// organization system:nodes, the identity the tenant's CA gave the kubelet at join.
func NodeOf(cert *x509.Certificate) (string, error) {
	name, ok := strings.CutPrefix(cert.Subject.CommonName, NodeUserPrefix)
	if !ok || name == "" || !slices.Contains(cert.Subject.Organization, NodesGroup) {
		return "", fmt.Errorf("client certificate %q (organizations %q) is not a node's: want CN %s<name> in %s",
			cert.Subject.CommonName, cert.Subject.Organization, NodeUserPrefix, NodesGroup)
	}
	return name, nil
}

// within says whether p lies inside q.
func within(p, q netip.Prefix) bool {
	return p.Bits() >= q.Bits() && q.Contains(p.Addr())
}

// alive pings the session: an agent that reconnects while its old connection is dead but
// not yet noticed (no keepalive missed yet) replaces it; a live one is kept.
func (a *agentSession) alive() bool {
	done := make(chan error, 1)
	go func() {
		_, err := a.sess.Ping()
		done <- err
	}()
	select {
	case err := <-done:
		return err == nil
	case <-time.After(livenessTimeout):
		return false
	}
}

func (s *Server) agentCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.agents)
}

func (s *Server) session(node string) *agentSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.agents {
		if a.id == node {
			return a
		}
	}
	return nil
}

// register adds a, replacing (and closing) an older session of the same node, which
// checkHello found dead; a session registered since then (a race of two connections of
// one node) refuses a.
func (s *Server) register(a *agentSession) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("the server is closing")
	}
	var stale *agentSession
	for _, o := range s.agents {
		if o.id == a.id {
			stale = o
		}
	}
	if stale != nil && stale != a.replaces {
		s.mu.Unlock()
		return fmt.Errorf("node %s has a live session already (from %s)", a.id, stale.remote)
	}
	if stale == nil && len(s.agents) >= s.limits.Agents { // handshakes in parallel passed checkHello
		s.mu.Unlock()
		return fmt.Errorf("%d agents are connected, the limit", s.limits.Agents)
	}
	s.agents = slices.DeleteFunc(s.agents, func(o *agentSession) bool { return o == stale })
	s.agents = append(s.agents, a)
	s.mu.Unlock()
	if stale != nil {
		s.log.Info("agent's dead session replaced by a new connection", "id", stale.id, "remote", stale.remote)
		_ = stale.sess.Close()
	}
	return nil
}

func (s *Server) unregister(a *agentSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agents = slices.DeleteFunc(s.agents, func(o *agentSession) bool { return o == a })
}

// HealthHandler serves /healthz: 200 while the Server runs, with the number of connected
// agents in its body. It does not fail when no agent is connected: the apiserver's pod must
// become ready (and serve) before any agent can reach it, and an apiserver without agents
// works except for what goes through the tunnel. /metrics has the same in Prometheus' text
// format.
func (s *Server) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s.isClosed() {
			http.Error(w, "closed", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, "{\"status\":\"ok\",\"agents\":%d}\n", s.Agents())
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = fmt.Fprintf(w, "# HELP kubeseed_tunnel_agents Connected tunnel agents.\n# TYPE kubeseed_tunnel_agents gauge\nkubeseed_tunnel_agents %d\n", s.Agents())
		_, _ = fmt.Fprintf(w, "# HELP kubeseed_tunnel_connects_total CONNECT requests served.\n# TYPE kubeseed_tunnel_connects_total counter\nkubeseed_tunnel_connects_total %d\n", s.connects.Load())
		_, _ = fmt.Fprintf(w, "# HELP kubeseed_tunnel_connect_failures_total CONNECT requests answered with an error.\n# TYPE kubeseed_tunnel_connect_failures_total counter\nkubeseed_tunnel_connect_failures_total %d\n", s.failures.Load())
		_, _ = fmt.Fprintf(w, "# HELP kubeseed_tunnel_connections Connections open through the tunnel.\n# TYPE kubeseed_tunnel_connections gauge\nkubeseed_tunnel_connections %d\n", s.active.Load())
	})
	return mux
}
