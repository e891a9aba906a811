package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The wipe command is the etcd pod's init container (the etcd image has no shell). The
// manager names a member in the cluster ConfigMap ("<member>=<token>") when it adds back a
// member whose data was lost (controllers/tenantcluster/etcd_lost.go): that member's pod
// removes its data directory once per token, so etcd starts empty and joins as the learner
// it was added as, instead of on what its crashed runs wrote under the removed member's ID.
// Any other pod, and this one on later starts, leave the directory alone.
//
// It also guards the directory: in a cluster that exists, a pod whose directory holds no
// member data and whom the marker does not name is refused (noDataReport). etcd would
// start there under the member's old ID and, once a new leader no longer remembers how
// far that member's log reached, rejoin silently with no record of its votes; refused,
// the manager reads the refusal, removes the member and adds it back as a learner.
type wipeOptions struct {
	dir, done            string
	markerEnv, memberEnv string
	// stateEnv holds etcd's initial cluster state: "existing" once the cluster runs.
	stateEnv string
	// report is where the token acted on is written (the container's termination
	// message): the manager restarts a crashed pod only while its wipe has not run with
	// the marker it wrote.
	report string
}

func parseWipe(args []string, stderr io.Writer) (wipeOptions, error) {
	var o wipeOptions
	fs := flag.NewFlagSet("kubeseed-tunnel wipe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "dir", "", "The etcd data directory to remove.")
	fs.StringVar(&o.done, "done", "", "The file recording the token last wiped for (outside --dir).")
	fs.StringVar(&o.markerEnv, "marker-env", "KUBESEED_ETCD_WIPE", "The environment variable holding <member>=<token>.")
	fs.StringVar(&o.memberEnv, "member-env", "POD_NAME", "The environment variable holding this member's name.")
	fs.StringVar(&o.stateEnv, "state-env", "ETCD_INITIAL_CLUSTER_STATE", "The environment variable holding etcd's initial cluster state.")
	fs.StringVar(&o.report, "report", "/dev/termination-log", "Where \"token=<token>\" is written once this member's directory is wiped for it; empty: nowhere.")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.dir == "" || o.done == "":
		return o, errors.New("wipe: --dir and --done are required")
	case strings.HasPrefix(o.done, strings.TrimSuffix(o.dir, "/")+"/"):
		return o, errors.New("wipe: --done must be outside --dir")
	}
	return o, nil
}

// noDataReport starts the refusal of a directory without member data in a running
// cluster (controlplane.EtcdNoDataReport, which the manager reads).
const noDataReport = "no etcd data in "

// runWipe removes o.dir when the marker names this member with a token not yet wiped for,
// and refuses a directory without member data in a running cluster that it does not name.
func runWipe(o wipeOptions, getenv func(string) string, stderr io.Writer) error {
	member, token, ok := strings.Cut(getenv(o.markerEnv), "=")
	if !ok || member == "" || token == "" || member != getenv(o.memberEnv) {
		return guardEmpty(o, getenv, stderr)
	}
	last, err := os.ReadFile(o.done)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", o.done, err)
	}
	if strings.TrimSpace(string(last)) != token {
		if err := os.RemoveAll(o.dir); err != nil {
			return fmt.Errorf("remove %s: %w", o.dir, err)
		}
		if err := writeSynced(o.done, []byte(token+"\n")); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "removed %s: member %s starts anew (token %s)\n", o.dir, member, token)
	} // else wiped for this token already: what is there now is the new member's
	if o.report != "" {
		if err := os.WriteFile(o.report, []byte("token="+token+"\n"), 0o644); err != nil {
			return fmt.Errorf("report to %s: %w", o.report, err)
		}
	}
	return nil
}

// guardEmpty refuses o.dir when the cluster exists and the directory holds no member
// data (etcd writes <dir>/member before it joins): this member's data is lost.
func guardEmpty(o wipeOptions, getenv func(string) string, stderr io.Writer) error {
	if getenv(o.stateEnv) != "existing" {
		return nil // a cluster bootstrapping: etcd itself refuses a member it already has
	}
	switch _, err := os.Stat(filepath.Join(o.dir, "member")); {
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("look for member data in %s: %w", o.dir, err)
	}
	msg := noDataReport + o.dir + " while its cluster runs: the data of member " + getenv(o.memberEnv) +
		" is lost (its volume is new or was emptied); the manager removes it and adds it back as a learner"
	fmt.Fprintln(stderr, msg)
	if o.report != "" {
		if err := os.WriteFile(o.report, []byte(msg+"\n"), 0o644); err != nil {
			return fmt.Errorf("report to %s: %w", o.report, err)
		}
	}
	return errors.New("refused: no etcd data")
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The file's name is durable only once its directory is.
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
