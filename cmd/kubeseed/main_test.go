package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets a test run this binary's main in a child process (the test binary itself),
// so that exit codes are checked as a shell sees them.
func TestMain(m *testing.M) {
	if os.Getenv("KUBESEED_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestExitCodes(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args       []string
		code       int
		stdout     string
		stderrPart string
	}{
		{args: []string{"versions"}, code: 0, stdout: "supported: v1.34.4 v1.35.4 v1.36.3\ndefault:   v1.36.3\n"},
		{args: []string{"frobnicate"}, code: 2, stderrPart: `unknown command "frobnicate" for "kubeseed"`},
		{args: []string{"get", "--frobnicate"}, code: 2, stderrPart: "unknown flag: --frobnicate"},
		{args: []string{"get", "-o", "table"}, code: 2, stderrPart: `output format "table"`},
		{args: []string{"seed", "bootstrap", "--image", "kubeseed/manager"}, code: 2, stderrPart: "has no tag"},
		{args: []string{"get", "--kubeconfig", "/nonexistent/kubeconfig"}, code: 1, stderrPart: "error: "},
		{args: []string{"backup"}, code: 2, stderrPart: "want a subcommand: list, download"},
		{args: []string{"backup", "download", "acme"}, code: 2, stderrPart: "--dir is required"},
		{args: []string{"backup", "list", "acme", "-o", "name"}, code: 2, stderrPart: `output format "name"`},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			cmd := exec.Command(exe, c.args...)
			cmd.Env = append(os.Environ(), "KUBESEED_TEST_MAIN=1")
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, c.code, errOut.String())
			}
			if c.stdout != "" && out.String() != c.stdout {
				t.Errorf("stdout %q, want %q", out.String(), c.stdout)
			}
			if !strings.Contains(errOut.String(), c.stderrPart) {
				t.Errorf("stderr %q lacks %q", errOut.String(), c.stderrPart)
			}
		})
	}
}
