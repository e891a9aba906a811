package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// A machine is an extra worker that behaves like a small VM beside the seed: its own network,
// mount and UTS namespaces, each bound to a file (never `ip netns add`, which remounts
// /run/netns and hides containerd's pod namespaces); its own containerd and kubelet under a
// cgroup of its own; and, private to it, the fixed paths kubeadm, the kubelet and containerd
// use. It runs a bootstrap script once, as cloud-init would.
//
// Network: machines sit on a bridge inside a router namespace (like a Neutron router), on
// machineCIDR. The router masquerades their traffic to the host, so machines reach the seed
// and its NodePorts; the host reaches a machine only when it was added with Routed, otherwise
// the machine network is unreachable from the seed, as a customer's network is on OpenStack.

const (
	machineCIDR      = "10.220.0.0/24"
	machineGateway   = "10.220.0.1"
	machineFirstHost = 10
	// The point-to-point link between the host and the router.
	uplinkHostIP   = "169.254.220.1"
	uplinkRouterIP = "169.254.220.2"
	uplinkHostIf   = "ksm-uplink"
	// cgroupParent holds one cgroup per machine in every v1 hierarchy; the machine's kubelet
	// uses /cgroupParent/<name> as its cgroupRoot.
	cgroupParent = "kubeseed-machines"
	// machineInitEnv names the machine directory when this program runs as a machine's init.
	machineInitEnv = "KUBESEED_MACHINE_INIT"
)

// privatePaths are the fixed paths a node's software uses; each machine gets its own copy.
// /var/log/containers, /var/lib/cni, /run/netns and /opt/containerd are hard-coded by the
// kubelet, CNI and containerd too, and must not mix with the seed's or another machine's.
// /opt/cni (the plugins) and /run/flannel (the node's lease) are what a tenant's CNI addon
// writes on its node.
// machineHostsFile, in the machine's directory, is bound over its /etc/hosts.
const machineHostsFile = "hosts"

var privatePaths = []string{
	"/etc/kubernetes", "/var/lib/kubelet", "/var/lib/containerd", "/run/containerd", "/etc/cni",
	"/var/log/pods", "/var/log/containers", "/var/lib/cni", "/run/netns", "/opt/containerd",
	"/opt/cni", "/run/flannel",
}

// MachineSpec is what AddMachine starts.
type MachineSpec struct {
	// Name is the machine's hostname and, with kubeadm, its node name: a DNS label.
	Name string `json:"name"`
	// KubernetesVersion selects the kubelet, kubeadm and kubectl on the machine's PATH
	// (built by hack/k8s-bins.sh into the cache).
	KubernetesVersion string `json:"kubernetesVersion"`
	// Bootstrap is a shell script run once after containerd is up, as cloud-init runs
	// user data; typically it ends in `kubeadm join`.
	Bootstrap string `json:"-"`
	// Images are docker-archive tarballs preloaded into the machine's containerd, as a VM
	// image for an air-gapped site would carry them.
	Images []string `json:"images,omitempty"`
	// Routed adds a host route to the machine's address, so the seed can reach it.
	Routed bool `json:"routed"`
}

// Machine is a running machine.
type Machine struct {
	MachineSpec
	// IP is the machine's address on the machine network.
	IP string `json:"ip"`
	// Dir holds the machine's state, logs and private file systems.
	Dir string `json:"dir"`
}

// BootstrapLog is the path of the bootstrap script's output.
func (m *Machine) BootstrapLog() string { return filepath.Join(m.Dir, "logs", "bootstrap.log") }

// MachineHost is implemented by providers that can start extra machines (the local seed).
type MachineHost interface {
	// AddMachine starts a machine and returns once its containerd answers; the bootstrap
	// script then runs in the background (see WaitBootstrap).
	AddMachine(ctx context.Context, spec MachineSpec) (*Machine, error)
	// RemoveMachine stops a machine and removes everything it made. Removing a machine
	// that does not exist is not an error.
	RemoveMachine(ctx context.Context, name string) error
	// WaitBootstrap waits for a machine's bootstrap script to finish and fails with the
	// tail of its log when it did not exit 0.
	WaitBootstrap(ctx context.Context, name string) error
	// MachineExec runs a command inside a machine's namespaces and returns its output.
	MachineExec(ctx context.Context, name string, args ...string) ([]byte, error)
	// SetMachineConnected plugs the machine's network in (true) or out (false).
	SetMachineConnected(ctx context.Context, name string, connected bool) error
}

var _ MachineHost = (*Local)(nil)

var machineName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$`)

func (l *Local) machinesDir() string { return l.path("machines") }

func (l *Local) machineDir(name string) string { return filepath.Join(l.machinesDir(), name) }

// AddMachine starts a machine beside the seed.
func (l *Local) AddMachine(ctx context.Context, spec MachineSpec) (*Machine, error) {
	if os.Geteuid() != 0 {
		return nil, errNotRoot
	}
	if !machineName.MatchString(spec.Name) {
		return nil, fmt.Errorf("machine name %q: want a DNS label of at most 32 lower-case letters, digits and '-'", spec.Name)
	}
	if spec.Name == l.nodeName {
		return nil, fmt.Errorf("machine name %q is the seed node's name", spec.Name)
	}
	binDir := filepath.Join(l.cache, "k8s", spec.KubernetesVersion)
	for _, bin := range []string{"kubelet", "kubeadm", "kubectl"} {
		if _, err := os.Stat(filepath.Join(binDir, bin)); err != nil {
			return nil, fmt.Errorf("machine %s: no %s %s in %s: build them with `hack/k8s-bins.sh %s kubelet kubeadm kubectl`", spec.Name, bin, spec.KubernetesVersion, binDir, spec.KubernetesVersion)
		}
	}
	for _, img := range spec.Images {
		if _, err := os.Stat(img); err != nil {
			return nil, fmt.Errorf("machine %s: image %w", spec.Name, err)
		}
	}
	m, err := l.reserveMachine(spec, l.ensureMachineNetwork)
	if err != nil {
		return nil, err
	}
	if err := l.createMachine(m, binDir); err != nil {
		_ = l.RemoveMachine(context.WithoutCancel(ctx), spec.Name)
		return nil, fmt.Errorf("machine %s: %w", spec.Name, err)
	}
	if err := l.startMachineInit(ctx, m); err != nil {
		_ = l.RemoveMachine(context.WithoutCancel(ctx), spec.Name)
		return nil, fmt.Errorf("machine %s: %w", spec.Name, err)
	}
	l.logf("seed: machine %s up at %s (routed: %t)", m.Name, m.IP, m.Routed)
	return m, nil
}

// createMachine makes the machine's directories, namespaces, link and cgroups.
func (l *Local) createMachine(m *Machine, binDir string) error {
	for _, d := range []string{"logs", "bin", "fs"} {
		if err := os.MkdirAll(filepath.Join(m.Dir, d), 0o700); err != nil {
			return err
		}
	}
	// machine.json was written by reserveMachine, under the machines lock.
	if err := os.WriteFile(filepath.Join(m.Dir, "bootstrap.sh"), []byte(m.Bootstrap), 0o700); err != nil {
		return err
	}
	for _, bin := range []string{"kubelet", "kubeadm", "kubectl"} {
		if err := os.Symlink(filepath.Join(binDir, bin), filepath.Join(m.Dir, "bin", bin)); err != nil {
			return err
		}
	}
	// The machine's own /etc/hosts, begun as the host's: what its bootstrap adds (cloud-init's
	// manage_etc_hosts) stays with it.
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.WriteFile(filepath.Join(m.Dir, machineHostsFile), hosts, 0o644); err != nil {
		return err
	}
	// The mount points must exist on the host; remember the ones we create to remove them.
	for _, p := range privatePaths {
		if err := os.MkdirAll(filepath.Join(m.Dir, "fs", fsName(p)), 0o755); err != nil {
			return err
		}
		if err := l.ensureHostDir(p); err != nil {
			return err
		}
	}
	// A kubelet config drop-in the machine's "image" ships: what differs from a VM's
	// defaults on these hosts. Drop-ins override the config.yaml kubeadm writes.
	dropin := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /%s/%s
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
`, cgroupParent, m.Name)
	dropinDir := filepath.Join(m.Dir, "fs", fsName("/etc/kubernetes"), "kubelet.conf.d")
	if err := os.MkdirAll(dropinDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dropinDir, "90-machine.conf"), []byte(dropin), 0o644); err != nil {
		return err
	}
	if err := copyFile(mustExecutable(), filepath.Join(m.Dir, "init"), 0o700); err != nil {
		return fmt.Errorf("copy init: %w", err)
	}
	if err := newNamespaces(filepath.Join(m.Dir, "net.ns"), m.Dir); err != nil {
		return fmt.Errorf("namespaces: %w", err)
	}
	netns := filepath.Join(m.Dir, "net.ns")
	link := machineLink(m.IP)
	router := func(args ...string) error {
		return run("nsenter", append([]string{"--net=" + l.routerNetns()}, args...)...)
	}
	inside := func(args ...string) error { return run("nsenter", append([]string{"--net=" + netns}, args...)...) }
	if err := router("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns); err != nil {
		return err
	}
	if err := router("ip", "link", "set", link, "master", "br0", "up"); err != nil {
		return err
	}
	// The address may have been a removed machine's: the router must not keep sending to
	// that machine's MAC address until its neighbour entry goes stale.
	if err := router("ip", "neigh", "flush", "to", m.IP, "dev", "br0"); err != nil {
		return err
	}
	for _, s := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "addr", "add", m.IP + "/24", "dev", "eth0"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "route", "add", "default", "via", machineGateway},
		// What a node needs for pods and Services.
		{"sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet"},
	} {
		if err := inside(s...); err != nil {
			return err
		}
	}
	if m.Routed {
		if err := run("ip", "route", "replace", m.IP+"/32", "via", uplinkRouterIP); err != nil {
			return err
		}
	}
	return makeCgroup(filepath.Join(cgroupParent, m.Name))
}

// fsName turns a private path into the name of its directory under the machine's fs/.
func fsName(p string) string { return strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "-") }

// ensureHostDir creates p on the host if missing and records it, so the last RemoveMachine
// removes it again.
func (l *Local) ensureHostDir(p string) error {
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(l.machinesDir(), "created-dirs"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, p)
	return err
}

func (l *Local) startMachineInit(ctx context.Context, m *Machine) error {
	logFile, err := os.OpenFile(filepath.Join(m.Dir, "logs", "init.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command("nsenter", "--net="+filepath.Join(m.Dir, "net.ns"), "--mount="+filepath.Join(m.Dir, "mnt.ns"),
		"--uts="+filepath.Join(m.Dir, "uts.ns"), "--", filepath.Join(m.Dir, "init"))
	cmd.Env = append(os.Environ(), machineInitEnv+"="+m.Dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start init: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ready := filepath.Join(m.Dir, "ready")
	deadline := time.After(2 * time.Minute)
	for {
		if _, err := os.Stat(ready); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("init exited (%w); last lines of %s:\n%s", err, logFile.Name(), tail(logFile.Name(), 15))
		case <-deadline:
			return fmt.Errorf("containerd not up within 2m; see %s", logFile.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitBootstrap waits until the machine's bootstrap script has exited.
func (l *Local) WaitBootstrap(ctx context.Context, name string) error {
	dir := l.machineDir(name)
	status := filepath.Join(dir, "bootstrap.exit")
	for {
		raw, err := os.ReadFile(status)
		if err == nil {
			if code := strings.TrimSpace(string(raw)); code != "0" {
				log := filepath.Join(dir, "logs", "bootstrap.log")
				return fmt.Errorf("bootstrap of machine %s exited %s; last lines of %s:\n%s", name, code, log, tail(log, 20))
			}
			return nil
		}
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("machine %s does not exist", name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bootstrap of machine %s still running: %w", name, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// MachineExec runs a command in the machine's namespaces.
func (l *Local) MachineExec(ctx context.Context, name string, args ...string) ([]byte, error) {
	dir := l.machineDir(name)
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + filepath.Join(dir, "net.ns"),
		"--mount=" + filepath.Join(dir, "mnt.ns"), "--uts=" + filepath.Join(dir, "uts.ns"), "--"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(dir, "bin")+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("machine %s: %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// SetMachineConnected plugs a machine's network cable in or out: its port on the router's
// bridge goes up or down, so the machine keeps its addresses and routes (carrier lost, as
// when a VM's port or host fails) and nothing inside it is told.
func (l *Local) SetMachineConnected(ctx context.Context, name string, connected bool) error {
	raw, err := os.ReadFile(filepath.Join(l.machineDir(name), "machine.json"))
	if err != nil {
		return fmt.Errorf("machine %s: %w", name, err)
	}
	m := &Machine{}
	if err := json.Unmarshal(raw, m); err != nil {
		return fmt.Errorf("read machine %s: %w", name, err)
	}
	state := "down"
	if connected {
		state = "up"
	}
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+l.routerNetns(), "ip", "link", "set", machineLink(m.IP), state)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("machine %s: set its port %s: %w: %s", name, state, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// MachineLogDir is where a machine's bootstrap, kubelet and containerd logs are while it
// exists: what a test shows when a machine never became a Ready node.
func (l *Local) MachineLogDir(name string) string {
	return filepath.Join(l.machineDir(name), "logs")
}

// RemoveMachine kills everything the machine runs and removes what it made. The last
// machine to go takes the router and the host directories created for mount points with it.
func (l *Local) RemoveMachine(_ context.Context, name string) error {
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	dir := l.machineDir(name)
	var errs []string
	// Everything the machine started, its pods included, is in its cgroup.
	if err := killCgroup(filepath.Join(cgroupParent, name)); err != nil {
		errs = append(errs, err.Error())
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "machine.json")); err == nil {
		m := &Machine{}
		if json.Unmarshal(raw, m) == nil && m.Routed {
			_ = run("ip", "route", "del", m.IP+"/32")
		}
	}
	// The namespaces (and the veth in the router) go with their last reference.
	for _, ns := range []string{"net.ns", "mnt.ns", "uts.ns"} {
		p := filepath.Join(dir, ns)
		if isMountPoint(p) {
			if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Sprintf("unmount %s: %v", p, err))
			}
		}
	}
	if err := removeCgroups(filepath.Join(cgroupParent, name)); err != nil {
		errs = append(errs, err.Error())
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Sprintf("remove %s: %v", dir, err))
	}
	if err := l.removeIdleMachineNetwork(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove machine %s: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// removeAllMachines removes every machine (seed down).
func (l *Local) removeAllMachines(ctx context.Context) error {
	entries, err := os.ReadDir(l.machinesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []string
	for _, e := range entries {
		if e.IsDir() {
			if err := l.RemoveMachine(ctx, e.Name()); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if err := l.removeMachineNetwork(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// isMountPoint reports whether p is a mount point (namespace files bound to it count).
func isMountPoint(p string) bool {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.ReplaceAll(f[4], `\040`, " ") == p {
			return true
		}
	}
	return false
}

func mustExecutable() string {
	exe, err := os.Executable()
	if err != nil {
		panic(fmt.Sprintf("find own executable: %v", err))
	}
	return exe
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
