package main

import (
	"archive/tar"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/addons"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// TestKubeProxyImage builds the kube-proxy image around a stand-in binary and checks that
// it holds iptables under the names kube-proxy runs, with the loader, the libraries and
// the extensions it needs, on a PATH that finds it.
func TestKubeProxyImage(t *testing.T) {
	if _, err := os.Stat(xtables); err != nil {
		t.Skipf("%s: this machine has no iptables (make seed-deps)", xtables)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kube-proxy")
	if err := os.WriteFile(bin, []byte("#!/bin/false\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := kubeProxyImage(bin, "v1.36.3")
	if err != nil {
		t.Fatal(err)
	}
	cfg, entries := buildAndRead(t, img, filepath.Join(dir, "kube-proxy.tar"))
	if !slices.Contains(cfg.Config.Env, "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
		t.Errorf("env %v: kube-proxy finds iptables on PATH", cfg.Config.Env)
	}
	for _, want := range []string{
		"/usr/local/bin/kube-proxy", xtables, "/usr/sbin/conntrack", "/lib64/ld-linux-x86-64.so.2",
		"/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libxtables.so.12", "/lib/x86_64-linux-gnu/libnftnl.so.11",
		"/usr/lib/x86_64-linux-gnu/xtables/libxt_comment.so", "/usr/lib/x86_64-linux-gnu/xtables/libxt_conntrack.so",
		"/usr/lib/x86_64-linux-gnu/xtables/libxt_statistic.so", "/usr/lib/x86_64-linux-gnu/xtables/libxt_MASQUERADE.so", "/usr/lib/x86_64-linux-gnu/xtables/libxt_MARK.so",
	} {
		if h, ok := entries[want]; !ok || h.Typeflag != tar.TypeReg {
			t.Errorf("%s is not a file in the image", want)
		}
	}
	for _, n := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-restore"} {
		if h, ok := entries["/usr/sbin/"+n]; !ok || h.Typeflag != tar.TypeSymlink || h.Linkname != xtables {
			t.Errorf("/usr/sbin/%s is not a link to %s", n, xtables)
		}
	}
}

// TestImagesAreWhatTenantsRun: for every supported version, a tenant's CoreDNS is the image
// this command builds (the only CoreDNS built offline); for the default version, so is its
// kube-proxy.
func TestImagesAreWhatTenantsRun(t *testing.T) {
	for _, v := range versions.Supported {
		pinned, err := addons.For(v)
		if err != nil {
			t.Fatal(err)
		}
		tc := &v1alpha1.TenantCluster{Spec: v1alpha1.TenantClusterSpec{Version: v, Network: v1alpha1.NetworkSpec{
			ServiceCIDR: "10.96.0.0/12", PodCIDR: "10.244.0.0/16", DNSDomain: "cluster.local",
		}}}
		values, err := addons.ValuesFor(tc, addons.Inputs{Endpoint: "https://192.0.2.10:6443", Versions: pinned})
		if err != nil {
			t.Fatal(err)
		}
		if values.CoreDNS.Image != seed.CoreDNSImage {
			t.Errorf("%s: tenants run CoreDNS %s, hack/seed builds %s", v, values.CoreDNS.Image, seed.CoreDNSImage)
		}
		if v != versions.Default {
			continue
		}
		img, err := kubeProxyImage("/nonexistent", v)
		if err != nil {
			t.Skipf("no iptables here: %v", err)
		}
		if values.KubeProxy.Image != img.Ref {
			t.Errorf("tenants run %s, hack/seed builds %s", values.KubeProxy.Image, img.Ref)
		}
	}
}

// TestPodNetworkImages builds the pod network's images around stand-in binaries and checks
// their paths: flanneld where upstream's manifests run it, kube-router with ipset, both with
// iptables on PATH, and kubeseed-cni, as root, with the CNI plugins it installs.
func TestPodNetworkImages(t *testing.T) {
	for _, p := range []string{xtables, "/usr/sbin/ipset"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s: this machine lacks it (make seed-deps)", p)
		}
	}
	cache := t.TempDir()
	stub := func(parts ...string) string {
		t.Helper()
		p := filepath.Join(append([]string{cache}, parts...)...)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/false\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stub("flannel", versions.Flannel, "flanneld")
	stub("kube-router", versions.KubeRouter, "kube-router")
	for _, p := range cniPlugins {
		stub("cni-plugins", versions.CNIPlugins, p)
	}
	images := map[string]seed.Image{}
	if err := podNetworkImages(cache, stub("bin", "kubeseed-cni"), images); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]struct {
		ref   string
		files []string
		links []string
	}{
		"flannel.tar": {ref: addons.FlannelImage, files: []string{"/opt/bin/flanneld", xtables, "/lib64/ld-linux-x86-64.so.2"}, links: []string{"/usr/sbin/iptables"}},
		"kube-router.tar": {
			ref:   addons.KubeRouterImage,
			files: []string{"/usr/local/bin/kube-router", xtables, "/usr/sbin/ipset", "/lib/x86_64-linux-gnu/libipset.so.13"},
			links: []string{"/usr/sbin/iptables", "/usr/sbin/iptables-save", "/usr/sbin/iptables-restore"},
		},
		"kubeseed-cni.tar": {
			ref:   addons.CNIImage,
			files: []string{"/usr/local/bin/kubeseed-cni", "/opt/cni/bin/bridge", "/opt/cni/bin/host-local", "/opt/cni/bin/portmap", "/opt/cni/bin/loopback"},
		},
	} {
		img, ok := images[file]
		if !ok {
			t.Errorf("no %s", file)
			continue
		}
		if img.Ref != want.ref {
			t.Errorf("%s: ref %s, want %s", file, img.Ref, want.ref)
		}
		cfg, entries := buildAndRead(t, img, filepath.Join(cache, "images", file))
		if cfg.Config.User != "" {
			t.Errorf("%s runs as %q, want root", file, cfg.Config.User)
		}
		if want.links != nil && !slices.Contains(cfg.Config.Env, "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
			t.Errorf("%s: env %v does not find iptables", file, cfg.Config.Env)
		}
		for _, f := range want.files {
			if h, ok := entries[f]; !ok || h.Typeflag != tar.TypeReg {
				t.Errorf("%s: %s is not a file in the image", file, f)
			}
		}
		for _, l := range want.links {
			if h, ok := entries[l]; !ok || h.Typeflag != tar.TypeSymlink || h.Linkname != xtables {
				t.Errorf("%s: %s is not a link to %s", file, l, xtables)
			}
		}
	}
}

// buildAndRead builds img into out and returns its config and its files by absolute path.
func buildAndRead(t *testing.T, img seed.Image, out string) (*v1.ConfigFile, map[string]*tar.Header) {
	t.Helper()
	if err := img.Build(out); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(img.Ref)
	if err != nil {
		t.Fatal(err)
	}
	image, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]*tar.Header{}
	rc := mutate.Extract(image)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		entries["/"+h.Name] = h
	}
	return cfg, entries
}
