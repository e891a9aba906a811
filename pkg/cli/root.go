// Package cli is the kubeseed command line: the cobra commands behind cmd/kubeseed, for seed
// admins (seed bootstrap, backup download) and for whoever runs tenants (get, describe, wait,
// kubeconfig, backup list).
// It follows kubectl's conventions: the same --kubeconfig, --context and -n/--namespace
// flags (k8s.io/cli-runtime), -o yaml|json|wide|name, -A, and the exit codes below.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// Exit codes of every command.
const (
	// ExitOK: the command did what it was asked.
	ExitOK = 0
	// ExitError: it failed, the API refused, or a wait timed out; stderr says why.
	ExitError = 1
	// ExitUsage: the command line is wrong (unknown command or flag, bad arguments);
	// nothing was done.
	ExitUsage = 2
)

// UsageError is a wrong command line: Run exits with ExitUsage.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Run executes the command line args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	return execute(ctx, NewRootCommand(streams), args, streams)
}

// execute runs root with args as Run does: tests give a root whose global they tuned.
func execute(ctx context.Context, root *cobra.Command, args []string, streams genericiooptions.IOStreams) int {
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	printError(streams.ErrOut, err)
	if errors.As(err, new(*UsageError)) {
		if cmd != nil {
			fmt.Fprintf(streams.ErrOut, "See '%s --help' for usage.\n", cmd.CommandPath())
		}
		return ExitUsage
	}
	return ExitError
}

// printError prints err the way kubectl does: API errors as "Error from server (Reason)".
func printError(w io.Writer, err error) {
	// Only an API error as it came back: a wrapped one carries our own context first.
	var status *apierrors.StatusError
	if errors.As(err, &status) && status.Error() == err.Error() {
		if reason := status.Status().Reason; reason != "" {
			fmt.Fprintf(w, "Error from server (%s): %v\n", reason, err)
			return
		}
	}
	fmt.Fprintf(w, "error: %v\n", err)
}

// global holds what every command shares: the seed's connection flags and the streams.
type global struct {
	config  *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	// objectStore reaches the Swift of a customer's credentials Secret; tests give a fake.
	objectStore func(ctx context.Context, secret *corev1.Secret) (openstack.ObjectStore, error)
}

// NewRootCommand builds the kubeseed command tree, printing to streams.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	return newRootCommand(&global{config: genericclioptions.NewConfigFlags(true), streams: streams, objectStore: swiftStore})
}

func newRootCommand(g *global) *cobra.Command {
	streams := g.streams
	root := &cobra.Command{
		Use:   "kubeseed",
		Short: "kubeseed manages Kubernetes control planes hosted in a seed cluster",
		Long: `kubeseed manages Kubernetes control planes hosted in a seed cluster.

A TenantCluster is one customer's control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) run as pods in a namespace of the seed. kubeseed talks to the seed with the
current context of your kubeconfig, like kubectl.

Exit codes: 0 success, 1 error (including a wait that timed out), 2 wrong usage.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	g.config.AddFlags(root.PersistentFlags())
	// Every kubectl connection flag works; the help lists the everyday ones.
	for _, name := range []string{
		"as-uid", "as-user-extra", "cache-dir", "certificate-authority", "client-certificate", "client-key",
		"disable-compression", "insecure-skip-tls-verify", "proxy-url", "tls-server-name", "token", "server",
	} {
		_ = root.PersistentFlags().MarkHidden(name)
	}

	root.AddCommand(
		newGetCommand(g),
		newDescribeCommand(g),
		newWaitCommand(g),
		newKubeconfigCommand(g),
		newBackupCommand(g),
		newSeedCommand(g),
		newVersionsCommand(g),
	)
	return root
}

// noArgs refuses arguments, naming an unknown subcommand when the command has some.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return usageErrorf("%q takes no arguments, got %q", cmd.CommandPath(), args)
}

// scheme knows the types the CLI reads: kubeseed's, Kubernetes' and CRDs.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // static registrations: cannot fail
		}
	}
	return s
}

// client connects to the seed named by the kubeconfig flags.
func (g *global) client() (client.Client, error) {
	cfg, err := g.config.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme()})
}

// namespace is the namespace of the request: -n, else the context's, else "default".
func (g *global) namespace() (string, error) {
	ns, _, err := g.config.ToRawKubeConfigLoader().Namespace()
	return ns, err
}
