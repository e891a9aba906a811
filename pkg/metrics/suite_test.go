//go:build envtest

package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubeseed/kubeseed/pkg/seed"
)

// The integration tests run the collectors in a real manager, with a real cache, against a
// real kube-apiserver and etcd (envtest) holding the TenantCluster and cert-manager CRDs.
// envtest runs no controller: the tests write the statuses the TenantCluster controller and
// cert-manager would write. The unit tests need none of it but share the binary.
var (
	restConfig *rest.Config
	k8sClient  client.Client
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		// Fail, never skip: a skipped suite would pass CI without testing anything.
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run these tests with `make test`, which builds kube-apiserver and etcd offline")
		return 1
	}
	env := &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join("..", "..", "config", "crd", "bases"),
			filepath.Join(seed.CertManagerDir(seed.CacheDir()), "crds"),
		},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if restConfig, err = env.Start(); err != nil {
		_ = env.Stop() // Start may fail after etcd runs
		fmt.Fprintf(os.Stderr, "start envtest (is cert-manager built? hack/cert-manager-bin.sh): %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}()
	if k8sClient, err = client.New(restConfig, client.Options{Scheme: testScheme()}); err != nil {
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		return 1
	}
	return m.Run()
}
