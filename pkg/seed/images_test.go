package seed

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImageCopies builds an image with a binary outside /usr/local/bin and files copied to
// other paths than on this machine, and checks where they land, with their parent
// directories; then that a newer copied file repacks the image.
func TestImageCopies(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	img := Image{
		Ref: "example.com/test/copies:dev", Binary: write("bin", "binary", 0o755), Path: "/opt/bin/tool",
		Copies: map[string]string{
			"/opt/cni/bin/bridge":  write("bridge", "bridge plugin", 0o755),
			"/opt/cni/bin/portmap": write("portmap", "portmap plugin", 0o755),
			"/etc/tool/config":     write("config", "key=value", 0o644),
		},
	}
	out := filepath.Join(dir, "image.tar")
	if err := img.Build(out); err != nil {
		t.Fatal(err)
	}
	got := entries(t, out, img.Ref)
	for p, want := range map[string]struct {
		typ     byte
		mode    int64
		content string
	}{
		"opt/": {typ: tar.TypeDir}, "opt/bin/": {typ: tar.TypeDir}, "opt/cni/": {typ: tar.TypeDir}, "opt/cni/bin/": {typ: tar.TypeDir},
		"etc/tool/":           {typ: tar.TypeDir},
		"opt/bin/tool":        {typ: tar.TypeReg, mode: 0o755, content: "binary"},
		"opt/cni/bin/bridge":  {typ: tar.TypeReg, mode: 0o755, content: "bridge plugin"},
		"opt/cni/bin/portmap": {typ: tar.TypeReg, mode: 0o755, content: "portmap plugin"},
		"etc/tool/config":     {typ: tar.TypeReg, mode: 0o644, content: "key=value"},
	} {
		e, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s is not in the image", p)
		case e.typ != want.typ:
			t.Errorf("%s: type %c, want %c", p, e.typ, want.typ)
		case want.typ == tar.TypeReg && (e.mode != want.mode || e.content != want.content):
			t.Errorf("%s: mode %o content %q, want %o %q", p, e.mode, e.content, want.mode, want.content)
		}
	}
	if _, ok := got[filepath.Join(dir, "bridge")[1:]]; ok {
		t.Errorf("a copy is also at its path on this machine")
	}

	// Unchanged inputs keep the tarball; a newer copy repacks it.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(out, old, old); err != nil {
		t.Fatal(err)
	}
	for _, src := range append([]string{img.Binary}, img.Copies["/opt/cni/bin/bridge"], img.Copies["/opt/cni/bin/portmap"], img.Copies["/etc/tool/config"]) {
		older := old.Add(-time.Hour)
		if err := os.Chtimes(src, older, older); err != nil {
			t.Fatal(err)
		}
	}
	if err := img.Build(out); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(out); !st.ModTime().Equal(old) {
		t.Errorf("image repacked though no input changed")
	}
	write("bridge", "bridge plugin v2", 0o755)
	if err := img.Build(out); err != nil {
		t.Fatal(err)
	}
	if e := entries(t, out, img.Ref)["opt/cni/bin/bridge"]; e.content != "bridge plugin v2" {
		t.Errorf("after the copy changed the image holds %q", e.content)
	}

	// One more file, older than the tarball, repacks it too: the definition changed.
	img.Copies["/usr/local/bin/helper"] = write("helper", "helper", 0o755)
	if err := os.Chtimes(img.Copies["/usr/local/bin/helper"], old, old); err != nil {
		t.Fatal(err)
	}
	if err := img.Build(out); err != nil {
		t.Fatal(err)
	}
	if e := entries(t, out, img.Ref)["usr/local/bin/helper"]; e.content != "helper" {
		t.Errorf("an image given one more file was not repacked: it holds %q there", e.content)
	}
}

type entry struct {
	typ     byte
	mode    int64
	content string
}

// entries reads the entries of the image's layer from a docker-archive tarball.
func entries(t *testing.T, path, ref string) map[string]entry {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	image, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatal(err)
	}
	// The one layer as written: mutate.Extract would leave out its directories.
	layers, err := image.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	got := map[string]entry{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = entry{typ: h.Typeflag, mode: h.Mode, content: string(raw)}
	}
	return got
}
