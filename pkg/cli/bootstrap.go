package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"helm.sh/helm/v3/pkg/strvals"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubeseed/kubeseed/pkg/cli/certmanager"
	"github.com/kubeseed/kubeseed/pkg/install"
)

func newSeedCommand(g *global) *cobra.Command {
	seed := &cobra.Command{
		Use:   "seed",
		Short: "Manage the seed cluster itself (admins)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("%s: want a subcommand: bootstrap", cmd.CommandPath())
			}
			return noArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	seed.AddCommand(newBootstrapCommand(g))
	return seed
}

// bootstrapOptions are the flags of `kubeseed seed bootstrap`.
type bootstrapOptions struct {
	image    string
	sets     []string
	timeout  time.Duration
	release  string
	skipCM   bool
	cmVer    string
	cmSource string
	cmSets   []string
}

func newBootstrapCommand(g *global) *cobra.Command {
	o := &bootstrapOptions{}
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Install cert-manager when missing, then install or upgrade the kubeseed operator",
		Long: `Install cert-manager when the seed has none, then install or upgrade the kubeseed operator
(its CRDs and the chart charts/kubeseed, as a Helm release) into the seed of the current context,
and wait until both are available. Running it again is harmless: what is up to date is left
alone and reported "unchanged".

cert-manager: a cert-manager already in the seed (its CRDs and a controller Deployment labelled
app.kubernetes.io/name=cert-manager, app.kubernetes.io/component=controller, in any namespace)
is used as it is when its version is the wanted one (--cert-manager-version, default the
embedded release). Otherwise kubeseed refuses and changes nothing, unless kubeseed installed
that cert-manager itself and it is older: then it is upgraded. When there is none, upstream's
cert-manager is installed into the namespace cert-manager, from the chart embedded in kubeseed
rendered as upstream renders its static manifest (images quay.io/jetstack/cert-manager-*), or
from --cert-manager-manifest.

The operator goes into -n/--namespace, kubeseed-system when not given.`,
		Example: `  # Install into the seed of the current context
  kubeseed seed bootstrap

  # Another seed, the manager image from a registry, debug logs
  kubeseed seed bootstrap --context admin@seed-2 --image registry.example.com/kubeseed/manager:v0.1.0 --set manager.logLevel=debug

  # cert-manager's images from a mirror
  kubeseed seed bootstrap --cert-manager-set imageRegistry=mirror.example.com

  # A cert-manager release other than the embedded one, from upstream's static manifest
  kubeseed seed bootstrap --cert-manager-manifest https://github.com/cert-manager/cert-manager/releases/download/v1.21.2/cert-manager.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), g)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "Manager image, repository:tag (default: the chart's kubeseed/manager:dev).")
	f.StringArrayVar(&o.sets, "set", nil, "Operator chart value as key=value, like helm's --set (repeatable), e.g. manager.logLevel=debug.")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "How long to wait for cert-manager, then for the manager, to become available.")
	f.StringVar(&o.release, "release", install.DefaultRelease, "Helm release name of the operator.")
	f.BoolVar(&o.skipCM, "skip-cert-manager", false, "Neither look for nor install cert-manager (the operator still needs its CRDs).")
	f.StringVar(&o.cmVer, "cert-manager-version", "", "The cert-manager version the seed must run (default: the version of the manifest, or the embedded "+certmanager.EmbeddedVersion+").")
	f.StringVar(&o.cmSource, "cert-manager-manifest", "", "Install cert-manager from this static manifest, a file or an http(s) URL such as upstream's release asset cert-manager.yaml, instead of the embedded chart.")
	f.StringArrayVar(&o.cmSets, "cert-manager-set", nil, "Value of the embedded cert-manager chart as key=value (repeatable), e.g. imageRegistry=mirror.example.com.")
	return cmd
}

func (o *bootstrapOptions) run(ctx context.Context, g *global) error {
	values, err := parseSets("--set", o.sets)
	if err != nil {
		return err
	}
	if o.image != "" {
		repo, tag, err := splitImage(o.image)
		if err != nil {
			return usageErrorf("--image: %v", err)
		}
		values["image"] = map[string]any{"repository": repo, "tag": tag}
	}
	cmValues, err := parseSets("--cert-manager-set", o.cmSets)
	if err != nil {
		return err
	}
	switch {
	case o.skipCM && (o.cmVer != "" || o.cmSource != "" || len(o.cmSets) > 0):
		return usageErrorf("--skip-cert-manager cannot be combined with other --cert-manager-* flags")
	case o.cmSource != "" && len(o.cmSets) > 0:
		return usageErrorf("--cert-manager-set applies to the embedded chart, not to --cert-manager-manifest")
	}
	// The operator's namespace: -n when given, never the context's default namespace.
	ns := *g.config.Namespace
	if ns == "" {
		ns = install.DefaultNamespace
	}
	logf := func(format string, args ...any) { fmt.Fprintf(g.streams.ErrOut, format+"\n", args...) }

	if !o.skipCM {
		c, err := g.client()
		if err != nil {
			return err
		}
		res, err := certmanager.Ensure(ctx, c, certmanager.Options{
			Source:  certmanager.Source{Manifest: o.cmSource, Values: cmValues},
			Version: o.cmVer,
			Timeout: o.timeout,
			Logf:    logf,
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(g.streams.Out, certManagerLine(res))
	}

	prev, err := lastRelease(g.config, ns, o.release)
	if err != nil {
		return err
	}
	rel, err := install.Operator(ctx, g.config, install.Options{
		Namespace: ns, Release: o.release, Values: values, Timeout: o.timeout, Logf: logf,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.streams.Out, "kubeseed operator (chart %s-%s): %s (release %s in namespace %s, revision %d)\n",
		rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, releaseAction(prev, rel), rel.Name, rel.Namespace, rel.Version)
	return nil
}

func certManagerLine(r *certmanager.Result) string {
	switch r.Action {
	case certmanager.Upgraded:
		return fmt.Sprintf("cert-manager %s: upgraded from %s (Deployment %s)", r.Version, r.Previous, r.Controller)
	case certmanager.Installed:
		return fmt.Sprintf("cert-manager %s: installed (Deployment %s)", r.Version, r.Controller)
	default:
		by := "not installed by kubeseed"
		if r.Ours {
			by = "installed by kubeseed"
		}
		return fmt.Sprintf("cert-manager %s: unchanged (Deployment %s is available, %s)", r.Version, r.Controller, by)
	}
}

// lastRelease is the operator's latest Helm release, nil when there is none.
func lastRelease(getter genericclioptions.RESTClientGetter, ns, name string) (*release.Release, error) {
	cfg := &action.Configuration{}
	if err := cfg.Init(getter, ns, "secret", func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	rel, err := action.NewGet(cfg).Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read release %s: %w", name, err)
	}
	return rel, nil
}

// releaseAction says what an install did, from the release before it and the one it made:
// unchanged when the objects and the CRDs are the same and the previous release was deployed.
func releaseAction(prev, now *release.Release) string {
	switch {
	case prev == nil:
		return "installed"
	case prev.Info != nil && prev.Info.Status == release.StatusDeployed && prev.Manifest == now.Manifest &&
		sameCRDs(prev.Chart, now.Chart):
		return "unchanged"
	default:
		return "upgraded from revision " + fmt.Sprint(prev.Version)
	}
}

func sameCRDs(a, b *chart.Chart) bool {
	if a == nil || b == nil {
		return a == b
	}
	ca, cb := a.CRDObjects(), b.CRDObjects()
	if len(ca) != len(cb) {
		return false
	}
	for i := range ca {
		if ca[i].Filename != cb[i].Filename || !bytes.Equal(ca[i].File.Data, cb[i].File.Data) {
			return false
		}
	}
	return true
}

// parseSets parses helm-style key=value flags into values.
func parseSets(flag string, sets []string) (map[string]any, error) {
	values := map[string]any{}
	for _, kv := range sets {
		if err := strvals.ParseInto(kv, values); err != nil {
			return nil, usageErrorf("%s %s: %v", flag, kv, err)
		}
	}
	return values, nil
}

// splitImage splits repository:tag; a port in the registry host is not a tag.
func splitImage(ref string) (string, string, error) {
	for i := len(ref) - 1; i >= 0; i-- {
		switch ref[i] {
		case ':':
			if i == 0 || i == len(ref)-1 {
				return "", "", fmt.Errorf("%q: want repository:tag", ref)
			}
			return ref[:i], ref[i+1:], nil
		case '/':
			return "", "", fmt.Errorf("%q has no tag: want repository:tag", ref)
		}
	}
	return "", "", fmt.Errorf("%q has no tag: want repository:tag", ref)
}
