package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"helm.sh/helm/v3/pkg/strvals"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubeseed/kubeseed/pkg/install"
)

// seedBootstrap installs or upgrades the operator in the seed of the current kubeconfig
// context. It needs cert-manager there already.
func seedBootstrap(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kubeseed seed bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "Path to the seed's kubeconfig (default: $KUBECONFIG or ~/.kube/config).")
	kubeContext := fs.String("context", "", "The kubeconfig context of the seed (default: the current context).")
	namespace := fs.String("namespace", install.DefaultNamespace, "Namespace of the operator.")
	image := fs.String("image", "", "Manager image, repository:tag (default: the chart's kubeseed/manager:dev).")
	timeout := fs.Duration("timeout", 3*time.Minute, "How long to wait for the manager to become available.")
	var sets setFlags
	fs.Var(&sets, "set", "Chart value as key=value, like helm's --set (repeatable), e.g. manager.logLevel=debug.")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kubeseed seed bootstrap: unexpected arguments %q\n", fs.Args())
		return 2
	}
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig, flags.Context, flags.Namespace = kubeconfig, kubeContext, namespace
	values := map[string]any{}
	for _, kv := range sets {
		if err := strvals.ParseInto(kv, values); err != nil {
			fmt.Fprintf(stderr, "kubeseed seed bootstrap: --set %s: %v\n", kv, err)
			return 2
		}
	}
	if *image != "" {
		repo, tag, err := splitImage(*image)
		if err != nil {
			fmt.Fprintf(stderr, "kubeseed seed bootstrap: --image: %v\n", err)
			return 2
		}
		values["image"] = map[string]any{"repository": repo, "tag": tag}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rel, err := install.Operator(ctx, flags, install.Options{
		Namespace: *namespace, Values: values, Timeout: *timeout,
		Logf: func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) },
	})
	if err != nil {
		fmt.Fprintf(stderr, "kubeseed seed bootstrap: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "kubeseed operator %s installed in namespace %s (release %s, revision %d)\n",
		rel.Chart.Metadata.AppVersion, rel.Namespace, rel.Name, rel.Version)
	return 0
}

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

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
