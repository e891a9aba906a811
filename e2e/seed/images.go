package seed

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image is a container image built FROM scratch around one static binary, under its
// upstream name so manifests reference the real images and imagePullPolicy IfNotPresent
// finds them without a registry.
type Image struct {
	Ref    string   // e.g. registry.k8s.io/pause:3.10
	Binary string   // path of the static binary on this machine
	Path   string   // where the binary lives in the image, e.g. /pause
	Args   []string // default arguments after the entrypoint
	Links  []string // further paths in the image that link to the binary (multi-call binaries)
}

// Build writes img as a docker-archive tarball to out (skipped when out is newer than the
// binary).
func (img Image) Build(out string) error {
	bin, err := os.Stat(img.Binary)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Ref, err)
	}
	if st, err := os.Stat(out); err == nil && st.ModTime().After(bin.ModTime()) {
		return nil
	}
	ref, err := name.ParseReference(img.Ref)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Ref, err)
	}
	layer, err := binaryLayer(img.Binary, img.Path, img.Links)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Ref, err)
	}
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Config: v1.Config{
			Entrypoint: []string{img.Path},
			Cmd:        img.Args,
			// Upstream images keep their binaries in /usr/local/bin and charts name them bare.
			Env: []string{"PATH=/usr/local/bin:/"},
		},
	})
	if err != nil {
		return err
	}
	image, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Ref, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, image); err != nil {
		return fmt.Errorf("write image %s: %w", img.Ref, err)
	}
	return os.Rename(tmp, out)
}

// binaryLayer is a layer holding one executable, plus /tmp and the CA bundle dir that Go
// programs expect to exist.
func binaryLayer(binary, inImage string, links []string) (v1.Layer, error) {
	f, err := os.Open(binary)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"tmp/", "etc/", "usr/", "usr/local/", "usr/local/bin/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o1777}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: inImage[1:], Mode: 0o755, Size: st.Size()}); err != nil {
		return nil, err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return nil, err
	}
	for _, l := range links {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: l[1:], Linkname: inImage, Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
}

// LoadImages imports docker-archive tarballs into the seed's containerd, in the k8s.io
// namespace the kubelet uses.
func (l *Local) LoadImages(_ context.Context, tarballs ...string) error {
	for _, t := range tarballs {
		// --all-platforms: without it ctr filters out images it cannot match to the host.
		if err := run("ctr", "--address", l.containerdSocket(), "-n", "k8s.io", "images", "import", "--all-platforms", t); err != nil {
			return fmt.Errorf("import %s: %w", t, err)
		}
	}
	return nil
}
