package seed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A machine's init is this same program, re-executed inside the machine's namespaces with
// machineInitEnv set (the reexec pattern): whatever binary imports this package — the seed
// tool or an e2e test — can start machines without shipping a second binary. It plays the
// parts of the VM's init system: it makes the private paths, starts containerd, runs the
// bootstrap script once and supervises the kubelet as systemd would (there is no systemd,
// so kubeadm's kubelet-start phase cannot start the kubelet itself).
func init() {
	dir := os.Getenv(machineInitEnv)
	if dir == "" {
		return
	}
	if err := machineInit(dir); err != nil {
		fmt.Fprintf(os.Stderr, "machine init: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func machineInit(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "machine.json"))
	if err != nil {
		return err
	}
	m := &Machine{}
	if err := json.Unmarshal(raw, m); err != nil {
		return fmt.Errorf("read machine.json: %w", err)
	}
	logf := func(format string, args ...any) {
		fmt.Printf("%s %s\n", time.Now().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	// Join the machine's cgroup first: every process started below inherits it, so
	// RemoveMachine finds them all there.
	for _, h := range cgroupHierarchies() {
		procs := filepath.Join(h, cgroupParent, m.Name, "cgroup.procs")
		if err := os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("join %s: %w", procs, err)
		}
	}
	if err := syscall.Sethostname([]byte(m.Name)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	for _, p := range privatePaths {
		if err := syscall.Mount(filepath.Join(dir, "fs", fsName(p)), p, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind private %s: %w", p, err)
		}
	}
	if err := syscall.Mount(filepath.Join(dir, machineHostsFile), "/etc/hosts", "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind private /etc/hosts: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	began := time.Now()
	containerd, err := startMachineContainerd(ctx, dir)
	if err != nil {
		return err
	}
	defer stopProcess(containerd)
	containerdUp := time.Since(began)
	for _, img := range m.Images {
		if err := run("ctr", "--address", "/run/containerd/containerd.sock", "-n", "k8s.io", "images", "import", "--all-platforms", img); err != nil {
			return fmt.Errorf("import %s: %w", img, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600); err != nil {
		return err
	}
	logf("containerd up in %s, %d images imported in %s", containerdUp.Round(time.Millisecond), len(m.Images), (time.Since(began) - containerdUp).Round(time.Millisecond))

	go superviseKubelet(ctx, dir, m, logf)
	go runBootstrap(dir, logf)
	<-ctx.Done()
	return nil
}

func machinePath(dir string) string {
	return filepath.Join(dir, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// startMachineContainerd runs containerd at its default paths, which are private to the
// machine.
func startMachineContainerd(ctx context.Context, dir string) (*exec.Cmd, error) {
	// containerd's default root, state and socket are all private paths of the machine.
	config := containerdConfig("", "", "/opt/cni/bin", "/etc/cni/net.d")
	path := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return nil, err
	}
	cmd, err := startLogged(dir, "containerd", "/usr/bin/containerd", "--config", path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := run("ctr", "--address", "/run/containerd/containerd.sock", "version")
		if err == nil {
			return cmd, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("containerd does not answer: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// runBootstrap runs the user's script once and records its exit code, as cloud-init does.
func runBootstrap(dir string, logf func(string, ...any)) {
	log, err := os.OpenFile(filepath.Join(dir, "logs", "bootstrap.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	code := 0
	if err == nil {
		cmd := exec.Command("/bin/sh", "-e", filepath.Join(dir, "bootstrap.sh"))
		cmd.Stdout, cmd.Stderr = log, log
		// The machine's own home: the state directory lives under the host's.
		home := filepath.Join(dir, "home")
		if err := os.MkdirAll(home, 0o700); err != nil {
			fmt.Fprintf(log, "bootstrap: %v\n", err)
		}
		cmd.Dir = home
		cmd.Env = []string{"PATH=" + machinePath(dir), "HOME=" + home}
		if err := cmd.Run(); err != nil {
			code = 1
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			}
			fmt.Fprintf(log, "bootstrap failed: %v\n", err)
		}
		_ = log.Close()
	} else {
		code = 1
	}
	logf("bootstrap exited %d", code)
	_ = os.WriteFile(filepath.Join(dir, "bootstrap.exit"), []byte(strconv.Itoa(code)), 0o600)
}

// superviseKubelet starts the kubelet once a bootstrap (kubeadm join, typically) has written
// its configuration and restarts it whenever it exits, like the kubelet unit and its
// kubeadm drop-in under systemd.
func superviseKubelet(ctx context.Context, dir string, m *Machine, logf func(string, ...any)) {
	restarts := 0
	for {
		if kubeletConfigured() {
			args := append([]string{
				"--config=/var/lib/kubelet/config.yaml",
				"--config-dir=/etc/kubernetes/kubelet.conf.d",
				"--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
				"--kubeconfig=/etc/kubernetes/kubelet.conf",
			}, kubeadmFlags()...)
			// The image's own flags come last and win: neither follows the config file.
			args = append(args, "--node-ip="+m.IP, "--volume-plugin-dir=/var/lib/kubelet/volume-plugins")
			cmd, err := startLogged(dir, "kubelet", filepath.Join(dir, "bin", "kubelet"), args...)
			if err != nil {
				logf("start kubelet: %v", err)
			} else {
				_ = os.WriteFile(filepath.Join(dir, "kubelet.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					restarts++
					logf("kubelet exited (%v); restart %d", err, restarts)
					_ = os.WriteFile(filepath.Join(dir, "kubelet.restarts"), []byte(strconv.Itoa(restarts)), 0o600)
				case <-ctx.Done():
					stopProcess(cmd)
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// kubeletConfigured reports whether a bootstrap wrote what the kubelet needs to start.
func kubeletConfigured() bool {
	if _, err := os.Stat("/var/lib/kubelet/config.yaml"); err != nil {
		return false
	}
	for _, kc := range []string{"/etc/kubernetes/kubelet.conf", "/etc/kubernetes/bootstrap-kubelet.conf"} {
		if _, err := os.Stat(kc); err == nil {
			return true
		}
	}
	return false
}

// kubeadmFlags reads KUBELET_KUBEADM_ARGS from the env file kubeadm writes.
func kubeadmFlags() []string {
	f, err := os.Open("/var/lib/kubelet/kubeadm-flags.env")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "KUBELET_KUBEADM_ARGS="); ok {
			return strings.Fields(strings.Trim(v, `"`))
		}
	}
	return nil
}

func startLogged(dir, name, binary string, args ...string) (*exec.Cmd, error) {
	log, err := os.OpenFile(filepath.Join(dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = []string{"PATH=" + machinePath(dir)}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return cmd, nil
}

func stopProcess(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
}
