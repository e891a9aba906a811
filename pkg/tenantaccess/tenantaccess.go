// Package tenantaccess is how the controllers reach a tenant's kube-apiserver: one dialer,
// one client cache shared by the controllers, one timeout. The manager dials the
// apiserver's Service in the seed (never the published endpoint, which the seed may not
// route to) with the admin credentials kubeseed assembled in the control-plane namespace.
package tenantaccess

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// Timeout bounds every request to a tenant's apiserver: one that hangs is reported and
// retried by the reconciler's requeue, never waited for.
const Timeout = 10 * time.Second

// Dialer makes a client for a tenant's kube-apiserver from cfg: Host is the apiserver
// Service's in-seed name, TLS the admin credentials, Timeout set.
type Dialer func(ctx context.Context, cfg *rest.Config) (client.Client, error)

// Dial is the default Dialer: the manager runs in the seed's pod network and resolves the
// Service name. Typed objects use client-go's scheme; kubeseed's own objects in a tenant are
// applied as unstructured.
func Dial(_ context.Context, cfg *rest.Config) (client.Client, error) {
	cfg = rest.CopyConfig(cfg)
	// Each warning once per tenant client: kubeseed writes the legacy Endpoints on purpose,
	// and the apiserver's deprecation warning on every apply would bury the manager's log.
	cfg.WarningHandlerWithContext = ctrllog.NewKubeAPIWarningLogger(ctrllog.KubeAPIWarningLoggerOptions{Deduplicate: true})
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return nil, fmt.Errorf("client for tenant %s: %w", cfg.Host, err)
	}
	return c, nil
}

// Cache hands out a client per TenantCluster, kept while its admin credentials stay the
// same (a new client costs discovery and a TLS handshake). The zero value dials with Dial.
type Cache struct {
	// Dialer makes new clients; nil means Dial. Tests without apiserver pods inject one.
	Dialer Dialer

	clients sync.Map // types.UID -> entry
}

type entry struct {
	sum [sha256.Size]byte
	c   client.Client
}

// Client returns a client of tc's kube-apiserver with the admin credentials in kubeconfig
// (the control plane's own copy, which only kubeseed writes).
func (c *Cache) Client(ctx context.Context, tc *v1alpha1.TenantCluster, kubeconfig []byte) (client.Client, error) {
	sum := sha256.Sum256(kubeconfig)
	if cached, ok := c.clients.Load(tc.UID); ok && cached.(entry).sum == sum {
		return cached.(entry).c, nil
	}
	cfg, err := Config(tc, kubeconfig)
	if err != nil {
		return nil, err
	}
	dial := c.Dialer
	if dial == nil {
		dial = Dial
	}
	cl, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.clients.Store(tc.UID, entry{sum: sum, c: cl})
	return cl, nil
}

// Forget drops the client of a TenantCluster that is gone.
func (c *Cache) Forget(uid types.UID) { c.clients.Delete(uid) }

// Config is the rest.Config of tc's apiserver Service built from the PEM fields of
// kubeconfig only: the current context's CA, client certificate and key. Its server URL,
// file paths, tokens, token files, exec and auth plugins and proxy are ignored, so that
// nothing in a kubeconfig can make the manager send credentials elsewhere or run anything.
func Config(tc *v1alpha1.TenantCluster, kubeconfig []byte) (*rest.Config, error) {
	kc, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig of %s: %w", tc.Name, err)
	}
	ctx := kc.Contexts[kc.CurrentContext]
	if ctx == nil {
		return nil, fmt.Errorf("admin kubeconfig of %s: no current context", tc.Name)
	}
	cluster, user := kc.Clusters[ctx.Cluster], kc.AuthInfos[ctx.AuthInfo]
	if cluster == nil || user == nil || len(cluster.CertificateAuthorityData) == 0 ||
		len(user.ClientCertificateData) == 0 || len(user.ClientKeyData) == 0 {
		return nil, errors.New("admin kubeconfig of " + tc.Name + ": want the CA, client certificate and key inline")
	}
	cfg := &rest.Config{
		Host: "https://" + net.JoinHostPort(controlplane.APIServerServiceHost(tc.Name, controlplane.NamespaceOf(tc)), strconv.Itoa(int(controlplane.APIServerPort))),
		TLSClientConfig: rest.TLSClientConfig{
			CAData: cluster.CertificateAuthorityData, CertData: user.ClientCertificateData, KeyData: user.ClientKeyData,
		},
		Timeout:   Timeout,
		UserAgent: "kubeseed",
	}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return noRetryAfter{rt} })
	return cfg, nil
}

// noRetryAfter drops Retry-After from 429 answers, so that client-go returns them instead of
// sleeping and retrying inside a reconcile: an eviction a PodDisruptionBudget refuses says
// "Retry-After: 10", ten times over. The reconciler looks again at its next requeue.
type noRetryAfter struct{ next http.RoundTripper }

func (t noRetryAfter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		resp.Header.Del("Retry-After")
	}
	return resp, err
}
