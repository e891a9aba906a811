package seed

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestMachineName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"worker-0", true},
		{"a", true},
		{"Worker", false},
		{"-worker", false},
		{"worker-", false},
		{"worker_0", false},
		{strings.Repeat("a", 32), true},
		{strings.Repeat("a", 33), false},
	}
	for _, c := range cases {
		if got := machineName.MatchString(c.name); got != c.ok {
			t.Errorf("machine name %q valid = %t, want %t", c.name, got, c.ok)
		}
	}
}

func TestMachinePaths(t *testing.T) {
	cases := []struct{ in, fs string }{
		{"/etc/kubernetes", "etc-kubernetes"},
		{"/var/lib/kubelet", "var-lib-kubelet"},
		{"/run/netns", "run-netns"},
	}
	for _, c := range cases {
		if got := fsName(c.in); got != c.fs {
			t.Errorf("fsName(%q) = %q, want %q", c.in, got, c.fs)
		}
	}
	// Interface names are at most 15 characters.
	if got := machineLink("10.220.0.254"); got != "vm254" {
		t.Errorf("machineLink = %q, want vm254", got)
	}
}

// The seed's and machines' containerd differ only in their paths; both must keep the
// settings these hosts need.
func TestContainerdConfig(t *testing.T) {
	cases := map[string]string{
		"seed":    containerdConfig("root = \"/state/root\"\n", `Root = "/state/runc"`, seedCNIBinDir, "/state/cni"),
		"machine": containerdConfig("", "", "/opt/cni/bin", "/etc/cni/net.d"),
	}
	for name, cfg := range cases {
		for _, want := range []string{"restrict_oom_score_adj = true", "SystemdCgroup = false", `sandbox_image = "` + PauseImage + `"`} {
			if !strings.Contains(cfg, want) {
				t.Errorf("%s containerd config lacks %q:\n%s", name, want, cfg)
			}
		}
	}
	// A machine's plugins are its own (the tenant's CNI addon installs them there); the
	// seed's are Debian's.
	if !strings.Contains(cases["machine"], `bin_dir = "/opt/cni/bin"`) || !strings.Contains(cases["seed"], `bin_dir = "/usr/lib/cni"`) {
		t.Errorf("CNI plugin directories: machine\n%s\nseed\n%s", cases["machine"], cases["seed"])
	}
	if !strings.Contains(cases["seed"], `conf_dir = "/state/cni"`) || !strings.Contains(cases["seed"], `Root = "/state/runc"`) {
		t.Errorf("seed config lost its paths:\n%s", cases["seed"])
	}
}

// Machines are added from parallel tests: each must get an address of its own.
func TestReserveMachineGivesDistinctAddresses(t *testing.T) {
	l := &Local{state: t.TempDir()}
	const n = 24
	ips := make(chan string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := l.reserveMachine(MachineSpec{Name: fmt.Sprintf("m%d", i)}, func() error { return nil })
			if err != nil {
				errs <- err
				return
			}
			ips <- m.IP
		}()
	}
	wg.Wait()
	close(ips)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for ip := range ips {
		if seen[ip] {
			t.Errorf("address %s given to two machines", ip)
		}
		seen[ip] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct addresses for %d machines", len(seen), n)
	}
	if _, err := l.reserveMachine(MachineSpec{Name: "m0"}, func() error { return nil }); err == nil {
		t.Error("a second machine named m0 was reserved")
	}
}
