package main

import (
	"archive/tar"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
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
	out := filepath.Join(dir, "kube-proxy.tar")
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
	if !slices.Contains(cfg.Config.Env, "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
		t.Errorf("env %v: kube-proxy finds iptables on PATH", cfg.Config.Env)
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
