package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	cases := []struct {
		args       []string
		code       int
		stdout     string
		stderrPart string
	}{
		{args: []string{"versions"}, code: 0, stdout: "supported: v1.34.4 v1.35.4 v1.36.3\ndefault:   v1.36.3\n"},
		{args: nil, code: 2, stderrPart: "Usage:"},
		{args: []string{"frobnicate"}, code: 2, stderrPart: `unknown command "frobnicate"`},
		{args: []string{"seed"}, code: 2, stderrPart: "want the subcommand bootstrap"},
		{args: []string{"seed", "bootstrap", "--image", "kubeseed/manager"}, code: 2, stderrPart: "has no tag"},
		{args: []string{"seed", "bootstrap", "extra"}, code: 2, stderrPart: "unexpected arguments"},
		{args: []string{"seed", "bootstrap", "--set", "a.b"}, code: 2, stderrPart: "--set a.b"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if code := run(c.args, &out, &errOut); code != c.code {
			t.Errorf("run(%q) = %d, want %d", c.args, code, c.code)
		}
		if out.String() != c.stdout && c.stdout != "" {
			t.Errorf("run(%q) printed %q, want %q", c.args, out.String(), c.stdout)
		}
		if !strings.Contains(errOut.String(), c.stderrPart) {
			t.Errorf("run(%q) stderr %q does not contain %q", c.args, errOut.String(), c.stderrPart)
		}
	}
}

func TestSplitImage(t *testing.T) {
	cases := []struct{ ref, repo, tag, err string }{
		{ref: "kubeseed/manager:dev", repo: "kubeseed/manager", tag: "dev"},
		{ref: "registry.local:5000/kubeseed/manager:v1", repo: "registry.local:5000/kubeseed/manager", tag: "v1"},
		{ref: "registry.local:5000/kubeseed/manager", err: "has no tag"},
		{ref: "manager:", err: "want repository:tag"},
	}
	for _, c := range cases {
		repo, tag, err := splitImage(c.ref)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("splitImage(%q) error = %v, want %q", c.ref, err, c.err)
			}
			continue
		}
		if err != nil || repo != c.repo || tag != c.tag {
			t.Errorf("splitImage(%q) = %q, %q, %v; want %q, %q", c.ref, repo, tag, err, c.repo, c.tag)
		}
	}
}
