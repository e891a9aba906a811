package metrics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
)

// DBSizeFunc returns the size in bytes of the database of the etcd cluster cfg reaches,
// within ctx.
type DBSizeFunc func(ctx context.Context, cfg etcd.Config) (int64, error)

// DBSize is the real DBSizeFunc: it lists the cluster's members through cfg's endpoints and
// asks each started member for its Status, returning the largest database (etcd's quota
// applies per member, and a lagging member may hold a larger, not yet compacted one). It
// needs the manager in the seed's pod network, as growing etcd does.
func DBSize(ctx context.Context, cfg etcd.Config) (int64, error) {
	if len(cfg.Endpoints) == 0 {
		return 0, errors.New("etcd: no endpoints")
	}
	tlsCfg, err := etcd.TLSConfig(cfg.CA, cfg.Cert, cfg.Key)
	if err != nil {
		return 0, err
	}
	timeout := cfg.DialTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.Endpoints, TLS: tlsCfg, DialTimeout: timeout, Context: ctx,
		// The client's default logger writes to stderr on its own; the caller reports errors.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return 0, fmt.Errorf("etcd: connect to %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	defer func() { _ = cli.Close() }()
	members, err := cli.MemberList(ctx)
	if err != nil {
		return 0, fmt.Errorf("etcd: list members: %w", err)
	}
	var size int64
	var answered bool
	var errs []error
	for _, m := range members.Members {
		if len(m.ClientURLs) == 0 {
			continue // added, not started
		}
		st, err := cli.Status(ctx, m.ClientURLs[0])
		if err != nil {
			errs = append(errs, fmt.Errorf("etcd: status of %s: %w", m.Name, err))
			continue
		}
		answered = true
		size = max(size, st.DbSize)
	}
	if !answered {
		return 0, errors.Join(append([]error{errors.New("etcd: no member answered")}, errs...)...)
	}
	return size, nil
}

// sizeStore holds the sizes of the last poll, for the collector to read at scrape time.
type sizeStore struct {
	mu    sync.Mutex
	sizes map[types.NamespacedName]int64
}

func (s *sizeStore) all() map[types.NamespacedName]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.sizes)
}

func (s *sizeStore) replace(sizes map[types.NamespacedName]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = sizes
}

// etcdPoller asks each tenant's etcd for its database size every interval, in the
// background: a scrape never waits for an etcd. It reaches etcd as the controller does when
// it grows etcd: through the client Service, with the kube-apiserver's etcd client
// certificate (Secret <name>-apiserver-etcd-client). TenantClusters are read from the
// cache; the Secret from the API, since the manager caches no Secret's data.
type etcdPoller struct {
	cache    client.Reader
	secrets  client.Reader
	size     DBSizeFunc
	interval time.Duration
	// timeout bounds the talk with one tenant's etcd.
	timeout time.Duration
	// parallel tenants are polled at once.
	parallel int
	store    *sizeStore
	errors   prometheus.Counter
	log      logr.Logger
	// wake asks for a round now (buffered, 1).
	wake chan struct{}
}

func newEtcdStatusErrors() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: EtcdStatusErrorsName,
		Help: "Polls of a tenant's etcd for its database size that failed (no client certificate, no " +
			"member answered within the timeout). The tenant's " + EtcdDBSizeName + " is absent until a poll succeeds.",
	})
}

// poke asks for a round soon, without blocking.
func (p *etcdPoller) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run polls right away, then every interval and whenever poked, until ctx ends.
func (p *etcdPoller) run(ctx context.Context) {
	ticker := time.NewTicker(p.interval)
	defer ticker.Stop()
	for {
		p.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-p.wake:
		}
	}
}

// pollOnce asks every tenant whose etcd is available for its size and replaces the store
// with the answers: a tenant whose etcd is not available, or did not answer, has no size.
func (p *etcdPoller) pollOnce(ctx context.Context) {
	tcs := &v1alpha1.TenantClusterList{}
	if err := p.cache.List(ctx, tcs); err != nil {
		if ctx.Err() == nil {
			p.log.Error(err, "Listing TenantClusters for etcd metrics")
		}
		return
	}
	var (
		mu    sync.Mutex
		sizes = map[types.NamespacedName]int64{}
		wg    sync.WaitGroup
		slots = make(chan struct{}, max(p.parallel, 1))
	)
	for i := range tcs.Items {
		tc := &tcs.Items[i]
		if !tc.DeletionTimestamp.IsZero() || !meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.EtcdAvailableCondition) {
			continue
		}
		key := types.NamespacedName{Namespace: tc.Namespace, Name: tc.Name}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			size, err := p.sizeOf(ctx, tc)
			if err != nil {
				if ctx.Err() == nil {
					p.errors.Inc()
					p.log.V(1).Info("Cannot read the etcd database size", "TenantCluster", key, "error", err.Error())
				}
				return
			}
			mu.Lock()
			sizes[key] = size
			mu.Unlock()
		})
	}
	wg.Wait()
	if ctx.Err() == nil {
		p.store.replace(sizes)
	}
}

func (p *etcdPoller) sizeOf(ctx context.Context, tc *v1alpha1.TenantCluster) (int64, error) {
	name := controlplane.APIServerEtcdClientSecret.Name(tc.Name)
	s := &corev1.Secret{}
	if err := p.secrets.Get(ctx, client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: name}, s); err != nil {
		return 0, fmt.Errorf("the etcd client certificate %s: %w", name, err)
	}
	ca, cert, key := s.Data[controlplane.CACertKey], s.Data[controlplane.TLSCertKey], s.Data[controlplane.TLSKeyKey]
	if len(ca) == 0 || len(cert) == 0 || len(key) == 0 {
		return 0, fmt.Errorf("the etcd client certificate %s is not issued yet", name)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	return p.size(ctx, etcd.Config{
		Endpoints: []string{controlplane.EtcdClientURL(tc.Name, controlplane.NamespaceOf(tc))},
		CA:        ca, Cert: cert, Key: key,
		DialTimeout: p.timeout,
	})
}
