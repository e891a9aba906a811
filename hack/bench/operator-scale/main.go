// Command operator-scale measures what kubeseed's manager costs per tenant once its tenants
// are settled: the real manager (cmd/manager/app, in a child process of its own so that its
// memory and CPU are its alone) against a real kube-apiserver and etcd (envtest) with the
// real cert-manager controller issuing every tenant's PKI. What envtest cannot run is faked,
// and said so where it is:
//
//   - no pods run: the bench plays the Deployment and StatefulSet controllers (every
//     replica ready and updated; world.go);
//   - every tenant's apiserver is one fake tenant (a second envtest apiserver) holding, once,
//     a Ready node and ready addons; the manager's writes to it are dry runs (manager.go);
//   - every tenant's etcd is a pkg/etcd Fake with its one member healthy.
//
// It makes -n TenantClusters of size tiny with one replica of everything, one etcd member
// included (namespace bench-<i>, name t), waits until all are
// Ready, lets them settle for -settle, then measures over -window: the manager's RSS (and
// its growth from before the first tenant, per tenant), its CPU, the TenantCluster
// reconciles and the requests it sent to the seed (writes apart) and to the tenants, each
// per minute. Run it from the repository root with the envtest assets
// (`make bench-operator-scale N=100`):
//
//	KUBEBUILDER_ASSETS=... go run ./hack/bench/operator-scale -n 100
//
// Output, one line (two when objects changed; progress on stderr while the tenants come up):
//
//	operator-scale: 20 tenants Ready in 64.2 s; over 30s: RSS 98 MiB (2.09 MiB per tenant over 57 MiB idle), CPU 70 mCPU (3.49 per tenant), 40 reconciles/min, seed requests 2151/min (1633/min writes, objects changed: 0), tenant requests 2470/min
//
// "writes" are the manager's write requests (a server-side apply that changes nothing is
// one); "objects changed" counts the seed objects whose resourceVersion moved during the
// window, whoever wrote them. When some did, a second line counts the events of the window
// by kind and reason: the manager records one for each condition that moves.
//
// Exit status: 0 when every tenant was Ready within -ready-timeout and measured; 1
// otherwise (CI runs it at -n 20 to catch a manager that no longer settles); 2 for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/hack/bench/internal/benchutil"
	"github.com/kubeseed/kubeseed/pkg/testenv"
)

const (
	nsPrefix = "bench-"
	// firstTenantNamespace holds the tenant whose writes to the fake tenant are stored.
	firstTenantNamespace = nsPrefix + "0"
	tenantName           = "t"
	managerNamespace     = "kubeseed-system"
	// nodeAddress is the seed address the manager publishes NodePort endpoints on: nothing
	// dials it here.
	nodeAddress = "192.0.2.10"
)

type options struct {
	n                    int
	settle, window       time.Duration
	readyTimeout         time.Duration
	root                 string
	child                bool
	seedKC, tenantKC, ma string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 20, "how many TenantClusters")
	flag.DurationVar(&o.settle, "settle", 30*time.Second, "how long the Ready tenants settle before the measurement")
	flag.DurationVar(&o.window, "window", time.Minute, "how long the manager is measured")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 0, "how long the tenants may take to be Ready; 0: 2m + 3s per tenant")
	flag.StringVar(&o.root, "root", ".", "the repository's root (for the CRDs)")
	// The child's flags: the bench runs itself as the manager.
	flag.BoolVar(&o.child, "manager", false, "internal: run as the measured manager")
	flag.StringVar(&o.seedKC, "seed-kubeconfig", "", "internal: the seed's kubeconfig")
	flag.StringVar(&o.tenantKC, "tenant-kubeconfig", "", "internal: the fake tenant's kubeconfig")
	flag.StringVar(&o.ma, "metrics-addr", "", "internal: the manager's metrics address")
	flag.Parse()
	if o.child {
		if err := runManager(o.seedKC, o.tenantKC, o.ma, nodeAddress); err != nil {
			fmt.Fprintf(os.Stderr, "operator-scale manager: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if o.n < 1 || o.settle < 0 || o.window <= 0 || o.readyTimeout < 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "operator-scale: -n must be at least 1, -window positive, -settle and -ready-timeout not negative, no arguments")
		os.Exit(2)
	}
	if o.readyTimeout == 0 {
		o.readyTimeout = 2*time.Minute + time.Duration(o.n)*3*time.Second
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	line, err := run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "operator-scale: %v\n", err)
		stop()
		os.Exit(1)
	}
	fmt.Println(line)
}

// run is the whole bench: the seed and fake tenant up, the manager started, the tenants
// made and measured; everything it started is stopped before it returns.
func run(ctx context.Context, o options) (string, error) {
	seed, err := testenv.StartSeed(o.root, true)
	if err != nil {
		return "", err
	}
	defer seed.Stop()
	tenant, err := testenv.StartTenant()
	if err != nil {
		return "", err
	}
	defer tenant.Stop()
	dir, err := os.MkdirTemp("", "operator-scale-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	seedKC, tenantKC := filepath.Join(dir, "seed.kubeconfig"), filepath.Join(dir, "tenant.kubeconfig")
	if err := writeKubeconfig(seed.Config, seedKC); err != nil {
		return "", err
	}
	if err := os.WriteFile(tenantKC, tenant.Kubeconfig, 0o600); err != nil {
		return "", err
	}
	c, err := client.New(seed.Config, client.Options{Scheme: app.Scheme()})
	if err != nil {
		return "", fmt.Errorf("seed client: %w", err)
	}
	tc, err := client.New(tenant.Config, client.Options{Scheme: app.Scheme()})
	if err != nil {
		return "", fmt.Errorf("tenant client: %w", err)
	}
	w := &world{seed: c, tenant: tc}
	if err := w.prepare(ctx); err != nil {
		return "", err
	}
	wctx, stopWorld := context.WithCancel(ctx)
	defer stopWorld()
	go w.playWorkloads(wctx)

	m, err := startManager(ctx, dir, seedKC, tenantKC)
	if err != nil {
		return "", err
	}
	defer m.stop()
	line, err := measure(ctx, o, c, m)
	if err != nil {
		select {
		case <-m.done:
			return "", fmt.Errorf("%w (the manager exited: %w; its log:\n%s)", err, m.err, m.logTail())
		default:
			return "", err
		}
	}
	return line, nil
}

// measure makes the tenants, waits until they are Ready and settled, and measures the
// manager over the window.
func measure(ctx context.Context, o options, c client.Client, m *managerProcess) (string, error) {
	idle, err := m.sample(ctx)
	if err != nil {
		return "", err
	}
	start := time.Now()
	for i := range o.n {
		ns := fmt.Sprintf("%s%d", nsPrefix, i)
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return "", fmt.Errorf("create namespace %s: %w", ns, err)
		}
		if err := c.Create(ctx, benchutil.Tenant(ns, tenantName, v1alpha1.ControlPlaneSizeTiny)); err != nil {
			return "", fmt.Errorf("create TenantCluster %s/%s: %w", ns, tenantName, err)
		}
	}
	if err := waitReady(ctx, c, o.n, o.readyTimeout); err != nil {
		return "", err
	}
	readyIn := time.Since(start)
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(o.settle):
	}
	before, err := m.sample(ctx)
	if err != nil {
		return "", err
	}
	storedBefore, err := snapshot(ctx, c)
	if err != nil {
		return "", err
	}
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(o.window):
	}
	after, err := m.sample(ctx)
	if err != nil {
		return "", err
	}
	storedAfter, err := snapshot(ctx, c)
	if err != nil {
		return "", err
	}
	stored, some := changed(storedBefore, storedAfter)
	// Still all Ready: a measurement of tenants that fell over would measure something else.
	if err := waitReady(ctx, c, o.n, 0); err != nil {
		return "", fmt.Errorf("after the measurement: %w", err)
	}
	out := report(o.n, readyIn, idle, before, after, stored, some)
	if stored > 0 {
		events := &corev1.EventList{}
		if err := c.List(ctx, events); err != nil {
			return "", fmt.Errorf("list events: %w", err)
		}
		out += "\noperator-scale: events in the window by kind and reason: " + eventReasons(events.Items, before.at)
	}
	return out, nil
}

// waitReady waits until n TenantClusters are Ready (once, with timeout 0), naming one that
// is not and why when the time is up.
func waitReady(ctx context.Context, c client.Client, n int, timeout time.Duration) error {
	var notReady string
	lastProgress := time.Now()
	check := func(ctx context.Context) (bool, error) {
		list := &v1alpha1.TenantClusterList{}
		if err := c.List(ctx, list); err != nil {
			return false, nil
		}
		ready, example := 0, ""
		for _, tc := range list.Items {
			if meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.ReadyCondition) {
				ready++
			} else if example == "" {
				why := benchutil.NotTrue(tc.Status.Conditions)
				if len(tc.Status.Conditions) == 0 {
					why = "no status yet (not reconciled past its finalizer)"
				}
				example = fmt.Sprintf("; %s/%s is not: %s", tc.Namespace, tc.Name, why)
			}
		}
		notReady = fmt.Sprintf("%d of %d Ready%s", ready, n, example)
		if timeout > 0 && time.Since(lastProgress) >= 30*time.Second {
			lastProgress = time.Now()
			fmt.Fprintf(os.Stderr, "operator-scale: %d of %d tenants Ready\n", ready, n)
		}
		return ready == n, nil
	}
	if timeout == 0 {
		if ok, _ := check(ctx); !ok {
			return errors.New(notReady)
		}
		return nil
	}
	if err := wait.PollUntilContextTimeout(ctx, 2*time.Second, timeout, true, check); err != nil {
		return fmt.Errorf("not every tenant Ready within %s: %s", timeout, notReady)
	}
	return nil
}

// writeKubeconfig writes cfg (envtest's admin: a client certificate) as a kubeconfig.
func writeKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["seed"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["seed"] = &clientcmdapi.Context{Cluster: "seed", AuthInfo: "admin"}
	kc.CurrentContext = "seed"
	return clientcmd.WriteToFile(*kc, path)
}

// freeAddress is a loopback address with a port nothing listens on (for the manager's
// metrics).
func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// managerProcess is the child running the manager.
type managerProcess struct {
	cmd     *exec.Cmd
	metrics string
	log     string
	// done is closed when the process has exited, with its exit status in err.
	done chan struct{}
	err  error
}

func startManager(ctx context.Context, dir, seedKC, tenantKC string) (*managerProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddress()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-manager", "-seed-kubeconfig", seedKC, "-tenant-kubeconfig", tenantKC, "-metrics-addr", addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The manager ends with the bench, also when the bench dies without its defers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the manager: %w", err)
	}
	m := &managerProcess{cmd: cmd, metrics: "http://" + addr + "/metrics", log: logFile.Name(), done: make(chan struct{})}
	go func() {
		m.err = cmd.Wait()
		_ = logFile.Close()
		close(m.done)
	}()
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case <-m.done:
			return false, fmt.Errorf("the manager exited: %w", m.err)
		default:
		}
		_, err := scrape(ctx, m.metrics)
		return err == nil, nil
	})
	if err != nil {
		m.stop()
		return nil, fmt.Errorf("the manager's metrics did not answer: %w; its log:\n%s", err, m.logTail())
	}
	return m, nil
}

// logTail is the end of the manager's log, to tell why it failed (the bench's directory is
// removed when it returns).
func (m *managerProcess) logTail() string {
	raw, err := os.ReadFile(m.log)
	if err != nil {
		return err.Error()
	}
	const keep = 4 << 10
	if len(raw) > keep {
		raw = raw[len(raw)-keep:]
	}
	return string(raw)
}

func (m *managerProcess) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}
