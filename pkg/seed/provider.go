// Package seed is the local-seed library behind `make demo`, hack/seed, the e2e tests and the
// benchmarks: it brings up a seed cluster, a real single-node
// Kubernetes cluster that runs real pods. Local builds it from the offline toolchain on this
// machine (containerd, runc and CNI from Debian; Kubernetes, etcd and every image built from
// the Go module proxy).
package seed

import (
	"context"
	"os"
	"path/filepath"
)

// Provider is a seed cluster that tests and the demo can use without knowing how it runs.
type Provider interface {
	// Up creates the seed, or checks and repairs one already running (twice is harmless), and
	// returns once its node is Ready and the default ServiceAccount exists.
	Up(ctx context.Context) error
	// Down removes the seed and everything it left on the machine.
	Down(ctx context.Context) error
	// Kubeconfig is the path of the seed's admin kubeconfig.
	Kubeconfig() string
	// LoadImages imports docker-archive tarballs into the seed's container runtime, so
	// pods find them with imagePullPolicy IfNotPresent.
	LoadImages(ctx context.Context, tarballs ...string) error
}

// DNSServiceIP is the ClusterIP of the seed's DNS Service (kube-dns).
const DNSServiceIP = "10.96.0.10"

// CacheDir is where kubeseed's builds, images and the local seed's state live:
// $KUBESEED_CACHE, or ~/.cache/kubeseed.
func CacheDir() string {
	if c := os.Getenv("KUBESEED_CACHE"); c != "" {
		return c
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kubeseed")
}
