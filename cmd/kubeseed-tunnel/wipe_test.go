package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
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

// TestWipeRefusesADirectoryWithoutMemberData: in a running cluster, a pod the marker does
// not name may not start etcd on a directory without member data (its old member's ID
// would rejoin with no record of its votes); the refusal is the termination message the
// manager reads.
func TestWipeRefusesADirectoryWithoutMemberData(t *testing.T) {
	for _, c := range []struct {
		name, state, marker string
		memberData, dirGone bool
		wantRefused         bool
	}{
		{"running cluster, member data there", "existing", "", true, false, false},
		{"running cluster, empty directory", "existing", "", false, false, true},
		{"running cluster, no directory at all (a new volume)", "existing", "", false, true, true},
		{"running cluster, empty directory, marker names another pod", "existing", "acme-etcd-2=6f1a", false, false, true},
		{"running cluster, empty directory, marker names this pod", "existing", "acme-etcd-1=6f1a", false, false, false},
		{"bootstrapping cluster, new volume", "new", "", false, true, false},
		{"no state given", "", "", false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir, done, report := filepath.Join(root, "data"), filepath.Join(root, "wiped"), filepath.Join(root, "termination-log")
			switch {
			case c.memberData:
				if err := os.MkdirAll(filepath.Join(dir, "member", "snap"), 0o700); err != nil {
					t.Fatal(err)
				}
			case !c.dirGone:
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{"KUBESEED_ETCD_WIPE": c.marker, "POD_NAME": "acme-etcd-1", "ETCD_INITIAL_CLUSTER_STATE": c.state}
			o, err := parseWipe([]string{"--dir", dir, "--done", done, "--report", report}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			err = runWipe(o, func(k string) string { return env[k] }, io.Discard)
			if refused := err != nil; refused != c.wantRefused {
				t.Fatalf("refused: %v (%v), want %v", refused, err, c.wantRefused)
			}
			got, _ := os.ReadFile(report)
			if c.wantRefused != strings.HasPrefix(string(got), controlplane.EtcdNoDataReport) {
				t.Errorf("termination message %q: the manager reads a refusal only by its prefix %q", got, controlplane.EtcdNoDataReport)
			}
			if c.wantRefused && !strings.Contains(string(got), "acme-etcd-1") {
				t.Errorf("termination message %q does not name the member", got)
			}
		})
	}
	// The manager's copy of the prefix is this command's.
	if noDataReport != controlplane.EtcdNoDataReport {
		t.Errorf("wipe reports %q, the manager looks for %q", noDataReport, controlplane.EtcdNoDataReport)
	}
}
