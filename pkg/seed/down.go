package seed

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Down stops the seed and removes everything it made: processes, mounts, iptables chains,
// the CNI bridge and its veths, pod network namespaces, cgroups and files. It is safe to run
// when nothing is up.
func (l *Local) Down(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	var errs []string
	// Machines first: their kubelets talk to the seed and their mounts sit in its state.
	if err := l.removeAllMachines(ctx); err != nil {
		errs = append(errs, err.Error())
	}
	// The kubelet would restart what we stop; it goes first.
	l.stop("kubelet", 10*time.Second)
	// Stopping sandboxes through CRI runs CNI DEL, which frees IPs and removes veths.
	if _, ok := l.running("containerd"); ok {
		if err := l.removeSandboxes(ctx); err != nil {
			l.logf("seed: removing pod sandboxes: %v (continuing)", err)
		}
	}
	for _, name := range []string{"kube-proxy", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd", "containerd"} {
		l.stop(name, 10*time.Second)
	}
	// containerd leaves its shims (and their containers) running when it stops.
	killMatching(l.containerdSocket())
	if _, err := os.Stat(l.k8sBin("kube-proxy")); err == nil {
		_ = exec.Command(l.k8sBin("kube-proxy"), "--cleanup").Run()
	}
	if err := cleanIPTables(); err != nil {
		errs = append(errs, err.Error())
	}
	// kube-router's sets, once no rule refers to them.
	cleanIPSets()
	_ = run("ip", "link", "del", "cni0")
	if err := unmountUnder(l.state, "/run/netns/cni-", "/var/run/netns/cni-"); err != nil {
		errs = append(errs, err.Error())
	}
	// A sandbox CRI could not remove leaves its namespace's (now unmounted) file behind.
	if err := removeGlob("/run/netns/cni-*"); err != nil {
		errs = append(errs, err.Error())
	}
	if err := removeCgroups("kubepods"); err != nil {
		errs = append(errs, err.Error())
	}
	if err := os.RemoveAll(l.state); err != nil {
		errs = append(errs, fmt.Sprintf("remove %s: %v", l.state, err))
	}
	// Paths the kubelet, containerd and CNI hard-code, whatever their configured roots.
	for _, p := range []string{"/var/lib/cni", "/var/lib/kubelet/device-plugins", "/var/log/pods", "/var/log/containers", "/run/containerd", "/opt/containerd"} {
		_ = os.RemoveAll(p)
	}
	for _, p := range []string{"/var/lib/kubelet", "/run/netns", "/var/run/netns"} {
		_ = os.Remove(p) // only when empty
	}
	if len(errs) > 0 {
		return fmt.Errorf("seed down left something behind: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (l *Local) removeSandboxes(ctx context.Context) error {
	conn, err := grpc.NewClient("unix://"+l.containerdSocket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	// One sandbox that cannot be stopped must not keep the others' namespaces and IPs.
	var failed []string
	for _, sb := range list.Items {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			failed = append(failed, fmt.Sprintf("stop %s: %v", sb.Metadata.GetName(), err))
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			failed = append(failed, fmt.Sprintf("remove %s: %v", sb.Metadata.GetName(), err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("sandboxes: %s", strings.Join(failed, "; "))
	}
	return nil
}

// ownChain reports whether an iptables chain was made by kube-proxy, the kubelet or CNI.
func ownChain(chain string) bool {
	return strings.HasPrefix(chain, "KUBE-") || strings.HasPrefix(chain, "CNI-")
}

// cleanIPTables deletes every rule that jumps to our chains, then the chains.
func cleanIPTables() error {
	// A machine without iptables never ran a seed (seed-deps installs it): nothing to clean.
	if _, err := exec.LookPath("iptables-save"); err != nil {
		return nil
	}
	for _, table := range []string{"filter", "nat", "mangle"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			return fmt.Errorf("iptables-save -t %s: %w", table, err)
		}
		var chains []string
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, ":") {
				if chain := strings.Fields(line[1:])[0]; ownChain(chain) {
					chains = append(chains, chain)
				}
				continue
			}
			fields := strings.Fields(line)
			if len(fields) < 2 || fields[0] != "-A" || ownChain(fields[1]) {
				continue
			}
			for i, f := range fields {
				if (f == "-j" || f == "-g") && i+1 < len(fields) && ownChain(fields[i+1]) {
					// iptables-save quotes comments; a shell re-splits them correctly.
					_ = exec.Command("sh", "-c", "iptables -t "+table+" -D "+strings.Join(fields[1:], " ")).Run()
					break
				}
			}
		}
		for _, c := range chains {
			_ = exec.Command("iptables", "-t", table, "-F", c).Run()
		}
		for _, c := range chains {
			if err := exec.Command("iptables", "-t", table, "-X", c).Run(); err != nil {
				return fmt.Errorf("delete chain %s/%s: %w", table, c, err)
			}
		}
	}
	return nil
}

// removeGlob removes the files matching pattern.
func removeGlob(pattern string) error {
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return err
	}
	var failed []string
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("remove: %s", strings.Join(failed, ", "))
	}
	return nil
}

// unmountUnder unmounts every mount point under one of the prefixes, deepest first.
func unmountUnder(prefixes ...string) error {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(raw), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		mp := strings.ReplaceAll(fields[4], `\040`, " ")
		for _, p := range prefixes {
			if strings.HasPrefix(mp, p) {
				points = append(points, mp)
				break
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var failed []string
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			failed = append(failed, fmt.Sprintf("%s: %v", mp, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("unmount: %s", strings.Join(failed, ", "))
	}
	return nil
}

// cleanIPSets destroys the ipsets kube-router made on the seed (KUBE-SRC-*, KUBE-DST-* and
// their TMP- swaps). Best effort: without ipset installed there are none.
func cleanIPSets() {
	out, err := exec.Command("ipset", "list", "-n").Output()
	if err != nil {
		return
	}
	for _, set := range strings.Fields(string(out)) {
		if strings.HasPrefix(set, "KUBE-") || strings.HasPrefix(set, "TMP-") {
			_ = exec.Command("ipset", "destroy", set).Run()
		}
	}
}
