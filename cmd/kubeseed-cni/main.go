// Command kubeseed-cni is the pod network's node helper (package pkg/cni), run from its
// image beside flanneld:
//
//	kubeseed-cni install -from /opt/cni/bin -to /host/opt/cni/bin
//	kubeseed-cni config -subnet-file /run/flannel/subnet.env -out /host/etc/cni/net.d/10-flannel.conflist
//
// install (an init container) copies the image's CNI plugins onto the node; config (a
// container beside flanneld) writes the node's CNI config from flanneld's lease and keeps
// it current until the pod stops.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kubeseed/kubeseed/pkg/cni"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "kubeseed-cni: %v\n", err)
		os.Exit(1)
	}
}

const usage = "usage: kubeseed-cni install|config [flags] (-h for the flags)"

func run(ctx context.Context, args []string, stderr io.Writer) error {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "kubeseed-cni: "+format+"\n", a...) }
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("kubeseed-cni "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "install":
		from := fs.String("from", "/opt/cni/bin", "directory of the plugins to install")
		to := fs.String("to", "/host/opt/cni/bin", "the node's CNI plugin directory, mounted")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		copied, err := cni.Install(*from, *to)
		if err != nil {
			return err
		}
		if len(copied) == 0 {
			logf("%s is up to date", *to)
		} else {
			logf("installed %s into %s", strings.Join(copied, ", "), *to)
		}
		return nil
	case "config":
		subnetFile := fs.String("subnet-file", "/run/flannel/subnet.env", "flanneld's subnet file")
		out := fs.String("out", "/host/etc/cni/net.d/10-flannel.conflist", "the CNI config to write, on the node's mounted config dir")
		interval := fs.Duration("interval", 2*time.Second, "how often to read the subnet file")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return cni.WatchConfig(ctx, *subnetFile, *out, *interval, logf)
	default:
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
}

// parse parses the subcommand's flags and refuses stray arguments, which are always typos.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}
