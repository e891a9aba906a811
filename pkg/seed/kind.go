package seed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/kubeseed/kubeseed/pkg/versions"
)

// Kind is a seed made by kind, for machines where a Docker engine answers. It shares the
// images and add-on manifests of Local; kind's node image brings its own CNI, CoreDNS and
// default StorageClass, so only cert-manager and our images are added. It cannot run on this
// project's CI machines, which have no Docker engine.
type Kind struct {
	name     string
	cache    string
	provider *cluster.Provider
	logf     func(string, ...any)
}

var _ Provider = (*Kind)(nil)

// NewKind describes a kind seed named kubeseed; it touches nothing until Up.
func NewKind(cache string, logf func(string, ...any)) *Kind {
	return &Kind{name: "kubeseed", cache: cache, provider: cluster.NewProvider(cluster.ProviderWithDocker()), logf: logf}
}

// New picks the seed for this machine: kind when a Docker engine answers, else Local.
func New(cache string, logf func(string, ...any)) Provider {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "info").Run(); err == nil {
		return NewKind(cache, logf)
	}
	return NewLocal(cache, logf)
}

// Kubeconfig is the path kind writes the seed's admin kubeconfig to.
func (k *Kind) Kubeconfig() string { return filepath.Join(k.cache, "kind", "kubeconfig") }

// Up creates the kind cluster unless it exists, loads our images and installs cert-manager.
func (k *Kind) Up(ctx context.Context) error {
	existing, err := k.provider.List()
	if err != nil {
		return fmt.Errorf("list kind clusters: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(k.Kubeconfig()), 0o700); err != nil {
		return err
	}
	if slices.Contains(existing, k.name) {
		err = k.provider.ExportKubeConfig(k.name, k.Kubeconfig(), false)
	} else {
		k.logf("seed: creating kind cluster %s", k.name)
		err = k.provider.Create(k.name,
			cluster.CreateWithNodeImage("kindest/node:"+versions.Seed),
			cluster.CreateWithKubeconfigPath(k.Kubeconfig()),
			cluster.CreateWithWaitForReady(3*time.Minute),
		)
	}
	if err != nil {
		return fmt.Errorf("kind cluster %s: %w", k.name, err)
	}
	tarballs, err := filepath.Glob(filepath.Join(ImagesDir(k.cache), "*.tar"))
	if err != nil {
		return err
	}
	if err := k.LoadImages(ctx, tarballs...); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig())
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	return installCertManager(ctx, c, k.cache)
}

// Down deletes the kind cluster.
func (k *Kind) Down(context.Context) error {
	return k.provider.Delete(k.name, k.Kubeconfig())
}

// LoadImages imports docker-archive tarballs into every node's containerd.
func (k *Kind) LoadImages(_ context.Context, tarballs ...string) error {
	nodes, err := k.provider.ListInternalNodes(k.name)
	if err != nil {
		return fmt.Errorf("list kind nodes: %w", err)
	}
	for _, t := range tarballs {
		for _, n := range nodes {
			f, err := os.Open(t)
			if err != nil {
				return err
			}
			err = nodeutils.LoadImageArchive(n, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("load %s into %s: %w", filepath.Base(t), n.String(), err)
			}
		}
	}
	return nil
}
