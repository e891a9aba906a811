// Package etcd talks to a tenant's etcd cluster (member list, learners, promotion, member
// health) and plans how to grow it one member at a time. The client is an interface so that
// tests without etcd pods (envtest) can use Fake; Plan is pure.
//
// This package is internal to kubeseed: no compatibility guarantee.
package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Member is one etcd member as the member list shows it, plus its health when Observe
// filled it in.
type Member struct {
	ID uint64
	// Name is empty until the member has started and published itself.
	Name       string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
	// Healthy and Problem are set by Observe: a started member answered on its own client
	// URL without alarms.
	Healthy bool
	Problem string
}

// Started says whether the member has joined: a member added but not yet running has no
// name and no client URLs.
func (m Member) Started() bool { return m.Name != "" }

// Client is what kubeseed needs from an etcd cluster. Every call is bounded by ctx.
type Client interface {
	// Members lists the cluster's members, learners included.
	Members(ctx context.Context) ([]Member, error)
	// AddLearner adds a non-voting member that will run at peerURL and returns it.
	AddLearner(ctx context.Context, peerURL string) (Member, error)
	// Promote makes a learner a voting member; ErrLearnerNotReady while it catches up.
	// Both membership changes may fail with ErrNotSettled right after another change.
	Promote(ctx context.Context, id uint64) error
	// Remove takes member id out of the cluster.
	Remove(ctx context.Context, id uint64) error
	// MemberHealth asks one started member, on its own client URL, for its status: an
	// error when it does not answer, has no leader or raises an alarm.
	MemberHealth(ctx context.Context, m Member) error
	Close() error
}

// Membership changes etcd refuses for now; try again later.
var (
	// ErrLearnerNotReady: the learner has not caught up with the leader yet.
	ErrLearnerNotReady = errors.New("the learner has not caught up with the leader yet")
	// ErrNotSettled: etcd's strict reconfiguration check wants every voting member
	// connected for a while (5 s) before the next change, and enough of them started.
	ErrNotSettled = errors.New("the members have not been connected long enough for another change")
)

// retryLater maps etcd's transient refusals of a membership change to our errors.
func retryLater(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrMemberLearnerNotReady):
		return ErrLearnerNotReady
	case errors.Is(err, rpctypes.ErrUnhealthy), errors.Is(err, rpctypes.ErrMemberNotEnoughStarted):
		return ErrNotSettled
	}
	return err
}

// Config says how to reach a cluster.
type Config struct {
	// Endpoints are client URLs, e.g. https://acme-etcd-client.project-1.svc:2379.
	Endpoints []string
	// CA verifies the servers; Cert and Key are the client's pair. All PEM.
	CA, Cert, Key []byte
	// DialTimeout bounds connecting; 0 means 5 s.
	DialTimeout time.Duration
}

// Conn is a Client over etcd's v3 API.
type Conn struct {
	cli *clientv3.Client
	tls *tls.Config
}

var _ Client = (*Conn)(nil)

// Dial connects to the cluster; ctx bounds the connection's lifetime, Close ends it sooner.
// The dial does not block: an unreachable cluster shows in the first call.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	tlsCfg, err := TLSConfig(cfg.CA, cfg.Cert, cfg.Key)
	if err != nil {
		return nil, err
	}
	timeout := cfg.DialTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		TLS:         tlsCfg,
		DialTimeout: timeout,
		Context:     ctx,
		// The client's default logger writes to stderr on its own; the caller reports errors.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: connect to %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return &Conn{cli: cli, tls: tlsCfg}, nil
}

// TLSConfig builds a mutual-TLS client configuration from PEM: the CA that signed the
// servers, and the client's certificate and key.
func TLSConfig(caPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("etcd: the CA holds no PEM certificate")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("etcd: client certificate: %w", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// KV gives tests and tools the underlying key-value API.
func (c *Conn) KV() clientv3.KV { return c.cli }

// Members lists the members with a linearizable read, so a member just added is seen.
func (c *Conn) Members(ctx context.Context) ([]Member, error) {
	resp, err := c.cli.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("etcd: list members: %w", err)
	}
	out := make([]Member, 0, len(resp.Members))
	for _, m := range resp.Members {
		out = append(out, Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner})
	}
	return out, nil
}

// AddLearner adds a learner at peerURL.
func (c *Conn) AddLearner(ctx context.Context, peerURL string) (Member, error) {
	resp, err := c.cli.MemberAddAsLearner(ctx, []string{peerURL})
	if err != nil {
		return Member{}, fmt.Errorf("etcd: add learner %s: %w", peerURL, retryLater(err))
	}
	m := resp.Member
	return Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}, nil
}

// Promote promotes learner id to a voting member.
func (c *Conn) Promote(ctx context.Context, id uint64) error {
	if _, err := c.cli.MemberPromote(ctx, id); err != nil {
		return fmt.Errorf("etcd: promote member %x: %w", id, retryLater(err))
	}
	return nil
}

// Remove removes member id.
func (c *Conn) Remove(ctx context.Context, id uint64) error {
	if _, err := c.cli.MemberRemove(ctx, id); err != nil {
		return fmt.Errorf("etcd: remove member %x: %w", id, retryLater(err))
	}
	return nil
}

// MemberHealth asks m for its status on its first client URL.
func (c *Conn) MemberHealth(ctx context.Context, m Member) error {
	if len(m.ClientURLs) == 0 {
		return fmt.Errorf("etcd: member %x has not started", m.ID)
	}
	resp, err := c.cli.Status(ctx, m.ClientURLs[0])
	if err != nil {
		return fmt.Errorf("etcd: status of %s: %w", m.Name, err)
	}
	if len(resp.Errors) > 0 {
		return fmt.Errorf("etcd: %s reports %s", m.Name, strings.Join(resp.Errors, "; "))
	}
	if resp.Leader == 0 {
		return fmt.Errorf("etcd: %s has no leader", m.Name)
	}
	return nil
}

// Close ends the connection.
func (c *Conn) Close() error { return c.cli.Close() }

// memberHealthTimeout keeps one unreachable member from using up the caller's whole deadline.
const memberHealthTimeout = 3 * time.Second

// Observe lists the members and asks each started one for its health, all at once,
// filling Healthy and Problem. Only the member list failing is an error; an unhealthy member
// is data.
func Observe(ctx context.Context, c Client) ([]Member, error) {
	members, err := c.Members(ctx)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for i := range members {
		m := &members[i]
		if !m.Started() {
			m.Problem = "not started"
			continue
		}
		wg.Go(func() {
			hctx, cancel := context.WithTimeout(ctx, memberHealthTimeout)
			defer cancel()
			if err := c.MemberHealth(hctx, *m); err != nil {
				m.Problem = err.Error()
				return
			}
			m.Healthy = true
		})
	}
	wg.Wait()
	return members, nil
}

// SnapshotInfo describes a snapshot being streamed.
type SnapshotInfo struct {
	// Revision is the store's revision just before the snapshot began: the snapshot holds
	// at least this revision.
	Revision int64
	// Version is the etcd server's version.
	Version string
	// Member is the member the snapshot is streamed from.
	Member string
}

// Snapshot streams a full snapshot of the backend from the first endpoint that answers
// Status, with the SHA-256 trailer etcd appends (VerifySnapshot checks it). The caller
// closes the reader; ctx bounds the whole stream.
func (c *Conn) Snapshot(ctx context.Context) (io.ReadCloser, SnapshotInfo, error) {
	var errs []error
	for _, ep := range c.cli.Endpoints() {
		// One connection for the status and the snapshot: behind a Service, two could reach
		// two members, and the revision would not bound the snapshot's.
		one, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, TLS: c.tls, DialTimeout: 5 * time.Second, Context: ctx, Logger: zap.NewNop()})
		if err != nil {
			errs = append(errs, fmt.Errorf("connect to %s: %w", ep, err))
			continue
		}
		st, err := one.Status(ctx, ep)
		switch {
		case err != nil:
			err = fmt.Errorf("status of %s: %w", ep, err)
		case len(st.Errors) > 0:
			err = fmt.Errorf("%s reports %s", ep, strings.Join(st.Errors, "; "))
		case st.Leader == 0:
			err = fmt.Errorf("%s has no leader", ep)
		}
		if err != nil {
			_ = one.Close()
			errs = append(errs, err)
			continue
		}
		rc, err := one.Snapshot(ctx)
		if err != nil {
			_ = one.Close()
			errs = append(errs, fmt.Errorf("snapshot from %s: %w", ep, err))
			continue
		}
		return &closeBoth{ReadCloser: rc, also: one}, SnapshotInfo{Revision: st.Header.Revision, Version: st.Version, Member: ep}, nil
	}
	return nil, SnapshotInfo{}, fmt.Errorf("etcd: no member could stream a snapshot: %w", errors.Join(errs...))
}

type closeBoth struct {
	io.ReadCloser
	also io.Closer
}

func (c *closeBoth) Close() error { return errors.Join(c.ReadCloser.Close(), c.also.Close()) }

// Snapshotter streams snapshots of the cluster at Config, dialling on each call: a backup
// runs long after the reconcile that asked for it returned.
type Snapshotter struct{ Config Config }

// Snapshot dials, streams, and closes the connection with the returned reader.
func (s Snapshotter) Snapshot(ctx context.Context) (io.ReadCloser, SnapshotInfo, error) {
	c, err := Dial(ctx, s.Config)
	if err != nil {
		return nil, SnapshotInfo{}, err
	}
	rc, info, err := c.Snapshot(ctx)
	if err != nil {
		_ = c.Close()
		return nil, info, err
	}
	return &closeBoth{ReadCloser: rc, also: c}, info, nil
}
