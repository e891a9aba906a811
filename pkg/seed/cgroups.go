package seed

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroup v1 helpers shared by the seed (kubepods) and its machines.

// cgroupHierarchies are the mounted cgroup v1 hierarchies (the unified one is not used by
// cgroupfs kubelets on these hosts).
func cgroupHierarchies() []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*")
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "tasks")); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// makeCgroup creates rel in every v1 hierarchy; cpuset needs its CPUs and memory nodes
// copied from the parent at each level before a task may join.
func makeCgroup(rel string) error {
	for _, h := range cgroupHierarchies() {
		cur := h
		for _, part := range strings.Split(rel, "/") {
			parent := cur
			cur = filepath.Join(cur, part)
			if err := os.Mkdir(cur, 0o755); err != nil && !os.IsExist(err) {
				return fmt.Errorf("create cgroup %s: %w", cur, err)
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if raw, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
					if have, _ := os.ReadFile(filepath.Join(cur, f)); strings.TrimSpace(string(have)) == "" {
						if err := os.WriteFile(filepath.Join(cur, f), raw, 0o644); err != nil {
							return fmt.Errorf("set %s: %w", filepath.Join(cur, f), err)
						}
					}
				}
			}
		}
	}
	return nil
}

// killCgroup SIGKILLs every process in rel and below, in every hierarchy, until none is left.
func killCgroup(rel string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := map[int]bool{}
		for _, h := range cgroupHierarchies() {
			_ = filepath.WalkDir(filepath.Join(h, rel), func(p string, d os.DirEntry, err error) error {
				if err != nil || d.Name() != "cgroup.procs" {
					return nil
				}
				raw, _ := os.ReadFile(p)
				for _, f := range strings.Fields(string(raw)) {
					if pid, err := strconv.Atoi(f); err == nil {
						pids[pid] = true
					}
				}
				return nil
			})
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes left in cgroup %s: %v", rel, pids)
		}
		for pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// removeCgroups removes the named cgroup subtree from every v1 hierarchy, leaves first.
func removeCgroups(name string) error {
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", name))
	var failed []string
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
				failed = append(failed, dirs[i])
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("cgroups still in use: %s", strings.Join(failed, ", "))
	}
	return nil
}
