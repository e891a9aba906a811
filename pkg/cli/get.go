package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// tenantAliases name the TenantCluster resource on the command line, as kubectl would.
var tenantAliases = []string{
	"tenantclusters.kubeseed.io", "tenantcluster.kubeseed.io", "tenantclusters", "tenantcluster",
	"tenants", "tenant", "tc",
}

// outputFormats of `kubeseed get`, as -o takes them.
var outputFormats = []string{"json", "name", "wide", "yaml"}

type getOptions struct {
	output        string
	allNamespaces bool
	noHeaders     bool
}

func newGetCommand(g *global) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get [tenants|tc] [NAME...]",
		Short: "List TenantClusters: phase, version, endpoint and workers",
		Long: `List the TenantClusters of the namespace (-n, else the context's), or of every namespace
with -A, or the ones named.

WORKERS is ready/desired servers summed over the tenant's WorkerPools (the pools whose
spec.clusterName names it, in its namespace). -o wide adds the version asked for, the endpoint
type, the number of pools and the conditions that are not True.

The resource type may be given as kubectl would: "kubeseed get tc acme" is "kubeseed get acme"
(to get a tenant named like a type, such as "tc", give the type first: "kubeseed get tc tc").`,
		Example: `  kubeseed get -n project-1234
  kubeseed get -A -o wide
  kubeseed get acme -n project-1234 -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := parseNames(args)
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), g, names)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "Output format: "+strings.Join(outputFormats, ", ")+".")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "List the TenantClusters of every namespace.")
	f.BoolVar(&o.noHeaders, "no-headers", false, "Print the table without its header line.")
	return cmd
}

// parseNames takes kubectl's forms: NAME..., TYPE NAME..., TYPE/NAME...; TYPE must be one
// of tenantAliases.
func parseNames(args []string) ([]string, error) {
	if len(args) > 0 && slices.Contains(tenantAliases, strings.ToLower(args[0])) {
		args = args[1:]
	}
	names := make([]string, 0, len(args))
	for _, a := range args {
		if typ, name, ok := strings.Cut(a, "/"); ok {
			if !slices.Contains(tenantAliases, strings.ToLower(typ)) {
				return nil, usageErrorf("%q: kubeseed only knows TenantClusters (tenantclusters, tenants, tc)", a)
			}
			a = name
		}
		if a == "" {
			return nil, usageErrorf("empty name in %q", args)
		}
		names = append(names, a)
	}
	return names, nil
}

func (o *getOptions) run(ctx context.Context, g *global, names []string) error {
	if !slices.Contains(append(outputFormats, ""), o.output) {
		return usageErrorf("unable to match a printer suitable for the output format %q, allowed formats are: %s", o.output, strings.Join(outputFormats, ","))
	}
	if o.allNamespaces && len(names) > 0 {
		return usageErrorf("a TenantCluster cannot be retrieved by name across all namespaces")
	}
	ns, err := g.namespace()
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	scope := ns
	if o.allNamespaces {
		scope = ""
	}
	tcs, errs := fetchTenants(ctx, c, scope, names)
	if len(tcs) == 0 && len(errs) > 0 {
		return utilerrors.Reduce(utilerrors.NewAggregate(errs))
	}
	pools, err := listPools(ctx, c, scope)
	if err != nil {
		return err
	}
	if len(tcs) == 0 && len(names) == 0 && o.output != "json" && o.output != "yaml" {
		if o.allNamespaces {
			fmt.Fprintln(g.streams.ErrOut, "No resources found")
		} else {
			fmt.Fprintf(g.streams.ErrOut, "No resources found in %s namespace.\n", ns)
		}
		return nil
	}
	if err := printTenants(g.streams.Out, o, tcs, pools, len(names) == 1, time.Now()); err != nil {
		return err
	}
	return utilerrors.Reduce(utilerrors.NewAggregate(errs))
}

// fetchTenants gets the named tenants of ns, or lists those of ns ("" for every namespace).
// Errors of single names (not found) come back beside what was found, as kubectl reports them.
func fetchTenants(ctx context.Context, c client.Reader, ns string, names []string) ([]v1alpha1.TenantCluster, []error) {
	if len(names) == 0 {
		list := &v1alpha1.TenantClusterList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return nil, []error{listError(err)}
		}
		sortTenants(list.Items)
		return list.Items, nil
	}
	var (
		out  []v1alpha1.TenantCluster
		errs []error
	)
	for _, name := range names {
		tc := &v1alpha1.TenantCluster{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, tc); err != nil {
			errs = append(errs, listError(err))
			continue
		}
		out = append(out, *tc)
	}
	return out, errs
}

// listError explains the one error a seed without kubeseed gives.
func listError(err error) error {
	if meta.IsNoMatchError(err) {
		return fmt.Errorf("the seed does not know TenantClusters: is kubeseed installed (kubeseed seed bootstrap)? %w", err)
	}
	return err
}

// listPools lists the WorkerPools of ns ("" for all); a seed without the CRD has none.
func listPools(ctx context.Context, c client.Reader, ns string) ([]v1alpha1.WorkerPool, error) {
	list := &v1alpha1.WorkerPoolList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list WorkerPools: %w", err)
	}
	return list.Items, nil
}

// printTenants prints tenants in the format o asks for. single: one name was asked for, so
// yaml and json print the object rather than a List.
func printTenants(w io.Writer, o *getOptions, tcs []v1alpha1.TenantCluster, pools []v1alpha1.WorkerPool, single bool, now time.Time) error {
	gvk := v1alpha1.GroupVersion.WithKind("TenantCluster")
	for i := range tcs {
		tcs[i].SetGroupVersionKind(gvk)
	}
	switch o.output {
	case "yaml", "json":
		var p printers.ResourcePrinter = &printers.YAMLPrinter{}
		if o.output == "json" {
			p = &printers.JSONPrinter{}
		}
		p = &printers.OmitManagedFieldsPrinter{Delegate: p}
		if single && len(tcs) == 1 {
			return p.PrintObj(&tcs[0], w)
		}
		list := &metav1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}, Items: []runtime.RawExtension{}}
		for i := range tcs {
			list.Items = append(list.Items, runtime.RawExtension{Object: &tcs[i]})
		}
		return p.PrintObj(list, w)
	case "name":
		p := printers.NamePrinter{}
		for i := range tcs {
			if err := p.PrintObj(&tcs[i], w); err != nil {
				return err
			}
		}
		return nil
	default:
		p := printers.NewTablePrinter(printers.PrintOptions{
			Wide: o.output == "wide", WithNamespace: o.allNamespaces, NoHeaders: o.noHeaders,
		})
		return p.PrintObj(tenantTable(tcs, workersByTenant(pools), now), w)
	}
}
