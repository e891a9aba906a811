// Command manager-image packs the static kubeseed manager binary into an image FROM scratch
// and writes it as a docker-archive tarball, which the local seed's containerd imports
// (`ctr images import`), so no registry is needed.
//
//	go run ./hack/manager-image -binary BIN -out OUT.tar [-image kubeseed/manager:dev] [-arch amd64] [-entrypoint /manager]
//
// -entrypoint is where the binary lives in the image and what runs: /manager for the
// manager, /kubeseed-tunnel for `make tunnel-image`.
//
// The image runs as the numeric user 65532, so that the kubelet can verify runAsNonRoot
// without an /etc/passwd lookup. OUT is rewritten only when the binary's content, the image
// name, the architecture or the layout below changed: OUT.sha256 records what it was built
// from. Content, not modification time: `make manager-image` runs go build every time, and
// an identical binary (-trimpath builds are reproducible) must not repack the image.
//
// pkg/seed.Image builds the seed's images the same way but runs them as root and compares
// modification times, hence this separate tool.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	// defaultEntrypoint is where the manager binary lives in its image: the entrypoint.
	defaultEntrypoint = "/manager"
	// user is the nonroot user of distroless images, which charts/kubeseed runs as.
	user = "65532"
	// layout changes whenever the image's files or config change below, so that cached
	// tarballs built by an older version of this tool are rebuilt.
	layout = "1"
)

// machines are the ELF machines of the architectures an image may be built for.
var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func main() {
	binary := flag.String("binary", "", "path of the static manager binary (CGO_ENABLED=0)")
	out := flag.String("out", "", "path of the docker-archive tarball to write")
	ref := flag.String("image", "kubeseed/manager:dev", "name of the image")
	arch := flag.String("arch", runtime.GOARCH, "architecture the binary was built for")
	entrypoint := flag.String("entrypoint", defaultEntrypoint, "absolute path of the binary in the image, its entrypoint")
	flag.Parse()
	if *binary == "" || *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	built, err := buildAt(*binary, *out, *ref, *arch, *entrypoint)
	if err != nil {
		fmt.Fprintf(os.Stderr, "manager-image: %v\n", err)
		os.Exit(1)
	}
	state := "up to date"
	if built {
		state = "written"
	}
	fmt.Printf("manager-image: %s in %s (%s)\n", *ref, *out, state)
}

// build writes the image to out unless out's stamp says it already holds this binary. It
// reports whether it wrote.
func build(binary, out, ref, arch string) (bool, error) {
	return buildAt(binary, out, ref, arch, defaultEntrypoint)
}

// buildAt is build with the binary at entrypoint in the image.
func buildAt(binary, out, ref, arch, entrypoint string) (bool, error) {
	if !path.IsAbs(entrypoint) || path.Clean(entrypoint) != entrypoint || entrypoint == "/" {
		return false, fmt.Errorf("entrypoint %q is not a clean absolute path of a file", entrypoint)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return false, fmt.Errorf("image name %q: %w", ref, err)
	}
	bin, err := os.ReadFile(binary)
	if err != nil {
		return false, fmt.Errorf("read the manager binary: %w", err)
	}
	if err := checkStatic(binary, arch); err != nil {
		return false, err
	}
	sum := sha256.Sum256(bin)
	fields := []string{"sha256:" + hex.EncodeToString(sum[:]), tag.String(), arch, "layout " + layout}
	if entrypoint != defaultEntrypoint {
		// Only then, so that stamps written before the flag existed stay valid.
		fields = append(fields, "entrypoint "+entrypoint)
	}
	stamp := strings.Join(fields, "\n") + "\n"
	stampFile := out + ".sha256"
	if old, err := os.ReadFile(stampFile); err == nil && string(old) == stamp {
		if _, err := os.Stat(out); err == nil {
			return false, nil
		}
	}

	img, err := image(bin, arch, entrypoint)
	if err != nil {
		return false, fmt.Errorf("image %s: %w", tag, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return false, fmt.Errorf("image %s: %w", tag, err)
	}
	// Write aside and rename, so an interrupted run never leaves a torn tarball behind a
	// valid stamp.
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return false, fmt.Errorf("write image %s: %w", tag, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return false, fmt.Errorf("write image %s: %w", tag, err)
	}
	if err := os.WriteFile(stampFile, []byte(stamp), 0o644); err != nil {
		return false, fmt.Errorf("write image %s: stamp: %w", tag, err)
	}
	return true, nil
}

// checkStatic refuses a binary that cannot run FROM scratch: a dynamically linked one would
// fail in the pod with a bare "no such file or directory" (its loader is missing).
func checkStatic(binary, arch string) error {
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("%s is not a Linux executable: %w", binary, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0", binary)
		}
	}
	want, ok := machines[arch]
	if !ok {
		return fmt.Errorf("architecture %q is not one of amd64, arm64", arch)
	}
	if f.Machine != want {
		return fmt.Errorf("%s is built for %v, not %s", binary, f.Machine, arch)
	}
	return nil
}

// image is the manager binary on scratch, run as the nonroot user.
func image(bin []byte, arch, entrypoint string) (v1.Image, error) {
	layer, err := files(bin, entrypoint)
	if err != nil {
		return nil, err
	}
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: []string{entrypoint},
			User:       user + ":" + user,
			WorkingDir: "/",
			Labels: map[string]string{
				"org.opencontainers.image.title":  title(entrypoint),
				"org.opencontainers.image.source": "https://github.com/kubeseed/kubeseed",
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("add layer: %w", err)
	}
	return img, nil
}

// title names the image after its binary: kubeseed-manager for /manager.
func title(entrypoint string) string {
	if entrypoint == defaultEntrypoint {
		return "kubeseed-manager"
	}
	return path.Base(entrypoint)
}

// files is the image's one layer: the binary, owned by root so that the manager cannot
// change it; /tmp, which Go expects to exist (the chart mounts an emptyDir there, the root
// filesystem being read-only); and passwd/group entries naming the user, for tools that
// look names up. Headers carry no timestamps, so the same binary gives the same digest.
func files(bin []byte, entrypoint string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + user + ":" + user + ":nonroot:/tmp:/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:" + user + ":\n"
	entries := []struct {
		hdr  tar.Header
		data []byte
	}{
		{tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755}, nil},
		{tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644}, []byte(passwd)},
		{tar.Header{Typeflag: tar.TypeReg, Name: "etc/group", Mode: 0o644}, []byte(group)},
		{tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}, nil},
		{tar.Header{Typeflag: tar.TypeReg, Name: entrypoint[1:], Mode: 0o755}, bin},
	}
	for _, e := range entries {
		e.hdr.Size = int64(len(e.data))
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", e.hdr.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", e.hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	raw := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return layer, nil
}
