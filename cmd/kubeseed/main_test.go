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
