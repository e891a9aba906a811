//go:build e2e

package teardown

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openStackDir is where hack/openstack keeps the test cloud's state (docs/test-cloud.md).
func openStackDir() string {
	if d := os.Getenv("KUBESEED_OPENSTACK_DIR"); d != "" {
		return d
	}
	return "/var/lib/kubeseed-openstack"
}

// After `make openstack-down` the test cloud leaves no state, no process and no listener,
// and the e2e data plane (e2e/dataplane) no VIP address.
func TestNoOpenStackLeft(t *testing.T) {
	if out, err := exec.Command("ip", "-o", "addr", "show", "dev", "lo", "label", "lo:ksm-vip").Output(); err != nil || len(out) > 0 {
		t.Errorf("the data plane's VIP addresses are still on lo (%v): %s", err, out)
	}
	if exec.Command("iptables", "-w", "-t", "nat", "-L", "KSM-VIP", "-n").Run() == nil {
		t.Error("the data plane's NAT chain KSM-VIP is still there")
	}
	dir := openStackDir()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the test cloud's state %s is still there (%v)", dir, err)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.Contains(args, dir) {
			t.Errorf("test cloud process %s still runs: %s", e.Name(), args)
		}
	}
	// Keystone, Glance, Placement, Nova, Neutron, Octavia, MariaDB, RabbitMQ.
	for _, port := range []int{5000, 9292, 8778, 8774, 9696, 9876, 3306, 5672} {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Errorf("something still listens on port %d", port)
		}
	}
}
