// Package testenv is what the envtest suites share: a seed (a real kube-apiserver and etcd
// with kubeseed's CRDs and, when asked, cert-manager's CRDs and its real controllers), the
// inside of a tenant (a second kube-apiserver run as kubeseed runs a tenant's), and fakes
// of what cannot run in this tier, each said so: OpenStack clouds and dialers to tenants'
// apiservers (envtest runs no pods). Test code only.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

// Seed is a kube-apiserver and etcd standing for the seed cluster.
type Seed struct {
	Config *rest.Config
	stops  []func()
}

// StartSeed starts the seed with kubeseed's CRDs, found from root (the repository's root,
// relative to the test's package). With certManager, cert-manager's CRDs are installed and
// its real controllers (hack/cert-manager-bin.sh) run against it. It fails, never skips,
// without the envtest assets.
func StartSeed(root string, certManager bool) (*Seed, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run these tests with `make test`")
	}
	cm := seed.CertManagerDir(seed.CacheDir())
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	// A seed's range, not envtest's /24: each tenant takes Services (hack/bench/operator-scale
	// makes hundreds).
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/12")
	if certManager {
		env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, filepath.Join(cm, "crds"))
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("start envtest (is cert-manager built? hack/cert-manager-bin.sh): %w", err)
	}
	s := &Seed{Config: cfg, stops: []func(){func() { _ = env.Stop() }}}
	if certManager {
		if err := s.startCertManager(env, cm); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Stop stops what StartSeed started, last first.
func (s *Seed) Stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

func (s *Seed) startCertManager(env *envtest.Environment, cm string) error {
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "kubeseed-testenv-")
	if err != nil {
		return err
	}
	s.stops = append(s.stops, func() { _ = os.RemoveAll(dir) })
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "cert-manager.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(cm, "cert-manager-controller"), "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--cluster-resource-namespace", "default", "--healthz-address", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start cert-manager (run hack/cert-manager-bin.sh): %w", err)
	}
	s.stops = append(s.stops, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	return nil
}

// Tenant is a second kube-apiserver and etcd standing for the inside of a tenant: run as
// kubeseed runs a tenant's apiserver (bootstrap tokens, the Node and RBAC authorizers, the
// service CIDR TenantClusters default to), with no controller-manager, scheduler, kubelet or
// garbage collector. Dial is the reconcilers' TenantDialer in these tests: envtest runs no
// apiserver pods, so every tenant's Service is this apiserver.
type Tenant struct {
	// Config is the fake tenant's apiserver, as its admin.
	Config *rest.Config
	// Kubeconfig is an admin kubeconfig of it (inline credentials).
	Kubeconfig []byte
	// Only, when set, lets only the registered apiserver Services ("host:port") answer;
	// every other tenant is unreachable.
	Only bool

	env   *envtest.Environment
	hosts sync.Map
}

// StartTenant starts the fake tenant.
func StartTenant() (*Tenant, error) {
	env := &envtest.Environment{}
	env.ControlPlane.GetAPIServer().Configure().
		Set("enable-bootstrap-token-auth", "true").
		Set("authorization-mode", "Node,RBAC").
		Set("service-cluster-ip-range", "10.96.0.0/12")
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("start the fake tenant's envtest: %w", err)
	}
	admin, err := env.AddUser(envtest.User{Name: "kubernetes-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("add tenant admin: %w", err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("tenant kubeconfig: %w", err)
	}
	return &Tenant{Config: cfg, Kubeconfig: kc, env: env}, nil
}

// Stop stops the fake tenant.
func (t *Tenant) Stop() { _ = t.env.Stop() }

// Register lets the apiserver Service hostPort answer (with Only).
func (t *Tenant) Register(hostPort string) { t.hosts.Store(hostPort, true) }

// Dial checks the config a reconciler built (the apiserver Service in the seed, inline TLS
// credentials, a timeout) and hands out a client of the fake tenant with the reconciler's
// timeout and transport wrappers.
func (t *Tenant) Dial(_ context.Context, cfg *rest.Config) (client.Client, error) {
	if len(cfg.CAData) == 0 || len(cfg.CertData) == 0 || len(cfg.KeyData) == 0 || cfg.Timeout == 0 {
		return nil, fmt.Errorf("tenant config for %s lacks TLS material or a timeout", cfg.Host)
	}
	host := strings.TrimPrefix(cfg.Host, "https://")
	if !strings.HasSuffix(host, fmt.Sprintf(".svc:%d", controlplane.APIServerPort)) {
		return nil, fmt.Errorf("tenant config points at %s, not at the apiserver Service", cfg.Host)
	}
	if _, ok := t.hosts.Load(host); t.Only && !ok {
		return nil, fmt.Errorf("no tenant apiserver at %s: envtest runs no pods", cfg.Host)
	}
	c := rest.CopyConfig(t.Config)
	c.WrapTransport, c.Timeout = cfg.WrapTransport, cfg.Timeout
	return client.New(c, client.Options{Scheme: clientgoscheme.Scheme})
}

// Clouds is an openstack.ClientFactory of fake clouds (openstack.Fake), one per credentials
// Secret: no OpenStack runs in this tier (the e2e tier has the test cloud). A Secret
// without a registered fake is refused as Keystone refuses unknown credentials.
type Clouds struct{ fakes sync.Map }

var _ openstack.ClientFactory = (*Clouds)(nil)

// Register backs the credentials Secret namespace/name with f.
func (c *Clouds) Register(namespace, name string, f *openstack.Fake) {
	c.fakes.Store(namespace+"/"+name, f)
}

// ForSecret is the fake of f registered for the Secret, or for the Secret a copy names as
// its source (openstack.CredentialsSourceAnnotation).
func (c *Clouds) ForSecret(_ context.Context, s *corev1.Secret) (*openstack.Clients, error) {
	if len(s.Data[openstack.SecretKeyCloudsYAML]) == 0 {
		return nil, fmt.Errorf("%w: Secret %s/%s has no key clouds.yaml", openstack.ErrCredentialsSecret, s.Namespace, s.Name)
	}
	key := s.Namespace + "/" + s.Name
	if from := s.Annotations[openstack.CredentialsSourceAnnotation]; from != "" {
		key = from
	}
	if f, ok := c.fakes.Load(key); ok {
		return f.(*openstack.Fake).Clients(), nil
	}
	return nil, fmt.Errorf("authenticate: %w", openstack.NewError(openstack.ErrUnauthorized, "The request you have made requires authentication."))
}
