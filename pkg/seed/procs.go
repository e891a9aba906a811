package seed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The seed's daemons outlive the command that starts them (make seed-up returns), so each is
// started in its own session with a pid file and a log under the state directory. There is no
// init system on these machines to do it for us.

func (l *Local) pidFile(name string) string { return l.path("run", name+".pid") }

// running returns the pid of the named daemon when it is alive.
func (l *Local) running(name string) (int, bool) {
	raw, err := os.ReadFile(l.pidFile(name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	// The pid may have been reused: check it still runs our binary.
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || !strings.HasSuffix(strings.TrimSuffix(exe, " (deleted)"), "/"+name) {
		return 0, false
	}
	return pid, true
}

// start launches binary as the daemon name unless it already runs.
func (l *Local) start(name, binary string, args ...string) error {
	if _, ok := l.running(name); ok {
		return nil
	}
	logPath := l.path("logs", name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log of %s: %w", name, err)
	}
	defer logFile.Close()
	// Daemons are found again by the basename of their binary, so link it under that name.
	link := l.path("bin", name)
	_ = os.Remove(link)
	if err := os.Symlink(binary, link); err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	cmd := exec.Command(link, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(l.pidFile(name), []byte(strconv.Itoa(pid)), 0o600); err != nil {
		return err
	}
	_ = cmd.Process.Release()
	// Catch a daemon that dies at once (bad flag, port taken) with its log's last lines.
	time.Sleep(300 * time.Millisecond)
	if _, ok := l.running(name); !ok {
		return fmt.Errorf("%s exited at start; last lines of %s:\n%s", name, logPath, tail(logPath, 15))
	}
	return nil
}

// stop ends the named daemon: SIGTERM, then SIGKILL after the grace period.
func (l *Local) stop(name string, grace time.Duration) {
	pid, ok := l.running(name)
	if !ok {
		_ = os.Remove(l.pidFile(name))
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if _, ok := l.running(name); !ok {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	_ = os.Remove(l.pidFile(name))
}

func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// killMatching kills every process whose command line contains marker (containerd shims of
// this seed, which containerd leaves behind when it is stopped).
func killMatching(marker string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), marker) {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

var errNotRoot = errors.New("the local seed must run as root: it starts containerd, a kubelet and kube-proxy, which change the host's network and cgroups")
