package dataplane

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestScriptRunsLikeCloudInit(t *testing.T) {
	dir := t.TempDir()
	userData := `#cloud-config
write_files:
- path: ` + dir + `/etc/kubeadm/join.yaml
  permissions: "0600"
  content: |
    kind: JoinConfiguration
    token: 'with quotes'
- path: ` + dir + `/etc/b64
  encoding: b64
  content: aGVsbG8=
manage_etc_hosts: localhost
runcmd:
- echo one > ` + dir + `/out
- [sh, -c, "echo 'two words' >> ` + dir + `/out"]
`
	script, err := Script([]byte(userData))
	if err != nil {
		t.Fatal(err)
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Twice, as a rebooted machine would: the hostname is added once.
	for range 2 {
		if err := os.Remove(filepath.Join(dir, "out")); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", script)
		cmd.Env = append(os.Environ(), "KUBESEED_ETC_HOSTS="+filepath.Join(dir, "hosts"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("script failed: %v\n%s\n%s", err, out, script)
		}
	}
	cases := map[string]string{
		"etc/kubeadm/join.yaml": "kind: JoinConfiguration\ntoken: 'with quotes'\n",
		"etc/b64":               "hello",
		"out":                   "one\ntwo words\n",
		"hosts":                 "127.0.0.1 localhost\n127.0.1.1 " + hostname + "\n",
	}
	for name, want := range cases {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q (%v), want %q", name, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "etc/kubeadm/join.yaml")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("join.yaml mode %v (%v), want 0600", fi.Mode(), err)
	}
}

func TestScriptRefuses(t *testing.T) {
	cases := map[string]struct{ userData, says string }{
		"not cloud-config": {"#!/bin/sh\necho hi\n", "not #cloud-config"},
		"unknown key":      {"#cloud-config\npackages: [kubeadm]\n", `"packages"`},
		"relative path":    {"#cloud-config\nwrite_files:\n- path: etc/x\n  content: x\n", "not absolute"},
		"bad encoding":     {"#cloud-config\nwrite_files:\n- path: /x\n  encoding: gz\n  content: x\n", `encoding "gz"`},
		"bad permissions":  {"#cloud-config\nwrite_files:\n- path: /x\n  permissions: rw\n  content: x\n", "not octal"},
		"hosts template":   {"#cloud-config\nmanage_etc_hosts: template\n", "manage_etc_hosts: template"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Script([]byte(c.userData))
			if err == nil {
				t.Fatalf("accepted:\n%s", s)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
		})
	}
}
