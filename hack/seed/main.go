// Command seed runs the local seed cluster for the demo and the e2e tests:
//
//	seed up | down | kubeconfig | images
//	seed load TAR...
//	seed machine add NAME --version V --bootstrap FILE [--routed] [--image TAR]...
//	seed machine rm NAME
//
// `make seed-up`, `make seed-down` and `make -s seed-kubeconfig` call it after building what
// it needs. `seed machine` starts and removes extra worker machines beside the local seed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/kubeseed/kubeseed/pkg/addons"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "machine" {
		if err := machine(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "seed: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) >= 3 && os.Args[1] == "load" {
		if err := seed.New(seed.CacheDir(), func(string, ...any) {}).LoadImages(context.Background(), os.Args[2:]...); err != nil {
			fmt.Fprintf(os.Stderr, "seed: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: seed up|down|kubeconfig|images|load TAR...|machine")
		os.Exit(2)
	}
	cache := seed.CacheDir()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	// kind where a Docker engine answers, the local seed otherwise.
	provider := seed.New(cache, logf)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	var err error
	switch os.Args[1] {
	case "up":
		if err = buildImages(cache, seed.ImagesDir(cache)); err == nil {
			err = provider.Up(ctx)
		}
		if err == nil {
			logf("seed: up; kubectl --kubeconfig %s get nodes", provider.Kubeconfig())
		}
	case "down":
		err = provider.Down(ctx)
	case "kubeconfig":
		fmt.Println(provider.Kubeconfig())
	case "images":
		err = buildImages(cache, seed.ImagesDir(cache))
	default:
		err = fmt.Errorf("unknown command %q (want up, down, kubeconfig or images)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "seed: %v\n", err)
		os.Exit(1)
	}
}

// buildImages writes the seed's images as docker archives into dir.
func buildImages(cache, dir string) error {
	// Our own small programs are rebuilt every time: go build's cache makes that cheap, and
	// a stale binary is never packed.
	own := map[string]string{
		"pause": "./hack/pause", "testserver": "./e2e/testserver", "volume-helper": "./hack/volume-helper",
		"kubeseed-cni": "./cmd/kubeseed-cni",
	}
	bins := map[string]string{}
	for name, pkg := range own {
		bins[name] = filepath.Join(cache, "bin", name)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bins[name], pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w: %s", pkg, err, out)
		}
	}
	images := map[string]seed.Image{
		"pause.tar":      {Ref: seed.PauseImage, Binary: bins["pause"], Path: "/pause"},
		"testserver.tar": {Ref: seed.TestServerImage, Binary: bins["testserver"], Path: "/testserver"},
		"coredns.tar": {
			Ref: seed.CoreDNSImage, Binary: filepath.Join(cache, "coredns", seed.CoreDNSVersion, "coredns"), Path: "/coredns",
		},
		"local-path.tar": {
			Ref: seed.LocalPathImage, Path: "/local-path-provisioner",
			Binary: filepath.Join(cache, "local-path-provisioner", seed.LocalPathVersion, "local-path-provisioner"),
		},
		"volume-helper.tar": {
			Ref: seed.VolumeHelperImage, Binary: bins["volume-helper"], Path: "/volume-helper", Links: []string{"/setup", "/teardown"},
		},
		"cert-manager.tar": {
			Ref: seed.CertManagerImage, Binary: filepath.Join(seed.CertManagerDir(cache), "cert-manager-controller"),
			Path: "/cert-manager-controller",
		},
	}
	// The tenant control plane and kube-proxy of every supported version, under
	// registry.k8s.io's names: tenants are created at any of them and upgraded between them.
	for _, v := range versions.Supported {
		k8s := filepath.Join(cache, "k8s", v)
		for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
			images[c+"-"+v+".tar"] = seed.Image{
				Ref: "registry.k8s.io/" + c + ":" + v, Binary: filepath.Join(k8s, c), Path: "/usr/local/bin/" + c,
			}
		}
		proxy, err := kubeProxyImage(filepath.Join(k8s, "kube-proxy"), v)
		if err != nil {
			return err
		}
		images["kube-proxy-"+v+".tar"] = proxy
	}
	if err := podNetworkImages(cache, bins["kubeseed-cni"], images); err != nil {
		return err
	}
	// etcdutl beside etcd, as upstream's image has it: a restore runs it (docs/backups.md).
	images["etcd-"+versions.Etcd+".tar"] = seed.Image{
		Ref:    "registry.k8s.io/etcd:" + strings.TrimPrefix(versions.Etcd, "v") + "-0",
		Binary: filepath.Join(cache, "etcd", versions.Etcd, "etcd"), Path: "/usr/local/bin/etcd",
		Copies: map[string]string{"/usr/local/bin/etcdutl": filepath.Join(cache, "etcd", versions.Etcd, "etcdutl")},
	}
	for file, img := range images {
		if err := img.Build(filepath.Join(dir, file)); err != nil {
			return err
		}
	}
	return nil
}

// xtables is the iptables multi-call binary the images of kube-proxy, flannel and
// kube-router carry: the nf_tables backend, as on this machine (`iptables --version` says
// nf_tables; Debian's default) and so on the seed and its worker machines, which share its
// kernel. Rules of both backends in one network namespace would fight.
const xtables = "/usr/sbin/xtables-nft-multi"

// xtablesNames are the commands kube-proxy, flanneld and kube-router run, as links to
// xtables.
var xtablesNames = []string{
	"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore",
	"iptables-nft", "iptables-nft-save", "iptables-nft-restore", "ip6tables-nft", "ip6tables-nft-save", "ip6tables-nft-restore",
}

// kubeProxyImage is registry.k8s.io/kube-proxy:<version> around the static kube-proxy
// binary, plus iptables (iptablesImage) and conntrack, which it shells out to.
func kubeProxyImage(binary, version string) (seed.Image, error) {
	return iptablesImage(seed.Image{
		Ref: "registry.k8s.io/kube-proxy:" + version, Binary: binary, Path: "/usr/local/bin/kube-proxy",
	}, "/usr/sbin/conntrack")
}

// podNetworkImages adds the pod network's images (hack/cni-bins.sh builds their binaries)
// to images: flanneld and kube-router, which shell out to iptables, kube-router to ipset
// too, and kubeseed-cni (cni, built from ./cmd/kubeseed-cni) with the CNI plugins it
// installs on nodes.
func podNetworkImages(cache, cni string, images map[string]seed.Image) error {
	flannel, err := iptablesImage(seed.Image{
		Ref: addons.FlannelImage, Path: "/opt/bin/flanneld", // upstream's path, which manifests name
		Binary: filepath.Join(cache, "flannel", versions.Flannel, "flanneld"),
	})
	if err != nil {
		return err
	}
	images["flannel.tar"] = flannel
	router, err := iptablesImage(seed.Image{
		Ref: addons.KubeRouterImage, Path: "/usr/local/bin/kube-router",
		Binary: filepath.Join(cache, "kube-router", versions.KubeRouter, "kube-router"),
	}, "/usr/sbin/ipset")
	if err != nil {
		return err
	}
	images["kube-router.tar"] = router
	plugins := map[string]string{}
	for _, p := range cniPlugins {
		plugins["/opt/cni/bin/"+p] = filepath.Join(cache, "cni-plugins", versions.CNIPlugins, p)
	}
	// No user in the image config: it runs as root, as it must to write the node's
	// /opt/cni/bin and /etc/cni/net.d (hack/manager-image's images run as 65532).
	images["kubeseed-cni.tar"] = seed.Image{
		Ref: addons.CNIImage, Binary: cni, Path: "/usr/local/bin/kubeseed-cni", Copies: plugins,
	}
	return nil
}

// cniPlugins are the plugins of pkg/versions.CNIPlugins that kubeseed-cni installs: those
// its conflist chains (bridge, host-local, portmap) and the loopback every runtime runs.
var cniPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// iptablesImage adds to img what its binary shells out to, taken from this machine's
// Debian packages: iptables (xtables, its match and target extensions, which it loads at
// run time) under the names of xtablesNames, further executables execs, each with its
// shared libraries and the dynamic loader (ldd), /etc/protocols, and a PATH that finds
// them. A FROM-scratch image has none of them.
func iptablesImage(img seed.Image, execs ...string) (seed.Image, error) {
	extensions, err := filepath.Glob("/usr/lib/x86_64-linux-gnu/xtables/*.so")
	if err != nil {
		return seed.Image{}, fmt.Errorf("image %s: %w", img.Ref, err)
	}
	if len(extensions) == 0 {
		return seed.Image{}, fmt.Errorf("image %s: no iptables extensions in /usr/lib/x86_64-linux-gnu/xtables (make seed-deps installs iptables)", img.Ref)
	}
	execs = append([]string{xtables}, execs...)
	for _, e := range execs {
		if _, err := os.Stat(e); err != nil {
			return seed.Image{}, fmt.Errorf("image %s: %w (make seed-deps installs it)", img.Ref, err)
		}
	}
	libs, err := sharedLibraries(append(slices.Clone(execs), extensions...)...)
	if err != nil {
		return seed.Image{}, fmt.Errorf("image %s: %w", img.Ref, err)
	}
	links := map[string]string{}
	for _, n := range xtablesNames {
		links["/usr/sbin/"+n] = xtables
	}
	files := slices.Concat(execs, extensions, libs, []string{"/etc/protocols"})
	slices.Sort(files)
	img.Files, img.Symlinks = slices.Compact(files), links
	img.Env = []string{"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return img, nil
}

// sharedLibraries lists what the dynamic loader maps for each of paths, the loader itself
// included, as ldd resolves them on this machine.
func sharedLibraries(paths ...string) ([]string, error) {
	seen := map[string]bool{}
	for _, p := range paths {
		out, err := exec.Command("ldd", p).Output()
		if err != nil {
			return nil, fmt.Errorf("ldd %s: %w", p, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or the loader,
			// "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no file.
			fields := strings.Fields(line)
			switch {
			case len(fields) >= 3 && fields[1] == "=>" && strings.HasPrefix(fields[2], "/"):
				seen[fields[2]] = true
			case len(fields) >= 1 && strings.HasPrefix(fields[0], "/"):
				seen[fields[0]] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// machine adds or removes an extra worker machine of the local seed.
func machine(args []string) error {
	usage := errors.New("usage: seed machine add NAME --version V --bootstrap FILE [--routed] [--image TAR]... | seed machine rm NAME")
	if len(args) < 2 {
		return usage
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	local := seed.NewLocal(seed.CacheDir(), logf)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	switch args[0] {
	case "rm":
		return local.RemoveMachine(ctx, args[1])
	case "add":
		fs := flag.NewFlagSet("seed machine add", flag.ContinueOnError)
		version := fs.String("version", versions.Default, "Kubernetes version of the machine's kubelet, kubeadm and kubectl")
		bootstrap := fs.String("bootstrap", "", "shell script to run once, as cloud-init runs user data")
		routed := fs.Bool("routed", false, "let the seed host route to the machine")
		var images stringList
		fs.Var(&images, "image", "docker-archive tarball to preload (repeatable)")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		spec := seed.MachineSpec{Name: args[1], KubernetesVersion: *version, Routed: *routed, Images: images}
		if *bootstrap != "" {
			raw, err := os.ReadFile(*bootstrap)
			if err != nil {
				return fmt.Errorf("read bootstrap: %w", err)
			}
			spec.Bootstrap = string(raw)
		}
		m, err := local.AddMachine(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Printf("%s %s %s\n", m.Name, m.IP, m.BootstrapLog())
		return nil
	default:
		return usage
	}
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
