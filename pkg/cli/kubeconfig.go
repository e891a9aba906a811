package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

type kubeconfigOptions struct {
	outputFile     string
	merge          bool
	kubeconfigFile string
	setContext     bool
}

func newKubeconfigCommand(g *global) *cobra.Command {
	o := &kubeconfigOptions{}
	cmd := &cobra.Command{
		Use:   "kubeconfig NAME",
		Short: "Print, save or merge the admin kubeconfig of a TenantCluster",
		Long: `Read the admin kubeconfig of a TenantCluster from the Secret its status names
(status.kubeconfigSecretRef, key "value") and print it, write it to a file (--output-file), or
merge it into a kubeconfig file (--merge, by default ~/.kube/config).

Its cluster, user and context are all named NAMESPACE/NAME, so that the kubeconfigs of several
tenants never clash (every tenant's admin user is "kubernetes-admin" in the Secret). Merging
adds or replaces those three entries and keeps every other one; --set-context also makes it
the current context. Files are written with mode 0600.`,
		Example: `  # Print it
  kubeseed kubeconfig acme -n project-1234

  # Use it right away
  kubeseed kubeconfig acme -n project-1234 --output-file acme.kubeconfig
  kubectl --kubeconfig acme.kubeconfig get namespaces

  # Add it to ~/.kube/config and switch to it
  kubeseed kubeconfig acme -n project-1234 --merge --set-context
  kubectl get namespaces`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), g, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.outputFile, "output-file", "", "Write the kubeconfig to this file (mode 0600) instead of printing it.")
	f.BoolVar(&o.merge, "merge", false, "Merge the kubeconfig into --kubeconfig-file.")
	f.StringVar(&o.kubeconfigFile, "kubeconfig-file", "", "The kubeconfig file --merge writes (default "+clientcmd.RecommendedHomeFile+"). Not --kubeconfig: that one names the seed.")
	f.BoolVar(&o.setContext, "set-context", false, "With --merge, make the tenant's context the current one.")
	return cmd
}

// exactlyOneName wants one NAME, with an optional resource type before it.
func exactlyOneName(cmd *cobra.Command, args []string) error {
	names, err := parseNames(args)
	if err != nil {
		return err
	}
	if len(names) != 1 {
		return usageErrorf("%s wants exactly one TenantCluster NAME, got %d", cmd.CommandPath(), len(names))
	}
	return nil
}

// oneName is the NAME exactlyOneName accepted.
func oneName(args []string) string {
	names, _ := parseNames(args)
	return names[0]
}

func (o *kubeconfigOptions) validate() error {
	switch {
	case o.outputFile != "" && o.merge:
		return usageErrorf("--output-file and --merge exclude each other")
	case !o.merge && (o.kubeconfigFile != "" || o.setContext):
		return usageErrorf("--kubeconfig-file and --set-context go with --merge")
	}
	return nil
}

func (o *kubeconfigOptions) run(ctx context.Context, g *global, arg string) error {
	if err := o.validate(); err != nil {
		return err
	}
	name := oneName([]string{arg})
	ns, err := g.namespace()
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	contextName := ns + "/" + name
	tenant, err := tenantKubeconfig(ctx, c, ns, name)
	if err != nil {
		return err
	}
	switch {
	case o.merge:
		path := o.kubeconfigFile
		if path == "" {
			path = clientcmd.RecommendedHomeFile
		}
		if err := mergeIntoFile(path, tenant, contextName, o.setContext); err != nil {
			return err
		}
		fmt.Fprintf(g.streams.Out, "Merged the admin kubeconfig of TenantCluster %s into %s as context %q.\n", contextName, path, contextName)
		if o.setContext {
			fmt.Fprintf(g.streams.Out, "Switched to context %q.\n", contextName)
		}
		return nil
	case o.outputFile != "":
		raw, err := clientcmd.Write(*tenant)
		if err != nil {
			return err
		}
		if err := writeFile0600(o.outputFile, raw); err != nil {
			return err
		}
		fmt.Fprintf(g.streams.Out, "Wrote the admin kubeconfig of TenantCluster %s to %s (context %q).\n", contextName, o.outputFile, contextName)
		return nil
	default:
		raw, err := clientcmd.Write(*tenant)
		if err != nil {
			return err
		}
		_, err = g.streams.Out.Write(raw)
		return err
	}
}

// tenantKubeconfig reads the tenant's admin kubeconfig from the Secret its status names and
// renames its cluster, user and context to namespace/name.
func tenantKubeconfig(ctx context.Context, c client.Reader, ns, name string) (*clientcmdapi.Config, error) {
	tc := &v1alpha1.TenantCluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, tc); err != nil {
		return nil, listError(err)
	}
	ref := tc.Status.KubeconfigSecretRef
	if ref == nil || ref.Name == "" {
		return nil, fmt.Errorf("TenantCluster %s/%s has no admin kubeconfig yet (status.kubeconfigSecretRef is empty; phase %s): "+
			"it is published once its certificates are issued and its endpoint is known; see kubeseed describe %s -n %s",
			ns, name, orNone(string(tc.Status.Phase)), name, ns)
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, secret); err != nil {
		return nil, fmt.Errorf("the admin kubeconfig Secret of TenantCluster %s/%s: %w", ns, name, err)
	}
	raw := secret.Data[controlplane.KubeconfigKey]
	if len(raw) == 0 {
		return nil, fmt.Errorf("the Secret %s/%s has no key %q", ns, ref.Name, controlplane.KubeconfigKey)
	}
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("the Secret %s/%s key %q is not a kubeconfig: %w", ns, ref.Name, controlplane.KubeconfigKey, err)
	}
	return renamed(cfg, ns+"/"+name)
}

// renamed returns the current context of cfg (or its only context) with its cluster, user
// and context all called name.
func renamed(cfg *clientcmdapi.Config, name string) (*clientcmdapi.Config, error) {
	current := cfg.CurrentContext
	if current == "" && len(cfg.Contexts) == 1 {
		for k := range cfg.Contexts {
			current = k
		}
	}
	ctx := cfg.Contexts[current]
	if ctx == nil {
		return nil, fmt.Errorf("the tenant's kubeconfig has no current context")
	}
	cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if cluster == nil || user == nil {
		return nil, fmt.Errorf("the tenant's kubeconfig context %q names a missing cluster %q or user %q", current, ctx.Cluster, ctx.AuthInfo)
	}
	out := clientcmdapi.NewConfig()
	out.Clusters[name] = cluster.DeepCopy()
	out.AuthInfos[name] = user.DeepCopy()
	c := ctx.DeepCopy()
	c.Cluster, c.AuthInfo = name, name
	out.Contexts[name] = c
	out.CurrentContext = name
	return out, nil
}

// merge lays the tenant's entries, each named name, over existing: entries of that name are
// replaced, every other entry is kept. setContext makes name the current context.
func merge(existing, tenant *clientcmdapi.Config, name string, setContext bool) *clientcmdapi.Config {
	out := existing.DeepCopy()
	if out.Clusters == nil {
		out.Clusters = map[string]*clientcmdapi.Cluster{}
	}
	if out.AuthInfos == nil {
		out.AuthInfos = map[string]*clientcmdapi.AuthInfo{}
	}
	if out.Contexts == nil {
		out.Contexts = map[string]*clientcmdapi.Context{}
	}
	out.Clusters[name] = tenant.Clusters[name].DeepCopy()
	out.AuthInfos[name] = tenant.AuthInfos[name].DeepCopy()
	out.Contexts[name] = tenant.Contexts[name].DeepCopy()
	if setContext {
		out.CurrentContext = name
	}
	return out
}

// mergeIntoFile merges the tenant into the kubeconfig file at path (created when missing),
// under clientcmd's lock file, and replaces the file in one rename with mode 0600. A
// symbolic link is followed, so the file it points at is the one updated.
func mergeIntoFile(path string, tenant *clientcmdapi.Config, name string, setContext bool) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	lock := path + ".lock"
	f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("lock %s (remove %s if no kubectl or kubeseed is running): %w", path, lock, err)
	}
	_ = f.Close()
	defer func() { _ = os.Remove(lock) }()

	existing, err := clientcmd.LoadFromFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		existing, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	raw, err := clientcmd.Write(*merge(existing, tenant, name, setContext))
	if err != nil {
		return err
	}
	return writeFile0600(path, raw)
}

// writeFile0600 replaces path with data, mode 0600, through a temporary file and a rename:
// a reader never sees half a kubeconfig.
func writeFile0600(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
