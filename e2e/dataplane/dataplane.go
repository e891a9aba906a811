// Package dataplane fills exactly the gap of the OpenStack test cloud (docs/test-cloud.md),
// which has real APIs but no data plane: Nova's fake driver boots nothing and Octavia's
// noop amphora forwards nothing. The Harness
//
//   - starts a seed machine (pkg/seed) for every ACTIVE server of the customer's project,
//     running the server's user_data (read back from Nova as admin) as cloud-init would, and
//     removes the machine when the server goes;
//   - forwards, for every ACTIVE Octavia load balancer of the project, each listener's VIP
//     address and port to the members of its pool, as read from Octavia's API, with the VIP
//     added to a host interface so that machines reach it.
//
// Everything else — which servers exist, their user_data, the pools' members — comes from
// the cloud's APIs, as the product left it there.
package dataplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/kubeseed/kubeseed/controllers/workerpool"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// Harness runs servers and load balancers of one project.
type Harness struct {
	// Customer lists the project's servers and load balancers; Admin reads user_data,
	// which Nova shows to admins only.
	Customer, Admin *openstack.Clients
	Host            seed.MachineHost
	// KubernetesVersion of the kubelet and kubeadm on machines whose server names no
	// version in its metadata (workerpool.MetadataKubernetesVersion). A server that names
	// one gets that one: the harness plays an image carrying every supported version that
	// picks the one the server asks for (docs/workers.md).
	KubernetesVersion string
	// Images preloaded into every machine's containerd, as an air-gapped image carries them.
	Images []string
	// ImagesFor, when set, replaces Images with the images of a machine of that version
	// (its kube-proxy's differs).
	ImagesFor func(version string) []string
	Logf      func(format string, args ...any)
	// Interval between two looks at the cloud; 1 s when zero.
	Interval time.Duration
	// ServerTag limits the servers booted to those carrying it (all when empty).
	ServerTag string
	// Prelude, when set, returns shell commands run before the user_data: what the VM
	// image would carry on its disk (e.g. a CNI configuration). n counts the machines booted.
	Prelude func(serverName string, n int) string

	booted int

	mu       sync.Mutex
	machines map[string]Started // by server ID
	vips     map[string]*vip    // by "address:port"
	errs     []error
}

// Started records a server the harness booted.
type Started struct {
	ServerID, Name string
	// Active is when the harness first saw the server ACTIVE; Booted when its machine was up.
	Active, Booted time.Time
}

// Run looks at the cloud every Interval until ctx ends; forwarders and machines stay until
// Close. Errors are recorded (Errors) and the loop goes on.
func (h *Harness) Run(ctx context.Context) {
	interval := h.Interval
	if interval <= 0 {
		interval = time.Second
	}
	for {
		if err := h.Sync(ctx); err != nil && ctx.Err() == nil {
			h.record(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (h *Harness) record(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, err)
	h.logf("dataplane: %v", err)
}

// Errors returns what went wrong so far.
func (h *Harness) Errors() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

// Machines returns the servers running as machines.
func (h *Harness) Machines() map[string]Started {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]Started{}
	for k, v := range h.machines {
		out[k] = v
	}
	return out
}

func (h *Harness) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
	}
}

// Sync makes one pass over servers and load balancers.
func (h *Harness) Sync(ctx context.Context) error {
	return errors.Join(h.syncServers(ctx), h.syncLoadBalancers(ctx))
}

func (h *Harness) syncServers(ctx context.Context) error {
	servers, err := h.Customer.Compute.ListServers(ctx, h.ServerTag)
	if err != nil {
		return fmt.Errorf("list servers: %w", err)
	}
	h.mu.Lock()
	if h.machines == nil {
		h.machines = map[string]Started{}
	}
	h.mu.Unlock()
	active := map[string]bool{}
	for _, s := range servers {
		if s.Status == "ACTIVE" {
			active[s.ID] = true
		}
	}
	var errs []error
	// Gone servers first: a replacement may carry the same name, and its machine must not
	// be the one removed.
	for id, m := range h.Machines() {
		if active[id] {
			continue
		}
		// Deleted (or no longer ACTIVE) in Nova: the VM is gone.
		if err := h.Host.RemoveMachine(ctx, m.Name); err != nil {
			errs = append(errs, fmt.Errorf("remove machine of server %s: %w", m.Name, err))
			continue
		}
		h.logf("dataplane: server %s (%s) gone: machine removed", m.Name, id)
		h.mu.Lock()
		delete(h.machines, id)
		h.mu.Unlock()
	}
	for _, s := range servers {
		if !active[s.ID] {
			continue
		}
		h.mu.Lock()
		_, running := h.machines[s.ID]
		h.mu.Unlock()
		if running {
			continue
		}
		seen := time.Now()
		if err := h.boot(ctx, s); errors.Is(err, errGone) {
			continue // deleted since the listing
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		h.mu.Lock()
		h.machines[s.ID] = Started{ServerID: s.ID, Name: s.Name, Active: seen, Booted: time.Now()}
		h.mu.Unlock()
	}
	return errors.Join(errs...)
}

// NodeImages are the docker-archive tarballs (in dir, seed.ImagesDir) a worker's VM image
// carries for an air-gapped site: the pause image, the tenant's addons at the default
// version (kube-proxy, CoreDNS, the pod network: flannel, kube-router and kubeseed-cni,
// the tunnel agent) and the tests' workload.
func NodeImages(dir string) []string { return NodeImagesAt(dir, versions.Default) }

// NodeImagesAt are NodeImages of a worker of Kubernetes version: its kube-proxy's.
func NodeImagesAt(dir, version string) []string {
	names := []string{
		"pause.tar", "coredns.tar", "testserver.tar", "kube-proxy-" + version + ".tar", "kubeseed-tunnel.tar",
		"flannel.tar", "kube-router.tar", "kubeseed-cni.tar",
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}

// errGone: the server was deleted between the listing and the boot.
var errGone = errors.New("server gone")

func (h *Harness) boot(ctx context.Context, s openstack.Server) error {
	userData, err := h.Admin.Compute.ServerUserData(ctx, s.ID)
	if openstack.IsNotFound(err) {
		return errGone
	}
	if err != nil {
		return fmt.Errorf("read user_data of server %s: %w", s.Name, err)
	}
	script, err := Script(userData)
	if err != nil {
		return fmt.Errorf("user_data of server %s: %w", s.Name, err)
	}
	if h.Prelude != nil {
		h.mu.Lock()
		h.booted++
		n := h.booted
		h.mu.Unlock()
		script = "# the image's own files\n" + h.Prelude(s.Name, n) + "\n" + script
	}
	// A machine left by a server of the same name that is gone (replaced) goes first.
	_ = h.Host.RemoveMachine(ctx, s.Name)
	version := cmp.Or(s.Metadata[workerpool.MetadataKubernetesVersion], h.KubernetesVersion)
	images := h.Images
	if h.ImagesFor != nil {
		images = h.ImagesFor(version)
	}
	if _, err := h.Host.AddMachine(ctx, seed.MachineSpec{
		Name: s.Name, KubernetesVersion: version, Images: images, Bootstrap: script,
	}); err != nil {
		return fmt.Errorf("boot server %s: %w", s.Name, err)
	}
	h.logf("dataplane: server %s (%s) booted as a machine at %s", s.Name, s.ID, version)
	return nil
}

// Close stops every forwarder, removes the VIP interface and every machine the harness
// started.
func (h *Harness) Close(ctx context.Context) error {
	h.mu.Lock()
	for addr, v := range h.vips {
		_ = v.ln.Close()
		delete(h.vips, addr)
	}
	h.mu.Unlock()
	var errs []error
	if err := delAllVIPs(); err != nil {
		errs = append(errs, err)
	}
	if err := delChain(); err != nil {
		errs = append(errs, err)
	}
	for id, m := range h.Machines() {
		if err := h.Host.RemoveMachine(ctx, m.Name); err != nil {
			errs = append(errs, fmt.Errorf("remove machine %s: %w", m.Name, err))
		}
		h.mu.Lock()
		delete(h.machines, id)
		h.mu.Unlock()
	}
	return errors.Join(errs...)
}
