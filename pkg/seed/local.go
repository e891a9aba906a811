package seed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/pkg/versions"
)

const (
	seedServiceCIDR  = "10.96.0.0/16"
	seedAPIServiceIP = "10.96.0.1"
	seedDNSIP        = DNSServiceIP
	seedPodCIDR      = "10.88.0.0/16"
	seedNodePodCIDR  = "10.88.0.0/24"
	apiserverPort    = 6443
	etcdClientPort   = 2379
	etcdPeerPort     = 2380
)

// Local is a single-node seed on this machine, built from the offline toolchain. All of its
// state lives under one directory.
type Local struct {
	state    string // state directory
	cache    string // KUBESEED_CACHE: built binaries and images
	version  string // Kubernetes version of the seed's components
	nodeName string
	nodeIP   net.IP
	logf     func(format string, args ...any)
}

// NewLocal describes the local seed; it touches nothing until Up.
func NewLocal(cache string, logf func(string, ...any)) *Local {
	return &Local{
		state:    filepath.Join(cache, "seed"),
		cache:    cache,
		version:  versions.Seed,
		nodeName: "seed",
		logf:     logf,
	}
}

var _ Provider = (*Local)(nil)

func (l *Local) path(parts ...string) string {
	return filepath.Join(append([]string{l.state}, parts...)...)
}

func (l *Local) k8sBin(name string) string { return filepath.Join(l.cache, "k8s", l.version, name) }

func (l *Local) containerdSocket() string { return l.path("run", "containerd", "containerd.sock") }

// Kubeconfig is the path of the seed's admin kubeconfig.
func (l *Local) Kubeconfig() string { return l.path("kubeconfig") }

// ImagesDir is where image tarballs built for a seed are kept.
func ImagesDir(cache string) string { return filepath.Join(cache, "images") }

// preflight fails early, with what to do, instead of a stack of daemon errors later.
func (l *Local) preflight() error {
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err != nil {
		return errors.New("the kernel has no bridge netfilter (/proc/sys/net/bridge missing): pods on the seed need br_netfilter")
	}
	var missing []string
	for _, bin := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"} {
		if _, err := os.Stat(l.k8sBin(bin)); err != nil {
			missing = append(missing, l.k8sBin(bin))
		}
	}
	if _, err := os.Stat(l.etcdBin()); err != nil {
		missing = append(missing, l.etcdBin())
	}
	for _, bin := range []string{"containerd", "runc", "ctr", "iptables", "/usr/lib/cni/bridge"} {
		if !filepath.IsAbs(bin) {
			if p, err := lookPath(bin); err == nil {
				bin = p
			}
		}
		if _, err := os.Stat(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run `make seed-up`, which builds and installs them", strings.Join(missing, ", "))
	}
	return nil
}

func lookPath(bin string) (string, error) {
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, bin)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

func (l *Local) etcdBin() string { return filepath.Join(l.cache, "etcd", versions.Etcd, "etcd") }

// hostIP is the address of the interface holding the default route: no packet is sent.
func hostIP() (net.IP, error) {
	conn, err := net.Dial("udp4", "192.0.2.255:9")
	if err != nil {
		return nil, fmt.Errorf("find the host's address (is there a default route?): %w", err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP, nil
}

// Up brings the seed up, or checks and restarts what is missing when it already runs.
func (l *Local) Up(ctx context.Context) error {
	if err := l.preflight(); err != nil {
		return err
	}
	ip, err := hostIP()
	if err != nil {
		return err
	}
	l.nodeIP = ip
	for _, d := range []string{"pki", "logs", "run", "bin", "etcd", "kubelet", "cni/net.d", "cni/networks", "cni/cache", "containerd", "kcm/flex"} {
		if err := os.MkdirAll(l.path(d), 0o700); err != nil {
			return err
		}
	}
	for key, value := range map[string]string{
		"net/ipv4/ip_forward":                 "1",
		"net/bridge/bridge-nf-call-iptables":  "1",
		"net/bridge/bridge-nf-call-ip6tables": "1",
		"net/ipv4/conf/all/route_localnet":    "1",
	} {
		if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644); err != nil {
			return fmt.Errorf("set sysctl %s: %w", key, err)
		}
	}
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"certificates issued", func(context.Context) error { return l.writePKI() }},
		{"kubeconfigs written", func(context.Context) error { return l.writeKubeconfigs() }},
		{"etcd healthy", l.startEtcd},
		{"kube-apiserver ready", l.startAPIServer},
		{"controller-manager and scheduler started", l.startControllers},
		{"containerd answering", l.startContainerd},
		{"images imported", l.loadSeedImages},
		{"kubelet started", l.startKubelet},
		{"kube-proxy started", l.startKubeProxy},
		{"node Ready", l.waitNodeReady},
		{"add-ons available (CoreDNS, local-path storage, cert-manager)", l.applyAddons},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("seed %s: %w", s.what, err)
		}
		l.logf("seed: %s (%.1fs)", s.what, time.Since(start).Seconds())
	}
	return nil
}

func (l *Local) startEtcd(ctx context.Context) error {
	pki := l.path("pki")
	err := l.start("etcd", l.etcdBin(),
		"--name=seed",
		"--data-dir="+l.path("etcd"),
		fmt.Sprintf("--listen-client-urls=https://127.0.0.1:%d", etcdClientPort),
		fmt.Sprintf("--advertise-client-urls=https://127.0.0.1:%d", etcdClientPort),
		fmt.Sprintf("--listen-peer-urls=https://127.0.0.1:%d", etcdPeerPort),
		fmt.Sprintf("--initial-advertise-peer-urls=https://127.0.0.1:%d", etcdPeerPort),
		fmt.Sprintf("--initial-cluster=seed=https://127.0.0.1:%d", etcdPeerPort),
		"--listen-metrics-urls=http://127.0.0.1:2381",
		"--cert-file="+filepath.Join(pki, "etcd-server.crt"),
		"--key-file="+filepath.Join(pki, "etcd-server.key"),
		"--trusted-ca-file="+filepath.Join(pki, "etcd-ca.crt"),
		"--client-cert-auth=true",
		"--peer-cert-file="+filepath.Join(pki, "etcd-server.crt"),
		"--peer-key-file="+filepath.Join(pki, "etcd-server.key"),
		"--peer-trusted-ca-file="+filepath.Join(pki, "etcd-ca.crt"),
		"--peer-client-cert-auth=true",
		"--snapshot-count=10000",
	)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, "http://127.0.0.1:2381/health", nil, time.Minute, "etcd")
}

func (l *Local) startAPIServer(ctx context.Context) error {
	pki := l.path("pki")
	p := func(f string) string { return filepath.Join(pki, f) }
	err := l.start("kube-apiserver", l.k8sBin("kube-apiserver"),
		"--advertise-address="+l.nodeIP.String(),
		fmt.Sprintf("--secure-port=%d", apiserverPort),
		"--allow-privileged=true",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--client-ca-file="+p("ca.crt"),
		"--tls-cert-file="+p("apiserver.crt"),
		"--tls-private-key-file="+p("apiserver.key"),
		fmt.Sprintf("--etcd-servers=https://127.0.0.1:%d", etcdClientPort),
		"--etcd-cafile="+p("etcd-ca.crt"),
		"--etcd-certfile="+p("apiserver-etcd-client.crt"),
		"--etcd-keyfile="+p("apiserver-etcd-client.key"),
		"--kubelet-client-certificate="+p("apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+p("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p("sa.pub"),
		"--service-account-signing-key-file="+p("sa.key"),
		"--service-cluster-ip-range="+seedServiceCIDR,
		"--proxy-client-cert-file="+p("front-proxy-client.crt"),
		"--proxy-client-key-file="+p("front-proxy-client.key"),
		"--requestheader-client-ca-file="+p("front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--enable-bootstrap-token-auth=true",
		// The node's name does not resolve on the host: reach kubelets by address.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
	)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, fmt.Sprintf("https://127.0.0.1:%d/readyz", apiserverPort), l.adminTLS, 2*time.Minute, "kube-apiserver")
}

func (l *Local) startControllers(context.Context) error {
	pki := l.path("pki")
	kcm := l.path("controller-manager.kubeconfig")
	if err := l.start("kube-controller-manager", l.k8sBin("kube-controller-manager"),
		"--kubeconfig="+kcm, "--authentication-kubeconfig="+kcm, "--authorization-kubeconfig="+kcm,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--controllers=*,bootstrapsigner,tokencleaner",
		"--cluster-signing-cert-file="+filepath.Join(pki, "ca.crt"),
		"--cluster-signing-key-file="+filepath.Join(pki, "ca.key"),
		"--root-ca-file="+filepath.Join(pki, "ca.crt"),
		"--service-account-private-key-file="+filepath.Join(pki, "sa.key"),
		"--requestheader-client-ca-file="+filepath.Join(pki, "front-proxy-ca.crt"),
		"--service-cluster-ip-range="+seedServiceCIDR,
		// Its default (/usr/libexec/kubernetes/...) would be created on the host.
		"--flex-volume-plugin-dir="+l.path("kcm", "flex"),
	); err != nil {
		return err
	}
	sched := l.path("scheduler.kubeconfig")
	return l.start("kube-scheduler", l.k8sBin("kube-scheduler"),
		"--kubeconfig="+sched, "--authentication-kubeconfig="+sched, "--authorization-kubeconfig="+sched,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
	)
}

// adminTLS is the TLS configuration of the admin client certificate.
func (l *Local) adminTLS() (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(l.path("pki", "admin.crt"), l.path("pki", "admin.key"))
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(l.path("pki", "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// waitHTTP polls url until it answers 200 or the timeout passes.
func waitHTTP(ctx context.Context, url string, tlsConf func() (*tls.Config, error), timeout time.Duration, what string) error {
	transport := &http.Transport{}
	if tlsConf != nil {
		c, err := tlsConf()
		if err != nil {
			return err
		}
		transport.TLSClientConfig = c
	}
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %s within %s (last: %s)", what, url, timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func writeYAML(path string, v any) error {
	raw, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

func writeJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}
