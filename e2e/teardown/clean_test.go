//go:build e2e

// Package teardown checks, after `make seed-down`, that the local seed left nothing on the
// machine. `make test-e2e` runs it last; it fails, never skips, when something remains.
package teardown

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeseed/kubeseed/pkg/seed"
)

func cache() string { return seed.CacheDir() }

func TestNoProcessesLeft(t *testing.T) {
	seedDir := filepath.Join(cache(), "seed")
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.Contains(args, seedDir) || strings.Contains(args, "containerd-shim") {
			t.Errorf("process %s still runs: %s", e.Name(), args)
		}
	}
}

func TestNoMountsLeft(t *testing.T) {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		mp := fields[4]
		if strings.HasPrefix(mp, filepath.Join(cache(), "seed")) || strings.Contains(mp, "/netns/cni-") ||
			strings.HasPrefix(mp, "/run/containerd") || strings.HasPrefix(mp, "/var/lib/kubelet") {
			t.Errorf("mount left behind: %s", mp)
		}
	}
}

func TestNoNetworkLeft(t *testing.T) {
	links, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip link: %v", err)
	}
	for _, line := range strings.Split(string(links), "\n") {
		// cni0 and veths of the seed's pods; ksm-uplink of the machines' router.
		if strings.Contains(line, " cni0:") || strings.Contains(line, " veth") || strings.Contains(line, " ksm-uplink") {
			t.Errorf("link left behind: %s", line)
		}
	}
	routes, err := exec.Command("ip", "route", "show").Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	if strings.Contains(string(routes), "10.220.0.") {
		t.Errorf("machine network routes left behind:\n%s", routes)
	}
	for _, table := range []string{"filter", "nat", "mangle"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			t.Fatalf("iptables-save -t %s: %v", table, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "KUBE-") || strings.Contains(line, "CNI-") {
				t.Errorf("iptables %s: left behind: %s", table, line)
			}
		}
	}
}

// TestNoIPSetsLeft: the seed's NetworkPolicy controller (kube-router) made ipsets; seed down
// destroys them once no rule refers to them.
func TestNoIPSetsLeft(t *testing.T) {
	out, err := exec.Command("ipset", "list", "-n").Output()
	if err != nil {
		t.Fatalf("ipset list: %v", err)
	}
	for _, set := range strings.Fields(string(out)) {
		if strings.HasPrefix(set, "KUBE-") || strings.HasPrefix(set, "TMP-") {
			t.Errorf("ipset left behind: %s", set)
		}
	}
}

func TestNoFilesOrCgroupsLeft(t *testing.T) {
	paths := []string{
		filepath.Join(cache(), "seed"),
		"/var/lib/cni", "/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/run/containerd", "/opt/containerd",
		// Mount points made for machines' private paths.
		"/etc/kubernetes", "/etc/cni", "/var/lib/containerd", "/run/netns",
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	machines, _ := filepath.Glob("/sys/fs/cgroup/*/kubeseed-machines")
	cgroups = append(cgroups, machines...)
	netns, _ := filepath.Glob("/run/netns/cni-*")
	for _, p := range append(append(paths, cgroups...), netns...) {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
}
