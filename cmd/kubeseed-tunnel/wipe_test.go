package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWipe: the data directory goes only for the pod the marker names, once per token.
func TestWipe(t *testing.T) {
	for _, c := range []struct {
		name, marker, member, done string
		wantGone                   bool
	}{
		{"no marker", "", "acme-etcd-1", "", false},
		{"another member", "acme-etcd-2=6f1a", "acme-etcd-1", "", false},
		{"this member, first time", "acme-etcd-1=6f1a", "acme-etcd-1", "", true},
		{"this member, a new token", "acme-etcd-1=6f1b", "acme-etcd-1", "6f1a\n", true},
		{"this member, wiped for this token already", "acme-etcd-1=6f1a", "acme-etcd-1", "6f1a\n", false},
		{"a marker without a token", "acme-etcd-1=", "acme-etcd-1", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir, done := filepath.Join(root, "data"), filepath.Join(root, "wiped")
			if err := os.MkdirAll(filepath.Join(dir, "member", "wal"), 0o700); err != nil {
				t.Fatal(err)
			}
			if c.done != "" {
				if err := os.WriteFile(done, []byte(c.done), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{"KUBESEED_ETCD_WIPE": c.marker, "POD_NAME": c.member}
			report := filepath.Join(root, "termination-log")
			o, err := parseWipe([]string{"--dir", dir, "--done", done, "--report", report}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if err := runWipe(o, func(k string) string { return env[k] }, io.Discard); err != nil {
				t.Fatal(err)
			}
			_, err = os.Stat(dir)
			if gone := os.IsNotExist(err); gone != c.wantGone {
				t.Fatalf("data directory gone: %v, want %v", gone, c.wantGone)
			}
			// The manager reads which token the pod's wipe ran with, wiped or not.
			wantReport := ""
			if member, token, _ := strings.Cut(c.marker, "="); member == c.member && token != "" {
				wantReport = "token=" + token + "\n"
			}
			if got, _ := os.ReadFile(report); string(got) != wantReport {
				t.Errorf("reported %q, want %q", got, wantReport)
			}
			if c.wantGone {
				got, _ := os.ReadFile(done)
				if _, token, _ := strings.Cut(c.marker, "="); string(got) != token+"\n" {
					t.Errorf("done file %q, want the token", got)
				}
				// A restart with the same marker keeps what the new member wrote.
				if err := os.MkdirAll(filepath.Join(dir, "member"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := runWipe(o, func(k string) string { return env[k] }, io.Discard); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(dir); err != nil {
					t.Errorf("wiped twice for one token: %v", err)
				}
			}
		})
	}
	if _, err := parseWipe([]string{"--dir", "/var/lib/etcd/data", "--done", "/var/lib/etcd/data/wiped"}, io.Discard); err == nil {
		t.Error("a --done inside --dir is accepted: the wipe would remove its own record")
	}
}
