package seed

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// The machines' network: a router namespace between the host and the machines' bridge.

// ensureMachineNetwork creates the router namespace, its uplink to the host and the machine
// bridge, once for all machines.
func (l *Local) ensureMachineNetwork() error {
	if err := os.MkdirAll(l.machinesDir(), 0o700); err != nil {
		return err
	}
	// Namespace files can only be bound on a mount with private propagation.
	if !isMountPoint(l.machinesDir()) {
		if err := run("mount", "--bind", l.machinesDir(), l.machinesDir()); err != nil {
			return err
		}
		if err := run("mount", "--make-private", l.machinesDir()); err != nil {
			return err
		}
	}
	router := l.routerNetns()
	if isMountPoint(router) && run("ip", "link", "show", uplinkHostIf) == nil {
		return nil
	}
	if err := newNamespaces(router, ""); err != nil {
		return fmt.Errorf("router namespace: %w", err)
	}
	in := func(args ...string) error { return run("nsenter", append([]string{"--net=" + router}, args...)...) }
	steps := [][]string{
		{"ip", "link", "add", uplinkHostIf, "type", "veth", "peer", "name", "uplink", "netns", router},
		{"ip", "addr", "add", uplinkHostIP + "/30", "dev", uplinkHostIf},
		{"ip", "link", "set", uplinkHostIf, "up"},
		// The seed reaches no machine unless one is added with Routed (a more specific route).
		{"ip", "route", "replace", "unreachable", machineCIDR},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	for _, s := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "addr", "add", uplinkRouterIP + "/30", "dev", "uplink"},
		{"ip", "link", "set", "uplink", "up"},
		{"ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "addr", "add", machineGateway + "/24", "dev", "br0"},
		{"ip", "link", "set", "br0", "up"},
		{"ip", "route", "add", "default", "via", uplinkHostIP},
		{"sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"},
		{"iptables", "-t", "nat", "-A", "POSTROUTING", "-s", machineCIDR, "-o", "uplink", "-j", "MASQUERADE"},
	} {
		if err := in(s...); err != nil {
			return err
		}
	}
	return nil
}

func (l *Local) routerNetns() string { return filepath.Join(l.machinesDir(), "router.netns") }

// newNamespaces binds a new network namespace (and, with mntDir, mount and UTS namespaces
// beside it) to files.
func newNamespaces(netns, mntDir string) error {
	args := []string{"--net=" + netns}
	files := []string{netns}
	if mntDir != "" {
		args = append(args, "--mount="+filepath.Join(mntDir, "mnt.ns"), "--uts="+filepath.Join(mntDir, "uts.ns"), "--propagation", "private")
		files = append(files, filepath.Join(mntDir, "mnt.ns"), filepath.Join(mntDir, "uts.ns"))
	}
	for _, f := range files {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			return err
		}
	}
	return run("unshare", append(args, "true")...)
}

// machineLink is the router-side name of a machine's veth (at most 15 characters).
func machineLink(ip string) string { return "vm" + ip[strings.LastIndex(ip, ".")+1:] }

func (l *Local) removeMachineNetwork() error {
	var errs []string
	_ = run("ip", "route", "del", "unreachable", machineCIDR)
	if router := l.routerNetns(); isMountPoint(router) {
		if err := syscall.Unmount(router, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Sprintf("unmount %s: %v", router, err))
		}
	}
	// The uplink goes with the router namespace; make sure when something still holds it.
	_ = run("ip", "link", "del", uplinkHostIf)
	if raw, err := os.ReadFile(filepath.Join(l.machinesDir(), "created-dirs")); err == nil {
		dirs := strings.Fields(string(raw))
		sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
		for _, d := range dirs {
			_ = os.Remove(d) // only when empty: never a path someone else filled
		}
	}
	if err := removeCgroups(cgroupParent); err != nil {
		errs = append(errs, err.Error())
	}
	if isMountPoint(l.machinesDir()) {
		if err := syscall.Unmount(l.machinesDir(), syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Sprintf("unmount %s: %v", l.machinesDir(), err))
		}
	}
	if err := os.RemoveAll(l.machinesDir()); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("machine network: %s", strings.Join(errs, "; "))
	}
	return nil
}
