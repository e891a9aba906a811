package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "from"), filepath.Join(dir, "to")
	if err := os.MkdirAll(from, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(from, "bridge"), []byte("bridge"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(dir, "subnet.env")
	if err := os.WriteFile(env, []byte("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "net.d", "10-flannel.conflist")
	// Stopped already: config writes once and returns, as on SIGTERM.
	stopped, cancel := context.WithCancel(context.Background())
	cancel()

	for _, tc := range []struct {
		name    string
		args    []string
		err     error  // errors.Is target
		errText string // or a substring of the error
		stderr  string
	}{
		{name: "no command", args: nil, err: flag.ErrHelp, stderr: "usage:"},
		{name: "unknown command", args: []string{"run"}, err: flag.ErrHelp, stderr: "usage:"},
		{name: "install", args: []string{"install", "-from", from, "-to", to}, stderr: "installed bridge into"},
		{name: "install again", args: []string{"install", "-from", from, "-to", to}, stderr: "is up to date"},
		{name: "stray argument", args: []string{"install", "-from", from, "extra"}, errText: "unexpected arguments"},
		{name: "config", args: []string{"config", "-subnet-file", env, "-out", out}, stderr: "wrote " + out},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(stopped, tc.args, &stderr)
			switch {
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Errorf("error %v, want %v", err, tc.err)
			case tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)):
				t.Errorf("error %v, want one containing %q", err, tc.errText)
			case tc.err == nil && tc.errText == "" && err != nil:
				t.Errorf("error %v", err)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.stderr)
			}
		})
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("config not written: %v", err)
	}
}
