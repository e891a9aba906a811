package tunnel

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/yamux"
)

// An agent authenticates with its kubelet's client certificate, which names its node as
// Kubernetes' Node authorizer reads it.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
)

// protocolVersion is the hello's version; a server refuses agents of another.
const protocolVersion = 1

// maxFrame bounds a frame, so a peer cannot make the other allocate at will.
const maxFrame = 64 << 10

// hello is the agent's first frame.
type hello struct {
	Version int `json:"version"`
	// ID is the agent's node; empty means the one its certificate names, and any other is
	// refused.
	ID string `json:"id"`
	// NodeIPs are the addresses of the agent's node: CONNECTs to them are routed to it.
	// Each must be an address of the Node.
	NodeIPs []string `json:"nodeIPs"`
	// AllowedCIDRs are the networks the agent dials besides its node's addresses, each
	// within the server's AgentCIDRs.
	AllowedCIDRs []string `json:"allowedCIDRs,omitempty"`
	// Sessions are the server IDs the agent holds a session to: a server among them does
	// not refuse the node's second session, which the agent declines itself (join).
	Sessions []string `json:"sessions,omitempty"`
}

// helloReply answers a hello; a non-empty Error refuses the agent.
type helloReply struct {
	Error string `json:"error,omitempty"`
	// ServerID names the server replica, so that an agent that has a session to it
	// already declines a second one.
	ServerID string `json:"serverID"`
	// ServerCount is how many server replicas run behind the address the agent dials; the
	// agent keeps a session to each.
	ServerCount int `json:"serverCount"`
}

// join is the agent's last frame before yamux: it declines a server it is connected to.
type join struct {
	Join bool `json:"join"`
}

// dialRequest opens every stream.
type dialRequest struct {
	// Address is host:port, as in the CONNECT request.
	Address string `json:"address"`
}

// dialReply answers a dialRequest: empty Error once the agent dialed the target.
type dialReply struct {
	Error string `json:"error,omitempty"`
}

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(b), maxFrame)
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

func readFrame(r io.Reader, v any) error {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", size, maxFrame)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Timing of the sessions.
const (
	// handshakeTimeout bounds the TLS handshake and hello exchange.
	handshakeTimeout = 10 * time.Second
	// keepAliveInterval pings each session, so a dead agent is dropped in about this long
	// plus yamux's write timeout.
	keepAliveInterval = 15 * time.Second
	// livenessTimeout bounds the ping of a node's session when the node connects again.
	livenessTimeout = 2 * time.Second
)

// Limits bound what agents can hold on a Server; the zero value of each field means its
// default. The agents' port is reachable by anyone who reaches the endpoint.
type Limits struct {
	// Agents is how many agents (nodes) may be connected; default 5000.
	Agents int
	// Handshakes is how many agent connections may be in their TLS handshake and hello at
	// once (unauthenticated); more are closed at once; default 64.
	Handshakes int
	// StreamsPerAgent is how many connections may go through one agent at once; default
	// 1024.
	StreamsPerAgent int
	// PendingPerAgent is how many of those may wait for the agent's dial at once;
	// default 64.
	PendingPerAgent int
}

func (l Limits) withDefaults() Limits {
	def := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	return Limits{
		Agents:          def(l.Agents, 5000),
		Handshakes:      def(l.Handshakes, 64),
		StreamsPerAgent: def(l.StreamsPerAgent, 1024),
		PendingPerAgent: def(l.PendingPerAgent, 64),
	}
}

func yamuxConfig(log *slog.Logger) *yamux.Config {
	c := yamux.DefaultConfig()
	c.KeepAliveInterval = keepAliveInterval
	c.LogOutput = nil
	c.Logger = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	return c
}

// closeWriter is a connection that can signal the end of what it sends and still read.
type closeWriter interface {
	CloseWrite() error
}

// pipe copies both ways between a and b until both directions end, and closes both. A
// direction that ends cleanly half-closes its destination (a yamux stream's Close is a
// half-close); one that fails closes both at once.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			_ = a.Close()
			_ = b.Close()
		} else {
			halfClose(dst)
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
	_ = a.Close()
	_ = b.Close()
}

func halfClose(c net.Conn) {
	switch c := c.(type) {
	case closeWriter:
		_ = c.CloseWrite()
	case *yamux.Stream:
		_ = c.Close()
	default:
		_ = c.Close()
	}
}
