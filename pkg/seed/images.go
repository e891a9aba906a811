package seed

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

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
	// Files are further files of this machine put into the image at the same path, symlinks
	// followed: the dynamic loader, shared libraries and helpers a binary runs (kube-proxy
	// runs iptables).
	Files []string
	// Copies are further files of this machine put into the image at another path, path in
	// the image to file on this machine, symlinks followed, with their permission bits: the
	// CNI plugins kubeseed-cni installs come from the cache, not from this machine's
	// /opt/cni/bin.
	Copies map[string]string
	// Symlinks are further symlinks in the image, path to target, e.g. the names of a
	// multi-call binary among Files.
	Symlinks map[string]string
	// Env replaces the default environment, PATH=/usr/local/bin:/.
	Env []string
}

// Build writes img as a docker-archive tarball to out (skipped when out is newer than the
// binary and every copied file, and was built from the same definition: out.spec holds a
// digest of it, so an image given one more file is repacked).
func (img Image) Build(out string) error {
	spec := img.specDigest()
	bin, err := os.Stat(img.Binary)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Ref, err)
	}
	newest := bin.ModTime()
	// A rebuilt copy (a CNI plugin of a new version in the same cache path) repacks too.
	for _, src := range img.Copies {
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("image %s: %w", img.Ref, err)
		}
		if st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	if st, err := os.Stat(out); err == nil && st.ModTime().After(newest) {
		if built, err := os.ReadFile(out + ".spec"); err == nil && string(built) == spec {
			return nil
		}
	}
	ref, err := name.ParseReference(img.Ref)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Ref, err)
	}
	layer, err := img.layer()
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Ref, err)
	}
	env := img.Env
	if len(env) == 0 {
		env = []string{"PATH=/usr/local/bin:/"}
	}
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Config: v1.Config{
			Entrypoint: []string{img.Path},
			Cmd:        img.Args,
			// Upstream images keep their binaries in /usr/local/bin and charts name them bare.
			Env: env,
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
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	return os.WriteFile(out+".spec", []byte(spec), 0o644)
}

// specDigest is a digest of img's definition (not of its files' contents, which their
// times stand for).
func (img Image) specDigest() string {
	raw, _ := json.Marshal(img) // plain strings, slices and maps: never fails
	return fmt.Sprintf("%x", sha256.Sum256(raw))
}

// layer is the image's one layer: the executable, /tmp and the CA bundle dir that Go
// programs expect to exist, and any further files, copies and symlinks with their parent
// directories.
func (img Image) layer() (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, dir := range []string{"tmp/", "etc/", "usr/", "usr/local/", "usr/local/bin/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o1777}); err != nil {
			return nil, err
		}
		dirs[dir] = true
	}
	// parents writes the directories above a path that are not in the layer yet: tar
	// extractors differ on whether they make missing ones.
	parents := func(p string) error {
		var missing []string
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if name := strings.TrimPrefix(d, "/") + "/"; !dirs[name] {
				missing = append(missing, name)
			}
		}
		for i := len(missing) - 1; i >= 0; i-- {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: missing[i], Mode: 0o755}); err != nil {
				return err
			}
			dirs[missing[i]] = true
		}
		return nil
	}
	// The binary may live outside /usr/local/bin, as flannel's /opt/bin/flanneld.
	if err := parents(img.Path); err != nil {
		return nil, err
	}
	if err := addFile(tw, img.Binary, img.Path, 0o755); err != nil {
		return nil, err
	}
	for _, l := range img.Links {
		if err := parents(l); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: l[1:], Linkname: img.Path, Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	for _, f := range img.Files {
		if err := parents(f); err != nil {
			return nil, err
		}
		if err := addFile(tw, f, f, 0); err != nil {
			return nil, err
		}
	}
	for _, dst := range slices.Sorted(maps.Keys(img.Copies)) {
		if err := parents(dst); err != nil {
			return nil, err
		}
		if err := addFile(tw, img.Copies[dst], dst, 0); err != nil {
			return nil, err
		}
	}
	for _, l := range slices.Sorted(maps.Keys(img.Symlinks)) {
		if err := parents(l); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(l, "/"), Linkname: img.Symlinks[l], Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
}

// addFile writes the file at src (symlinks followed) into the layer at inImage with mode,
// or its own permission bits when mode is 0.
func addFile(tw *tar.Writer, src, inImage string, mode int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if mode == 0 {
		mode = int64(st.Mode().Perm())
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(inImage, "/"), Mode: mode, Size: st.Size()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
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
