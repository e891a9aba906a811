// Package install puts the kubeseed operator into a seed cluster from its embedded chart
// (charts/kubeseed) with Helm's SDK. It is what `kubeseed seed bootstrap` and `make demo`
// run; installing twice is harmless (the second run is a Helm upgrade).
package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/render"
)

// Defaults of an install.
const (
	DefaultNamespace = "kubeseed-system"
	DefaultRelease   = "kubeseed"
	fieldOwner       = "kubeseed-install"
	// certManagerCRD must exist before the operator can issue any tenant PKI.
	certManagerCRD = "certificates.cert-manager.io"
)

// Options of an operator install.
type Options struct {
	// Namespace of the manager (created when missing).
	Namespace string
	// Release is the Helm release name.
	Release string
	// Values override the chart's values.yaml.
	Values map[string]any
	// Timeout bounds the wait for the manager to become available.
	Timeout time.Duration
	// Logf reports progress; nil is quiet.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Release == "" {
		o.Release = DefaultRelease
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// ErrNoCertManager says the seed lacks cert-manager, which kubeseed needs for every tenant.
var ErrNoCertManager = errors.New("cert-manager is not installed in the seed (no " + certManagerCRD + " CRD): install cert-manager first (the local seed of `make seed-up` has it)")

// Operator installs or upgrades the operator and waits for its manager to be available.
// CRDs are server-side applied first on every run, since Helm installs crds/ only once and
// never upgrades them.
func Operator(ctx context.Context, getter genericclioptions.RESTClientGetter, opts Options) (*release.Release, error) {
	opts.defaults()
	restConfig, err := getter.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("seed kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("seed client: %w", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: certManagerCRD}, &apiextensionsv1.CustomResourceDefinition{}); apierrors.IsNotFound(err) {
		return nil, ErrNoCertManager
	} else if err != nil {
		return nil, fmt.Errorf("look for cert-manager: %w", err)
	}
	if err := applyCRDs(ctx, c); err != nil {
		return nil, err
	}
	opts.Logf("install: CRDs applied")

	ch, err := render.LoadChart(charts.Kubeseed)
	if err != nil {
		return nil, err
	}
	cfg := &action.Configuration{}
	if err := cfg.Init(getter, opts.Namespace, "secret", func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	history := action.NewHistory(cfg)
	history.Max = 1
	var rel *release.Release
	switch _, err := history.Run(opts.Release); {
	case errors.Is(err, driver.ErrReleaseNotFound):
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace, in.CreateNamespace = opts.Release, opts.Namespace, true
		in.SkipCRDs, in.Wait, in.Timeout = true, true, opts.Timeout
		opts.Logf("install: installing release %s in %s and waiting for the manager", opts.Release, opts.Namespace)
		rel, err = in.RunWithContext(ctx, ch, opts.Values)
		if err != nil {
			return nil, fmt.Errorf("install release %s: %w", opts.Release, err)
		}
	case err != nil:
		return nil, fmt.Errorf("read release %s: %w", opts.Release, err)
	default:
		up := action.NewUpgrade(cfg)
		up.Namespace, up.SkipCRDs, up.Wait, up.Timeout = opts.Namespace, true, true, opts.Timeout
		opts.Logf("install: upgrading release %s in %s and waiting for the manager", opts.Release, opts.Namespace)
		rel, err = up.RunWithContext(ctx, opts.Release, ch, opts.Values)
		if err != nil {
			return nil, fmt.Errorf("upgrade release %s: %w", opts.Release, err)
		}
	}
	opts.Logf("install: release %s revision %d %s", rel.Name, rel.Version, rel.Info.Status)
	return rel, nil
}

// applyCRDs server-side applies every CRD of the chart's crds/ directory.
func applyCRDs(ctx context.Context, c client.Client) error {
	entries, err := fs.ReadDir(charts.Kubeseed, "crds")
	if err != nil {
		return fmt.Errorf("read chart CRDs: %w", err)
	}
	for _, e := range entries {
		raw, err := fs.ReadFile(charts.Kubeseed, path.Join("crds", e.Name()))
		if err != nil {
			return err
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
			return fmt.Errorf("decode CRD %s: %w", e.Name(), err)
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply CRD %s: %w", obj.GetName(), err)
		}
	}
	return nil
}
