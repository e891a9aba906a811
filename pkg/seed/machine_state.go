package seed

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Machine state on disk: one directory per machine holding machine.json, and a lock beside
// the machines directory that serialises address allocation and the network's lifetime.

// reserveMachine sets up the machine network, picks the machine's address and records it
// in machine.json, all under a lock of the machines directory: tests add machines from
// parallel goroutines and processes, and two machines given one address share a link name
// and each other's traffic. setUpNetwork runs under the lock (ensureMachineNetwork).
func (l *Local) reserveMachine(spec MachineSpec, setUpNetwork func() error) (*Machine, error) {
	unlock, err := l.lockMachines()
	if err != nil {
		return nil, err
	}
	defer unlock()
	dir := l.machineDir(spec.Name)
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("machine %s already exists (%s): remove it first", spec.Name, dir)
	}
	if err := setUpNetwork(); err != nil {
		return nil, fmt.Errorf("machine network: %w", err)
	}
	ip, err := l.allocateMachineIP()
	if err != nil {
		return nil, err
	}
	m := &Machine{MachineSpec: spec, IP: ip, Dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("machine %s: %w", spec.Name, err)
	}
	if err := writeJSON(filepath.Join(dir, "machine.json"), m); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("machine %s: %w", spec.Name, err)
	}
	return m, nil
}

// lockMachines takes an exclusive flock beside the machines directory (which the last
// machine removes). flock locks belong to the open file, so it excludes goroutines of this
// process as well as other processes; it is not reentrant.
func (l *Local) lockMachines() (func(), error) {
	if err := os.MkdirAll(filepath.Dir(l.machinesDir()), 0o700); err != nil {
		return nil, fmt.Errorf("seed directory: %w", err)
	}
	f, err := os.OpenFile(l.machinesDir()+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock machines: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock machines: %w", err)
	}
	return func() { _ = f.Close() }, nil
}

// allocateMachineIP picks the lowest free host address of the machine network.
func (l *Local) allocateMachineIP() (string, error) {
	used := map[string]bool{}
	machines, err := l.machines()
	if err != nil {
		return "", err
	}
	for _, m := range machines {
		used[m.IP] = true
	}
	for i := machineFirstHost; i < 255; i++ {
		ip := fmt.Sprintf("10.220.0.%d", i)
		if !used[ip] {
			return ip, nil
		}
	}
	return "", errors.New("the machine network is full")
}

// machines lists the machines that have state on disk.
func (l *Local) machines() ([]*Machine, error) {
	entries, err := os.ReadDir(l.machinesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []*Machine
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(l.machinesDir(), e.Name(), "machine.json"))
		if err != nil {
			continue // half-made: RemoveMachine still cleans it by name
		}
		m := &Machine{}
		if err := json.Unmarshal(raw, m); err != nil {
			return nil, fmt.Errorf("read machine %s: %w", e.Name(), err)
		}
		out = append(out, m)
	}
	return out, nil
}

// removeIdleMachineNetwork removes the machine network once no machine is left, under the
// machines lock so that a machine being added meanwhile keeps it.
func (l *Local) removeIdleMachineNetwork() error {
	unlock, err := l.lockMachines()
	if err != nil {
		return err
	}
	defer unlock()
	if rest, err := l.machines(); err != nil || len(rest) > 0 {
		return nil //nolint:nilerr // an unreadable directory is left for seed down
	}
	return l.removeMachineNetwork()
}
