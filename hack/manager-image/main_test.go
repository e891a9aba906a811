package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// goBuild builds a static program printing msg, as make manager-image builds the manager.
func goBuild(t *testing.T, dir, msg string) string {
	t.Helper()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\""+msg+"\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "manager")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	bin := goBuild(t, dir, "one")
	out := filepath.Join(dir, "images", "kubeseed-manager.tar")
	const ref = "kubeseed/manager:dev"

	for i, want := range []bool{true, false} {
		built, err := build(bin, out, ref, "amd64")
		if err != nil {
			t.Fatal(err)
		}
		if built != want {
			t.Errorf("run %d: built %v, want %v", i+1, built, want)
		}
	}

	tag, _ := name.NewTag(ref)
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" || !slices.Equal(cfg.Config.Entrypoint, []string{"/manager"}) || cfg.Architecture != "amd64" || cfg.OS != "linux" {
		t.Errorf("config %+v (%s/%s): want user 65532:65532, entrypoint /manager, linux/amd64", cfg.Config, cfg.OS, cfg.Architecture)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}

	// Same content under a new modification time: nothing to do.
	later := fileTime(t, out).Add(time.Second)
	if err := os.Chtimes(bin, later, later); err != nil {
		t.Fatal(err)
	}
	if built, err := build(bin, out, ref, "amd64"); err != nil || built {
		t.Errorf("touched binary: built %v, %v; want false", built, err)
	}

	// New content: rebuilt, with a new digest.
	goBuild(t, dir, "two")
	if built, err := build(bin, out, ref, "amd64"); err != nil || !built {
		t.Fatalf("changed binary: built %v, %v; want true", built, err)
	}
	img, err = tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := img.Digest(); err != nil || d == digest {
		t.Errorf("digest %v (%v) after the binary changed, want a new one", d, err)
	}
}

func TestBuildRefuses(t *testing.T) {
	dir := t.TempDir()
	bin := goBuild(t, dir, "x")
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, binary, ref, arch string }{
		{"not an executable", script, "kubeseed/manager:dev", "amd64"},
		{"wrong architecture", bin, "kubeseed/manager:dev", "arm64"},
		{"unknown architecture", bin, "kubeseed/manager:dev", "s390x"},
		{"bad name", bin, "Kubeseed/Manager:dev", "amd64"},
		{"missing binary", filepath.Join(dir, "nothing"), "kubeseed/manager:dev", "amd64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name+".tar")
			if _, err := build(c.binary, out, c.ref, c.arch); err == nil {
				t.Error("no error")
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("wrote the tarball anyway")
			}
		})
	}
}

func fileTime(t *testing.T, path string) time.Time {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.ModTime()
}

func TestBuildEntrypoint(t *testing.T) {
	dir := t.TempDir()
	bin := goBuild(t, dir, "tunnel")
	out := filepath.Join(dir, "images", "kubeseed-tunnel.tar")
	const ref = "kubeseed/tunnel:dev"
	if built, err := buildAt(bin, out, ref, "amd64", "/kubeseed-tunnel"); err != nil || !built {
		t.Fatalf("built %v, %v", built, err)
	}
	tag, _ := name.NewTag(ref)
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/kubeseed-tunnel"}) || cfg.Config.Labels["org.opencontainers.image.title"] != "kubeseed-tunnel" {
		t.Errorf("config %+v: want entrypoint /kubeseed-tunnel titled kubeseed-tunnel", cfg.Config)
	}
	// The same binary at another path is another image.
	if built, err := buildAt(bin, out, ref, "amd64", "/tunnel"); err != nil || !built {
		t.Errorf("new entrypoint: built %v, %v; want true", built, err)
	}
	for _, bad := range []string{"kubeseed-tunnel", "/", "/a/../b"} {
		if _, err := buildAt(bin, out, ref, "amd64", bad); err == nil {
			t.Errorf("entrypoint %q: no error", bad)
		}
	}
}
