package seed

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/template"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/pkg/versions"
)

//go:embed manifests/*.yaml
var manifests embed.FS

// addonValues fill the seed's manifests; they are the seed's, not the product's.
type addonValues struct {
	CoreDNSImage      string
	DNSIP             string
	CertManagerImage  string
	LocalPathImage    string
	VolumeHelperImage string
	VolumeDir         string
	KubeRouterImage   string
	ServiceCIDR       string
}

// Images are the upstream names the seed's add-ons run under; hack/seed builds them.
const (
	PauseImage   = "registry.k8s.io/pause:3.10"
	CoreDNSImage = "registry.k8s.io/coredns/coredns:" + CoreDNSVersion
	// KubeRouterImage enforces NetworkPolicy on the seed, as in tenants (pkg/addons).
	KubeRouterImage = "docker.io/cloudnativelabs/kube-router:" + versions.KubeRouter
	// TestServerImage runs e2e/testserver, the e2e tests' workload.
	TestServerImage = "kubeseed.local/testserver:e2e"
)

// CoreDNSVersion is the CoreDNS release built by hack/coredns-bin.sh.
const CoreDNSVersion = "v1.12.4"

// LocalPathVersion is the local-path-provisioner release built by hack/local-path-bin.sh.
const LocalPathVersion = "v0.0.30"

// Images of the seed's storage: the provisioner under its upstream name, and our
// volume-helper standing in for the busybox its helper pods run.
const (
	LocalPathImage    = "docker.io/rancher/local-path-provisioner:" + LocalPathVersion
	VolumeHelperImage = "kubeseed.local/volume-helper:e2e"
)

// CertManagerVersion is the cert-manager release hack/cert-manager/go.mod pins.
const CertManagerVersion = "v1.21.2"

// CertManagerImage runs hack/cert-manager, under upstream's controller image name.
const CertManagerImage = "quay.io/jetstack/cert-manager-controller:" + CertManagerVersion

// CertManagerDir holds the cert-manager controller binary and CRDs built by
// hack/cert-manager-bin.sh.
func CertManagerDir(cache string) string {
	return filepath.Join(cache, "cert-manager", CertManagerVersion)
}

func (l *Local) applyAddons(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig())
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	values := addonValues{
		CoreDNSImage: CoreDNSImage, DNSIP: seedDNSIP,
		LocalPathImage: LocalPathImage, VolumeHelperImage: VolumeHelperImage, VolumeDir: l.path("volumes"),
		KubeRouterImage: KubeRouterImage, ServiceCIDR: seedServiceCIDR,
	}
	for _, m := range []string{"manifests/network-policy.yaml", "manifests/coredns.yaml", "manifests/local-path.yaml"} {
		if err := applyManifest(ctx, c, m, values); err != nil {
			return err
		}
	}
	if err := installCertManager(ctx, c, l.cache); err != nil {
		return err
	}
	for _, d := range []struct{ ns, name string }{
		{"kube-system", "coredns"}, {"local-path-storage", "local-path-provisioner"},
	} {
		if err := waitDeployment(ctx, c, d.ns, d.name, 2*time.Minute); err != nil {
			return err
		}
	}
	// The policy controller runs; it enforces once its caches synced, a moment later.
	return waitDaemonSet(ctx, c, "kube-system", "kube-router", 2*time.Minute)
}

// installCertManager applies the cert-manager module's CRDs and our controller Deployment,
// then waits for it.
func installCertManager(ctx context.Context, c client.Client, cache string) error {
	crds, err := filepath.Glob(filepath.Join(CertManagerDir(cache), "crds", "*.yaml"))
	if err != nil || len(crds) == 0 {
		return fmt.Errorf("no cert-manager CRDs in %s: run hack/cert-manager-bin.sh", CertManagerDir(cache))
	}
	for _, crd := range crds {
		raw, err := os.ReadFile(crd)
		if err != nil {
			return err
		}
		if err := applyYAML(ctx, c, crd, raw); err != nil {
			return err
		}
	}
	if err := applyManifest(ctx, c, "manifests/cert-manager.yaml", addonValues{CertManagerImage: CertManagerImage}); err != nil {
		return err
	}
	return waitDeployment(ctx, c, "cert-manager", "cert-manager", 2*time.Minute)
}

// applyManifest renders an embedded manifest and server-side applies every object in it.
func applyManifest(ctx context.Context, c client.Client, file string, values any) error {
	tmpl, err := template.ParseFS(manifests, file)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, values); err != nil {
		return fmt.Errorf("render %s: %w", file, err)
	}
	return applyYAML(ctx, c, file, buf.Bytes())
}

// applyYAML server-side applies every object of a multi-document YAML stream.
func applyYAML(ctx context.Context, c client.Client, file string, raw []byte) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode %s: %w", file, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("kubeseed-seed"), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
}

func waitDeployment(ctx context.Context, c client.Client, ns, name string, timeout time.Duration) error {
	return waitFor(ctx, timeout, fmt.Sprintf("deployment %s/%s not available within %s (kubectl -n %s describe deployment %s)", ns, name, timeout, ns, name),
		func(ctx context.Context) bool {
			d := &appsv1.Deployment{}
			err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d)
			return err == nil && d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas >= 1 &&
				d.Status.UpdatedReplicas == d.Status.Replicas
		})
}

func waitDaemonSet(ctx context.Context, c client.Client, ns, name string, timeout time.Duration) error {
	return waitFor(ctx, timeout, fmt.Sprintf("daemonset %s/%s not ready within %s (kubectl -n %s describe daemonset %s)", ns, name, timeout, ns, name),
		func(ctx context.Context) bool {
			d := &appsv1.DaemonSet{}
			err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d)
			s := d.Status
			return err == nil && s.ObservedGeneration >= d.Generation && s.DesiredNumberScheduled > 0 &&
				s.NumberReady == s.DesiredNumberScheduled && s.UpdatedNumberScheduled == s.DesiredNumberScheduled
		})
}

// waitFor polls ready every 500 ms until it holds or timeout passes, then fails with msg.
func waitFor(ctx context.Context, timeout time.Duration, msg string, ready func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !ready(ctx) {
		select {
		case <-ctx.Done():
			return errors.New(msg)
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}
