// Command kubeseed is the command-line tool for seed admins and tenants; the commands live
// in pkg/cli. Exit codes: 0 success, 1 error (a wait that timed out included), 2 usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeseed/kubeseed/pkg/cli"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	cancel()
	os.Exit(code)
}
