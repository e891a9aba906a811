package openstack

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/gophercloud/gophercloud/v2"
	gcos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// Identity answers what the credentials are: the token's scope, from the last
// authentication.
type Identity interface {
	// Scope says which project, user and trust the current token is for, and when it
	// expires. It makes no request.
	Scope(ctx context.Context) (Scope, error)
}

// Scope of a Keystone token.
type Scope struct {
	ProjectID, ProjectName, ProjectDomainID string
	UserID, UserName                        string
	// TrustID is set for a trust-scoped token.
	TrustID string
	// ApplicationCredentialID is set when an application credential authenticated.
	ApplicationCredentialID string
	Roles                   []string
	ExpiresAt               time.Time
}

// Service names a service kubeseed uses.
type Service string

// Services a Clients can hold.
const (
	ServiceCompute      Service = "compute"
	ServiceNetwork      Service = "network"
	ServiceLoadBalancer Service = "load-balancer"
)

// Options tune NewFromCloudsYAML and Authenticate. The zero value is ready to use.
type Options struct {
	// Services to build clients for; when empty, compute, network and load-balancer, plus
	// object-store when the catalog has it. A service asked for but
	// missing from the catalog fails NewFromCloudsYAML with ErrNoEndpoint.
	Services []Service
	// CACert is a PEM bundle that replaces the system's roots: the credentials Secret's key
	// cacert. It is the only way to give a CA: clouds.yaml's cacert (a path) is refused.
	CACert []byte
	// AllowedAuthURLs are the Keystones customers may point at (the manager's
	// --allowed-auth-urls); the zero value allows any. A refused auth_url is never
	// dialled: the error is ErrAuthURLNotAllowed.
	AllowedAuthURLs AuthURLAllowList
	// Backoff of the retries of transient failures; DefaultBackoff when zero.
	Backoff *Backoff
	// RequestTimeout bounds one HTTP request, body included (not a whole call with its
	// retries: the caller's context does); DefaultRequestTimeout (10 s) when zero.
	RequestTimeout time.Duration
	// Logger receives the rare notice (TLS verification off). It never sees a secret.
	Logger logr.Logger
	// UserAgent is prepended to gophercloud's; "kubeseed" when empty.
	UserAgent string
	// Transport replaces the HTTP transport (tests). TLS settings are not applied to it.
	Transport http.RoundTripper
}

// Clients are the per-service clients of one cloud and one set of credentials. Fields of
// services not asked for in Options.Services are nil.
type Clients struct {
	Identity     Identity
	Compute      Compute
	Network      Network
	LoadBalancer LoadBalancer
	// ObjectStore is Swift; nil when the cloud's catalog has none.
	ObjectStore ObjectStore
	// Provider is the authenticated gophercloud client, for calls this package does not
	// wrap. Nil in a Fake's Clients.
	Provider *gophercloud.ProviderClient
	// Cloud is the parsed clouds.yaml entry; its secrets stay unprinted.
	Cloud *CloudConfig
}

// NewFromCloudsYAML authenticates with the cloud called cloudName in cloudsYAML and builds
// the clients of opts.Services with the region, interface and CA clouds.yaml names. It
// negotiates the compute microversion with the cloud and asks Octavia for its API level.
func NewFromCloudsYAML(ctx context.Context, cloudsYAML []byte, cloudName string, opts Options) (*Clients, error) {
	cfg, err := ParseCloudsYAML(cloudsYAML, cloudName)
	if err != nil {
		return nil, err
	}
	pc, err := Authenticate(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	// Endpoint discovery uses a context of gophercloud's own: ctx bounds it through the
	// transport while the clients are built.
	if dt, ok := pc.HTTPClient.Transport.(*deadlineTransport); ok {
		defer dt.bind(ctx)()
	}
	s := &session{provider: pc, redact: cfg.secrets(), log: opts.Logger}
	eo := gophercloud.EndpointOpts{Region: cfg.Region(), Availability: cfg.Availability()}
	c := &Clients{Identity: &identity{s: s}, Provider: pc, Cloud: cfg}

	services := opts.Services
	if len(services) == 0 {
		services = []Service{ServiceCompute, ServiceNetwork, ServiceLoadBalancer}
		// Swift is optional: only backups use it, and they say so when it is missing.
		if err := c.build(ctx, s, ServiceObjectStore, eo); err != nil && !errors.Is(err, ErrNoEndpoint) {
			return nil, fmt.Errorf("cloud %q: %w", cloudName, err)
		}
	}
	for _, svc := range services {
		if err := c.build(ctx, s, svc, eo); err != nil {
			return nil, fmt.Errorf("cloud %q: %w", cloudName, err)
		}
	}
	return c, nil
}

func (c *Clients) build(ctx context.Context, s *session, svc Service, eo gophercloud.EndpointOpts) error {
	noEndpoint := func(err error) error {
		e := classify(err, s.redact)
		if errors.Is(e, ErrNoEndpoint) {
			return &APIError{Kind: ErrNoEndpoint, Message: fmt.Sprintf("no %s endpoint for region %q, interface %s", svc, eo.Region, availabilityName(eo.Availability))}
		}
		return e
	}
	switch svc {
	case ServiceCompute:
		sc, err := gcos.NewComputeV2(s.provider, eo)
		if err != nil {
			return noEndpoint(err)
		}
		mv, err := negotiateCompute(ctx, sc)
		if err != nil {
			return fmt.Errorf("negotiate compute microversion: %w", s.classify(err))
		}
		sc.Microversion = mv.String()
		comp := &compute{s: s, sc: sc, mv: mv}
		// Glance is optional: without it images are looked up through Nova's proxy.
		img, err := gcos.NewImageV2(s.provider, eo)
		switch {
		case err == nil:
			comp.image = img
		case !errors.Is(s.classify(err), ErrNoEndpoint):
			return fmt.Errorf("image endpoint: %w", s.classify(err))
		}
		c.Compute = comp
	case ServiceNetwork:
		sc, err := gcos.NewNetworkV2(s.provider, eo)
		if err != nil {
			return noEndpoint(err)
		}
		c.Network = &network{s: s, sc: sc}
	case ServiceLoadBalancer:
		sc, err := gcos.NewLoadBalancerV2(s.provider, eo)
		if err != nil {
			return noEndpoint(err)
		}
		v, err := discoverOctavia(ctx, sc)
		if err != nil {
			return fmt.Errorf("discover load-balancer API version: %w", s.classify(err))
		}
		c.LoadBalancer = &loadBalancer{s: s, sc: sc, version: v}
	case ServiceObjectStore:
		sc, err := gcos.NewObjectStorageV1(s.provider, eo)
		if err != nil {
			return noEndpoint(err)
		}
		c.ObjectStore = &objectStore{s: s, sc: sc}
	default:
		return invalidInput("unknown service %q", svc)
	}
	return nil
}

func availabilityName(a gophercloud.Availability) string {
	if a == "" {
		return string(gophercloud.AvailabilityPublic)
	}
	return string(a)
}

// Authenticate gets a token for cfg (password, application credential or token; scoped
// to cfg's project or trust) and returns a provider client that renews it when it
// expires and retries transient failures with opts.Backoff. Its errors never carry the
// password, secret or token.
func Authenticate(ctx context.Context, cfg *CloudConfig, opts Options) (*gophercloud.ProviderClient, error) {
	r := cfg.secrets()
	// Before anything is built or dialled.
	if err := opts.AllowedAuthURLs.check(cfg); err != nil {
		return nil, err
	}
	httpClient, err := newHTTPClient(cfg, opts)
	if err != nil {
		return nil, err
	}
	pc, err := gcos.NewClient(cfg.Auth.AuthURL)
	if err != nil {
		return nil, invalidInput("cloud %q: auth.auth_url %q: %v", cfg.Name, CleanMessage(cfg.Auth.AuthURL, 256), err)
	}
	pc.HTTPClient = *httpClient
	pc.UserAgent.Prepend(coalesce(opts.UserAgent, "kubeseed"))
	b := DefaultBackoff
	if opts.Backoff != nil {
		b = *opts.Backoff
	}
	pc.RetryFunc = retryFunc(b, httpClient.Transport.(*deadlineTransport))

	ao := cfg.authOptions()
	if err := gcos.Authenticate(ctx, pc, ao); err != nil {
		return nil, fmt.Errorf("authenticate to cloud %q at %s as %s: %w", cfg.Name, CleanMessage(cfg.Auth.AuthURL, 256), CleanMessage(who(cfg), 256), classify(err, r))
	}
	return pc, nil
}

// who names the principal for error messages: IDs and names, never secrets.
func who(cfg *CloudConfig) string {
	a := cfg.Auth
	switch cfg.Method() {
	case AuthApplicationCredential:
		return "application credential " + coalesce(a.ApplicationCredentialID, a.ApplicationCredentialName)
	case AuthToken:
		return "a token"
	}
	s := "user " + coalesce(a.UserID, a.Username)
	if a.TrustID != "" {
		s += " (trust " + a.TrustID + ")"
	}
	return s
}

// insecureLogged remembers which clouds were already reported as unverified, so that
// a client built on every reconcile logs it once per process.
var insecureLogged sync.Map

func newHTTPClient(cfg *CloudConfig, opts Options) (*http.Client, error) {
	timeout := opts.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	if opts.Transport != nil {
		return &http.Client{Transport: &deadlineTransport{next: opts.Transport, timeout: timeout}, CheckRedirect: noRedirects}, nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca := opts.CACert; len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bytes.TrimSpace(ca)) {
			return nil, invalidInput("cloud %q: cacert holds no PEM certificate", cfg.Name)
		}
		tlsConfig.RootCAs = pool
	}
	if cfg.Verify != nil && !*cfg.Verify {
		tlsConfig.InsecureSkipVerify = true //nolint:gosec // the cloud's owner asked for it in clouds.yaml; logged
		if _, seen := insecureLogged.LoadOrStore(cfg.Name+"\x00"+cfg.Auth.AuthURL, true); !seen {
			opts.Logger.Info("TLS certificate verification is off for this cloud (verify: false in clouds.yaml)",
				"cloud", cfg.Name, "authURL", cfg.Auth.AuthURL)
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	// The deadline transport bounds each request (body included), so no Client.Timeout.
	return &http.Client{Transport: &deadlineTransport{next: transport, timeout: timeout}, CheckRedirect: noRedirects}, nil
}

// noRedirects hands a redirect back as the response: a customer's cloud (or one its
// catalog names) could otherwise send the manager, and the X-Auth-Token Go keeps on a
// redirect, to any host, past the auth_url allow-list. OpenStack APIs do not redirect.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// session is what every service client shares: the provider, the secrets to redact and
// the logger.
type session struct {
	provider *gophercloud.ProviderClient
	redact   redactor
	log      logr.Logger
}

func (s *session) classify(err error) error { return classify(err, s.redact) }

// wrap classifies err and prefixes what was being done.
func (s *session) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, s.classify(err))...)
}

type identity struct{ s *session }

func (i *identity) Scope(context.Context) (Scope, error) {
	var sc Scope
	var r interface {
		ExtractProject() (*tokens.Project, error)
		ExtractUser() (*tokens.User, error)
		ExtractRoles() ([]tokens.Role, error)
		ExtractTrust() (*tokens.Trust, error)
		ExtractToken() (*tokens.Token, error)
	}
	switch res := i.s.provider.GetAuthResult().(type) {
	case tokens.CreateResult:
		r = res
	case tokens.GetResult:
		r = res
	default:
		return sc, fmt.Errorf("token scope: not authenticated with Keystone v3")
	}
	if p, err := r.ExtractProject(); err == nil && p != nil {
		sc.ProjectID, sc.ProjectName, sc.ProjectDomainID = p.ID, p.Name, p.Domain.ID
	}
	if u, err := r.ExtractUser(); err == nil && u != nil {
		sc.UserID, sc.UserName = u.ID, u.Name
	}
	if roles, err := r.ExtractRoles(); err == nil {
		for _, role := range roles {
			sc.Roles = append(sc.Roles, role.Name)
		}
	}
	if t, err := r.ExtractTrust(); err == nil && t != nil {
		sc.TrustID = t.ID
	}
	if t, err := r.ExtractToken(); err == nil && t != nil {
		sc.ExpiresAt = t.ExpiresAt
	}
	// ExtractInto reads inside "token".
	var ac struct {
		ApplicationCredential *struct {
			ID string `json:"id"`
		} `json:"application_credential"`
	}
	if res, ok := i.s.provider.GetAuthResult().(tokens.CreateResult); ok && res.ExtractInto(&ac) == nil && ac.ApplicationCredential != nil {
		sc.ApplicationCredentialID = ac.ApplicationCredential.ID
	}
	return sc, nil
}
