// Command kubeseed is the command-line tool for seed admins and tenants.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kubeseed/kubeseed/pkg/versions"
)

const usage = `kubeseed manages Kubernetes control planes hosted in a seed cluster.

Usage:
  kubeseed versions         Print the Kubernetes versions a TenantCluster may run.
  kubeseed seed bootstrap   Install or upgrade the operator in the seed (flags: --kubeconfig,
                            --context, --namespace, --image, --set, --timeout). Needs cert-manager.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the process exit code: 0 on success, 2 on a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "versions":
		fmt.Fprintf(stdout, "supported: %s\ndefault:   %s\n", strings.Join(versions.Supported, " "), versions.Default)
		return 0
	case "seed":
		if len(args) < 2 || args[1] != "bootstrap" {
			fmt.Fprintf(stderr, "kubeseed seed: want the subcommand bootstrap\n\n%s", usage)
			return 2
		}
		return seedBootstrap(args[2:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "kubeseed: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
