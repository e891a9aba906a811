package tunnel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/hashicorp/yamux"
)

// route lists the agents to try for host, best first (see the package documentation).
func (s *Server) route(host string) (candidates []*agentSession, connected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	connected = len(s.agents)
	ip, err := netip.ParseAddr(host)
	if err == nil {
		ip = ip.Unmap()
		for i := len(s.agents) - 1; i >= 0; i-- {
			if s.agents[i].serves(ip) {
				candidates = append(candidates, s.agents[i])
			}
		}
		if len(candidates) > 0 {
			return candidates, connected
		}
		var allowing []*agentSession
		for _, a := range s.agents {
			if a.allows(ip) {
				allowing = append(allowing, a)
			}
		}
		if n := len(allowing); n > 0 {
			start := int(s.next % uint64(n))
			s.next++
			return append(allowing[start:], allowing[:start]...), connected
		}
	}
	if connected == 1 {
		return []*agentSession{s.agents[0]}, connected
	}
	return nil, connected
}

// dialError is a CONNECT that failed, with the status to answer.
type dialError struct {
	status int
	reason string
}

func (e *dialError) Error() string { return e.reason }

// dial opens a stream to address through an agent, as a CONNECT does; release must be
// called once the stream is done with.
func (s *Server) dial(ctx context.Context, address string) (stream *yamux.Stream, release func(), err error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, nil, &dialError{http.StatusBadRequest, fmt.Sprintf("bad target %q: %v", address, err)}
	}
	candidates, connected := s.route(host)
	if connected == 0 {
		return nil, nil, &dialError{http.StatusServiceUnavailable, "no tunnel agent is connected"}
	}
	if len(candidates) == 0 {
		return nil, nil, &dialError{http.StatusBadGateway, fmt.Sprintf("no tunnel agent serves %s (%d agents connected)", host, connected)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.dialTimeout)
	defer cancel()
	var last error
	for _, a := range candidates {
		stream, err := s.open(ctx, a, address)
		if err == nil {
			return stream, func() { a.streams.Add(-1) }, nil
		}
		last = err
		var de *dialError
		if !errors.As(err, &de) || de.status != http.StatusServiceUnavailable {
			break // the agent was asked and said no: the target's answer, not the agent's
		}
	}
	return nil, nil, last
}

// open opens a stream through a, within its limits, and has it dial address. A stream it
// returns is counted in a.streams.
func (s *Server) open(ctx context.Context, a *agentSession, address string) (*yamux.Stream, error) {
	if n := a.streams.Add(1); n > int64(s.limits.StreamsPerAgent) {
		a.streams.Add(-1)
		return nil, &dialError{http.StatusServiceUnavailable, fmt.Sprintf("agent %s carries %d connections, its limit", a.id, s.limits.StreamsPerAgent)}
	}
	if n := a.pending.Add(1); n > int64(s.limits.PendingPerAgent) {
		a.pending.Add(-1)
		a.streams.Add(-1)
		return nil, &dialError{http.StatusServiceUnavailable, fmt.Sprintf("agent %s has %d dials in progress, its limit", a.id, s.limits.PendingPerAgent)}
	}
	defer a.pending.Add(-1)
	stream, err := a.sess.OpenStream()
	if err != nil {
		// A session that cannot open a stream is dead or dying; the next may do.
		a.streams.Add(-1)
		return nil, &dialError{http.StatusServiceUnavailable, fmt.Sprintf("agent %s: %v", a.id, err)}
	}
	stop := context.AfterFunc(ctx, func() { _ = stream.SetDeadline(time.Now()) })
	err = s.request(stream, address)
	if !stop() {
		err = fmt.Errorf("agent %s: timed out dialing %s", a.id, address)
	}
	if err == nil {
		err = stream.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = stream.Close()
		a.streams.Add(-1)
		return nil, &dialError{http.StatusBadGateway, err.Error()}
	}
	return stream, nil
}

// request asks the agent at the other end of stream to dial address.
func (s *Server) request(stream *yamux.Stream, address string) error {
	if err := writeFrame(stream, dialRequest{Address: address}); err != nil {
		return fmt.Errorf("send the target: %w", err)
	}
	var r dialReply
	if err := readFrame(stream, &r); err != nil {
		return fmt.Errorf("read the agent's answer: %w", err)
	}
	if r.Error != "" {
		return errors.New(r.Error)
	}
	return nil
}

// connectTimeout bounds reading the CONNECT request.
const connectTimeout = 30 * time.Second

// handleConnect serves one HTTP CONNECT, the way the apiserver's egress dialer and
// konnectivity's HTTPConnect mode speak it: one request per connection, then raw bytes.
func (s *Server) handleConnect(c net.Conn) {
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(connectTimeout)); err != nil {
		return
	}
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			writeStatus(c, http.StatusBadRequest, "malformed request")
		}
		return
	}
	_ = req.Body.Close()
	if req.Method != http.MethodConnect {
		writeStatus(c, http.StatusMethodNotAllowed, "only CONNECT is served")
		return
	}
	target := req.RequestURI
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return
	}
	s.connects.Add(1)
	stream, release, err := s.dial(context.Background(), target)
	if err != nil {
		s.failures.Add(1)
		status := http.StatusBadGateway
		var de *dialError
		if errors.As(err, &de) {
			status = de.status
		}
		s.log.Info("CONNECT failed", "target", target, "status", status, "err", err)
		writeStatus(c, status, err.Error())
		return
	}
	defer release()
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = stream.Close()
		return
	}
	// Bytes the client sent right behind its request belong to the target.
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if _, err := stream.Write(b); err != nil {
			_ = stream.Close()
			return
		}
	}
	s.active.Add(1)
	defer s.active.Add(-1)
	pipe(c, stream)
}

// writeStatus answers a CONNECT that failed; the reason is in the status line and body.
func writeStatus(w io.Writer, status int, reason string) {
	reason = strings.NewReplacer("\r", " ", "\n", " ").Replace(reason)
	_, _ = fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(reason)+1, reason+"\n")
}
