package openstack

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// Keys of a credentials Secret (spec.endpoint.octavia.credentialsSecretRef and the
// WorkerPool's): a clouds.yaml, the name of the cloud in it, and an optional CA bundle.
const (
	SecretKeyCloudsYAML = "clouds.yaml"
	SecretKeyCloud      = "cloud"
	SecretKeyCACert     = "cacert"
	// DefaultCloudName is the cloud used when the Secret has no key "cloud".
	DefaultCloudName = "openstack"
)

// CredentialsSourceAnnotation on a copy of a credentials Secret (the one kubeseed keeps in
// a tenant's control-plane namespace) names the Secret it was copied from,
// "<namespace>/<name>".
const CredentialsSourceAnnotation = "kubeseed.io/credentials-from"

// ErrCredentialsSecret is returned when a credentials Secret lacks what it must hold. Only
// its owner can fix that.
var ErrCredentialsSecret = errors.New("invalid credentials Secret")

// ClientFactory gives the clients of the cloud a credentials Secret names.
type ClientFactory interface {
	ForSecret(ctx context.Context, secret *corev1.Secret) (*Clients, error)
}

// ClientCache is a ClientFactory that authenticates once per version of a Secret: a
// reconcile must not cost a Keystone round trip, and tokens renew themselves. A new
// resourceVersion (rotated credentials) builds new clients.
type ClientCache struct {
	// Options for every client built; Options.CACert is taken from the Secret.
	Options Options

	mu      sync.Mutex
	entries map[string]cacheEntry // by namespace/name
}

type cacheEntry struct {
	uid, version string
	clients      *Clients
}

var _ ClientFactory = (*ClientCache)(nil)

// ForSecret returns the clients for secret, building them when the Secret is new or changed.
// Failures are not cached: the next call tries again.
func (c *ClientCache) ForSecret(ctx context.Context, secret *corev1.Secret) (*Clients, error) {
	key := secret.Namespace + "/" + secret.Name
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && e.uid == string(secret.UID) && e.version == secret.ResourceVersion {
		return e.clients, nil
	}
	clients, err := NewForSecret(ctx, secret, c.Options)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cacheEntry{}
	}
	c.entries[key] = cacheEntry{uid: string(secret.UID), version: secret.ResourceVersion, clients: clients}
	return clients, nil
}

// NewForSecret builds the clients of a credentials Secret (keys clouds.yaml, cloud and
// cacert), authenticating once. opts.CACert is taken from the Secret. A Secret that lacks
// what it must hold, or whose cloud refuses it as invalid, is ErrCredentialsSecret.
func NewForSecret(ctx context.Context, secret *corev1.Secret, opts Options) (*Clients, error) {
	key := secret.Namespace + "/" + secret.Name
	data := secret.Data[SecretKeyCloudsYAML]
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: Secret %s has no key %q holding a clouds.yaml", ErrCredentialsSecret, key, SecretKeyCloudsYAML)
	}
	cloud := string(secret.Data[SecretKeyCloud])
	if cloud == "" {
		cloud = DefaultCloudName
	}
	if ca := secret.Data[SecretKeyCACert]; len(ca) > 0 {
		opts.CACert = ca
	}
	clients, err := NewFromCloudsYAML(ctx, data, cloud, opts)
	if err != nil {
		if IsTransient(err) || IsUnauthorized(err) || IsForbidden(err) || errors.Is(err, ErrNoEndpoint) {
			return nil, fmt.Errorf("cloud %q of Secret %s: %w", cloud, key, err)
		}
		return nil, fmt.Errorf("%w: cloud %q of Secret %s: %w", ErrCredentialsSecret, cloud, key, err)
	}
	return clients, nil
}

// Forget drops the clients of a Secret, e.g. once nothing uses it any more.
func (c *ClientCache) Forget(namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, namespace+"/"+name)
}
