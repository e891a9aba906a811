// Command cert-manager-controller runs the real cert-manager controllers for the CA and
// self-signed issuers. Upstream's controller binary (cmd/controller) is a module of its own
// that the proxy does not publish, so this is a smaller main over the published
// github.com/cert-manager/cert-manager packages, wired the way upstream's
// cmd/controller/app does it. There is no webhook: nothing validates cert-manager objects.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	// Each package registers its controller in controller.Known() from init.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// Issuer backends: without them Issuers stay unready ("issuer 'selfsigned' not registered").
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// controllers are run in this order. The approver is required: without it requests are
// never approved and Certificates stay Issuing with no error.
var controllers = []string{
	"issuers",
	"clusterissuers",
	"certificaterequests-approver",
	"certificaterequests-issuer-ca",
	"certificaterequests-issuer-selfsigned",
	"certificates-trigger",
	"certificates-issuing",
	"certificates-key-manager",
	"certificates-request-manager",
	"certificates-readiness",
	"certificates-revision-manager",
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file; empty means in-cluster config")
	clusterResourceNamespace := flag.String("cluster-resource-namespace", "cert-manager", "namespace holding the Secrets that ClusterIssuers reference")
	leaderElect := flag.Bool("leader-elect", true, "hold the Lease <leader-election-namespace>/cert-manager-controller while running")
	leaderElectionNamespace := flag.String("leader-election-namespace", "kube-system", "namespace of the leader election Lease")
	healthzAddr := flag.String("healthz-address", ":9403", "address of the /livez endpoint")
	workers := flag.Int("workers", 5, "workers per controller")
	klog.InitFlags(nil)
	flag.Parse()
	logf.InitLogs()

	// Server-side apply removes the optimistic-lock conflicts and requeues of updates.
	if err := utilfeature.DefaultMutableFeatureGate.Set("ServerSideApply=true"); err != nil {
		klog.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")

	err := run(ctx, options{
		leaderElect: *leaderElect, leaderElectionNamespace: *leaderElectionNamespace,
		healthzAddr: *healthzAddr, workers: *workers,
		contextOptions: controller.ContextOptions{
			Kubeconfig: *kubeconfig,
			// Upstream's defaults (internal/apis/config/controller/v1alpha1/defaults.go),
			// not zero values: zero backoffs retry failed requests in a hot loop and an
			// empty ClusterResourceNamespace breaks ClusterIssuers. ACME options stay zero:
			// no ACME controller runs here.
			KubernetesAPIQPS:   20,
			KubernetesAPIBurst: 50,
			IssuerOptions: controller.IssuerOptions{
				ClusterResourceNamespace:        *clusterResourceNamespace,
				ClusterIssuerAmbientCredentials: true,
			},
			IngressShimOptions: controller.IngressShimOptions{
				DefaultIssuerKind:                 "Issuer",
				DefaultIssuerGroup:                "cert-manager.io",
				DefaultAutoCertificateAnnotations: []string{"kubernetes.io/tls-acme"},
			},
			CertificateOptions: controller.CertificateOptions{
				CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
				CertificateRequestMinimumBackoffDuration: time.Hour,
				CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
			},
			SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: 60},
		},
	})
	if err != nil {
		klog.ErrorS(err, "cert-manager-controller failed")
		klog.Flush()
		os.Exit(1)
	}
}

type options struct {
	leaderElect             bool
	leaderElectionNamespace string
	healthzAddr             string
	workers                 int
	contextOptions          controller.ContextOptions
}

func run(ctx context.Context, opts options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)

	factory, err := controller.NewContextFactory(ctx, opts.contextOptions)
	if err != nil {
		return err
	}

	// /livez fails when this replica holds the Lease but has stopped renewing it.
	ln, err := net.Listen("tcp", opts.healthzAddr)
	if err != nil {
		return fmt.Errorf("healthz listener: %w", err)
	}
	health := healthz.NewServer(20 * time.Second)
	g.Go(func() error { return health.Start(ctx, ln) })

	elected := make(chan struct{})
	if opts.leaderElect {
		lost := make(chan struct{})
		if err := startLeaderElection(ctx, g, factory, opts.leaderElectionNamespace, health, elected, lost); err != nil {
			return err
		}
		g.Go(func() error {
			select {
			case <-lost:
				return errors.New("leader election lost")
			case <-ctx.Done():
				return nil
			}
		})
	} else {
		close(elected)
	}
	select {
	case <-ctx.Done():
		return g.Wait()
	case <-elected:
	}

	// Controllers register the informers they need when constructed, so the factories
	// are started only after every controller has been built.
	known := controller.Known()
	for _, name := range controllers {
		build, ok := known[name]
		if !ok {
			cancel()
			return errors.Join(fmt.Errorf("controller %q is not registered", name), g.Wait())
		}
		c, err := build(factory)
		if err != nil {
			cancel()
			return errors.Join(fmt.Errorf("building controller %q: %w", name, err), g.Wait())
		}
		g.Go(func() error { return c.Run(opts.workers, ctx) })
	}
	base, err := factory.Build()
	if err != nil {
		cancel()
		return errors.Join(err, g.Wait())
	}
	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	logf.FromContext(ctx).Info("controllers started", "controllers", controllers)

	err = g.Wait()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	return err
}

// startLeaderElection competes for upstream's Lease <namespace>/cert-manager-controller;
// elected is closed on winning, lost when leadership ends other than by shutdown.
func startLeaderElection(ctx context.Context, g *errgroup.Group, factory *controller.ContextFactory, namespace string, health *healthz.Server, elected, lost chan struct{}) error {
	lctx, err := factory.Build("leader-election")
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, "cert-manager-controller",
		lctx.Client.CoreV1(), lctx.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: host + "-external-cert-manager-controller", EventRecorder: lctx.Recorder})
	if err != nil {
		return err
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   60 * time.Second,
		RenewDeadline:   40 * time.Second,
		RetryPeriod:     15 * time.Second,
		ReleaseOnCancel: true,
		WatchDog:        health.LeaderHealthzAdaptor,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(elected) },
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					close(lost)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	g.Go(func() error { le.Run(ctx); return nil })
	return nil
}
