package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// AgentConfig configures an Agent.
type AgentConfig struct {
	// ServerAddress is the Server's agent listener, host:port: the tenant's published
	// endpoint host and the tunnel port.
	ServerAddress string
	// TLS presents the agent's client certificate and verifies the Server's against the
	// tenant CA (AgentTLSConfig builds one). ServerName defaults to ServerAddress's host.
	TLS *tls.Config
	// ID is the agent's node, as its certificate names it (the Server refuses any other);
	// empty lets the Server take it from the certificate.
	ID string
	// NodeIPs are the addresses of the agent's node: the Server routes CONNECTs to them
	// here, and the agent dials them. At least one.
	NodeIPs []netip.Addr
	// AllowedCIDRs are networks the agent dials besides its node's addresses, e.g. the
	// tenant's service and pod CIDRs for webhooks and aggregated APIs. Everything else is
	// refused.
	AllowedCIDRs []netip.Prefix
	// DialTimeout bounds dialing a target and the Server; 0 means 10 s.
	DialTimeout time.Duration
	// MaxStreams bounds the connections the agent carries at once; more are refused.
	// 0 means 1024.
	MaxStreams int
	// MinBackoff and MaxBackoff bound the wait between connection attempts, which doubles
	// from MinBackoff after each failure; 0 means 1 s and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Dial dials targets; nil means a net.Dialer. Tests replace it.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Resolver resolves DNS targets; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// Agent is the tenant side of the tunnel: it keeps a session to the Server and dials the
// targets the Server asks for, when allowed.
type Agent struct {
	cfg      AgentConfig
	name     string // in logs and errors: the ID, or the first node address
	log      *slog.Logger
	sessions atomic.Int32
	streams  sync.WaitGroup
	carrying atomic.Int64
}

// NewAgent checks cfg and returns an Agent; Run it.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	if cfg.TLS == nil {
		return nil, errors.New("tunnel agent: no TLS configuration")
	}
	host, _, err := net.SplitHostPort(cfg.ServerAddress)
	if err != nil {
		return nil, fmt.Errorf("tunnel agent: server address %q: %w", cfg.ServerAddress, err)
	}
	if len(cfg.NodeIPs) == 0 {
		return nil, errors.New("tunnel agent: no node address")
	}
	cfg.TLS = cfg.TLS.Clone()
	if cfg.TLS.ServerName == "" {
		cfg.TLS.ServerName = host
	}
	for i, ip := range cfg.NodeIPs {
		cfg.NodeIPs[i] = ip.Unmap()
	}
	for i, p := range cfg.AllowedCIDRs {
		cfg.AllowedCIDRs[i] = p.Masked()
	}
	name := cfg.ID
	if name == "" {
		name = cfg.NodeIPs[0].String()
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 1024
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
		cfg.Dial = d.DialContext
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{cfg: cfg, name: name, log: log}, nil
}

// Connected reports whether the Agent has a session to at least one server.
func (a *Agent) Connected() bool { return a.sessions.Load() > 0 }

// Sessions is how many servers the Agent has a session to.
func (a *Agent) Sessions() int { return int(a.sessions.Load()) }

// Allowed reports whether the Agent dials ip: one of its node's addresses or an address in
// an allowed CIDR.
func (a *Agent) Allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	return slices.Contains(a.cfg.NodeIPs, ip) ||
		slices.ContainsFunc(a.cfg.AllowedCIDRs, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// Run keeps a session to each server replica until ctx ends, and returns nil then. The
// servers share one address (a Service in front of the kube-apiserver pods), so the Agent
// dials it until it holds sessions to as many distinct servers as they say there are,
// declining a second session to a server it has one to. Failed attempts back off from
// MinBackoff to MaxBackoff; a new session resets the backoff. Streams in flight end with
// their session.
func (a *Agent) Run(ctx context.Context) error {
	var (
		mu       sync.Mutex
		sessions = map[string]bool{}
		want     = 1
		wg       sync.WaitGroup
		ended    = make(chan struct{}, 1)
		backoff  = a.cfg.MinBackoff
		delay    time.Duration
	)
	defer func() {
		wg.Wait()
		a.streams.Wait()
	}()
	have := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(sessions)
	}
	for {
		if have() >= want {
			select {
			case <-ctx.Done():
				return nil
			case <-ended:
				// Redial after a pause: a server that drops sessions at once is not hammered.
				delay = backoff
				continue
			}
		}
		if delay > 0 {
			// Jitter keeps the agents of a whole cluster from reconnecting in step after a
			// server restarts.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay/2 + rand.N(delay/2+1)):
			}
		}
		held := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Collect(maps.Keys(sessions))
		}
		conn, reply, err := a.connect(ctx, held(), func(id string) bool {
			mu.Lock()
			defer mu.Unlock()
			return !sessions[id]
		})
		if ctx.Err() != nil {
			if conn != nil {
				_ = conn.Close()
			}
			return nil
		}
		if err != nil || conn == nil {
			if err != nil {
				a.log.Info("tunnel connection failed", "server", a.cfg.ServerAddress, "err", err)
			}
			delay = backoff
			backoff = min(2*backoff, a.cfg.MaxBackoff)
			continue
		}
		want = max(reply.ServerCount, 1)
		id := reply.ServerID
		mu.Lock()
		sessions[id] = true
		a.sessions.Store(int32(len(sessions)))
		mu.Unlock()
		backoff, delay = a.cfg.MinBackoff, 0
		a.log.Info("tunnel session established", "server", a.cfg.ServerAddress, "serverID", id, "servers", want, "id", a.name)
		wg.Go(func() {
			err := a.serve(ctx, conn)
			mu.Lock()
			delete(sessions, id)
			a.sessions.Store(int32(len(sessions)))
			mu.Unlock()
			if ctx.Err() == nil {
				a.log.Info("tunnel session ended", "serverID", id, "err", err)
			}
			select {
			case ended <- struct{}{}:
			default:
			}
		})
	}
}

// Check dials the Server once and says whether it accepts this agent (nil) or why not,
// without keeping a session.
func (a *Agent) Check(ctx context.Context) error {
	conn, _, err := a.connect(ctx, nil, func(string) bool { return false })
	if conn != nil {
		_ = conn.Close()
	}
	return err
}

// connect dials the Server and exchanges hellos. It returns no connection and no error
// when the server reached is one accept refuses (a session to it exists).
func (a *Agent) connect(ctx context.Context, held []string, accept func(serverID string) bool) (*tls.Conn, helloReply, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: a.cfg.DialTimeout, KeepAlive: 30 * time.Second}, Config: a.cfg.TLS}
	raw, err := d.DialContext(ctx, "tcp", a.cfg.ServerAddress)
	if err != nil {
		return nil, helloReply{}, err
	}
	conn := raw.(*tls.Conn)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	reply, err := a.hello(conn, held, accept)
	if err != nil || !accept(reply.ServerID) {
		_ = conn.Close()
		return nil, reply, err
	}
	return conn, reply, nil
}

func (a *Agent) hello(conn *tls.Conn, held []string, accept func(serverID string) bool) (helloReply, error) {
	if err := conn.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return helloReply{}, err
	}
	h := hello{Version: protocolVersion, ID: a.cfg.ID, Sessions: held}
	for _, ip := range a.cfg.NodeIPs {
		h.NodeIPs = append(h.NodeIPs, ip.String())
	}
	for _, p := range a.cfg.AllowedCIDRs {
		h.AllowedCIDRs = append(h.AllowedCIDRs, p.String())
	}
	if err := writeFrame(conn, h); err != nil {
		return helloReply{}, fmt.Errorf("send hello: %w", err)
	}
	var r helloReply
	if err := readFrame(conn, &r); err != nil {
		// With TLS 1.3 a refused client certificate shows here, not in the handshake.
		return r, fmt.Errorf("read the server's hello: %w", err)
	}
	if r.Error != "" {
		return r, fmt.Errorf("server refused the agent: %s", r.Error)
	}
	ok := accept(r.ServerID)
	if err := writeFrame(conn, join{Join: ok}); err != nil || !ok {
		return r, err
	}
	return r, conn.SetDeadline(time.Time{})
}

// serve runs a session on conn until it ends.
func (a *Agent) serve(ctx context.Context, conn *tls.Conn) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	sess, err := yamux.Server(conn, yamuxConfig(a.log))
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer sess.Close()
	for {
		stream, err := sess.AcceptStreamWithContext(ctx)
		if err != nil {
			return err
		}
		a.streams.Go(func() {
			defer a.carrying.Add(-1)
			if n := a.carrying.Add(1); n > int64(a.cfg.MaxStreams) {
				_ = writeFrame(stream, dialReply{Error: fmt.Sprintf("agent %s carries %d connections, its limit", a.name, a.cfg.MaxStreams)})
				_ = stream.Close()
				return
			}
			a.serveStream(ctx, stream)
		})
	}
}

// serveStream dials the target a stream asks for and pipes, or answers why not.
func (a *Agent) serveStream(ctx context.Context, stream *yamux.Stream) {
	if err := stream.SetDeadline(time.Now().Add(a.cfg.DialTimeout + handshakeTimeout)); err != nil {
		_ = stream.Close()
		return
	}
	var req dialRequest
	if err := readFrame(stream, &req); err != nil {
		_ = stream.Close()
		return
	}
	target, err := a.dialTarget(ctx, req.Address)
	if err != nil {
		a.log.Info("refused a target", "address", req.Address, "err", err)
		_ = writeFrame(stream, dialReply{Error: err.Error()})
		_ = stream.Close()
		return
	}
	if err := writeFrame(stream, dialReply{}); err != nil {
		_ = target.Close()
		_ = stream.Close()
		return
	}
	if err := stream.SetDeadline(time.Time{}); err != nil {
		_ = target.Close()
		_ = stream.Close()
		return
	}
	pipe(stream, target)
}

// dialTarget checks address against what the agent may dial and dials the address it
// checked (never the name again, which could resolve elsewhere the second time).
func (a *Agent) dialTarget(ctx context.Context, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("bad target %q: %w", address, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.DialTimeout)
	defer cancel()
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = a.cfg.Resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if !a.Allowed(ip) {
			continue
		}
		c, err := a.cfg.Dial(ctx, "tcp", net.JoinHostPort(ip.Unmap().String(), port))
		if err != nil {
			return nil, fmt.Errorf("agent %s: dial %s: %w", a.name, address, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("agent %s: target %s is not allowed (neither this node's address nor in an allowed CIDR)", a.name, address)
}
