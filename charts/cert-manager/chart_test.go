package certmanager_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	certmanager "github.com/kubeseed/kubeseed/charts/cert-manager"
)

// TestVersionIsPinnedEverywhere: the embedded chart, the module kubeseed builds against and
// the module the local seed's cert-manager is built from are one release.
func TestVersionIsPinnedEverywhere(t *testing.T) {
	raw, err := fs.ReadFile(certmanager.Chart, "Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct{ Version, AppVersion string }
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Version != certmanager.Version || meta.AppVersion != certmanager.Version {
		t.Errorf("Chart.yaml says version %q, appVersion %q; Version is %q", meta.Version, meta.AppVersion, certmanager.Version)
	}
	require := regexp.MustCompile(`(?m)^\s*github\.com/cert-manager/cert-manager (v\S+)`)
	for _, gomod := range []string{"../../go.mod", "../../hack/cert-manager/go.mod"} {
		data, err := os.ReadFile(gomod)
		if err != nil {
			t.Fatal(err)
		}
		m := require.FindSubmatch(data)
		if m == nil || string(m[1]) != certmanager.Version {
			t.Errorf("%s requires cert-manager %q, the embedded chart is %s", gomod, m, certmanager.Version)
		}
	}
}

// TestChartIsUpstreams compares every embedded file with the module's
// deploy/charts/cert-manager: only Chart.yaml's versions and the lines kubeseed appends to
// .helmignore may differ.
func TestChartIsUpstreams(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	upstream := filepath.Join(strings.TrimSpace(string(out)), "github.com", "cert-manager", "cert-manager@"+certmanager.Version, "deploy", "charts", "cert-manager")
	if _, err := os.Stat(upstream); err != nil {
		t.Skipf("the cert-manager module is not in the module cache (go mod download github.com/cert-manager/cert-manager): %v", err)
	}
	embedded := map[string][]byte{}
	if err := fs.WalkDir(certmanager.Chart, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		embedded[p], err = fs.ReadFile(certmanager.Chart, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// What upstream's own .helmignore leaves out of a packaged chart.
	skip := map[string]bool{"README.template.md": true, ".gitignore": true, "signkey_annotation.txt": true, "values.linter.exceptions": true}
	seen := 0
	err = filepath.WalkDir(upstream, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(upstream, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "tests" {
				return fs.SkipDir
			}
			return nil
		}
		if skip[rel] {
			return nil
		}
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got, ok := embedded[rel]
		switch {
		case !ok:
			t.Errorf("%s of upstream's chart is not embedded", rel)
			return nil
		case rel == "Chart.yaml":
			want = bytes.ReplaceAll(want, []byte("version: v0.0.0"), []byte("version: "+certmanager.Version))
			want = bytes.ReplaceAll(want, []byte("appVersion: v0.0.0"), []byte("appVersion: "+certmanager.Version))
			if !bytes.Equal(got, want) {
				t.Errorf("Chart.yaml differs from upstream's beyond its versions")
			}
		case rel == ".helmignore":
			if !bytes.HasPrefix(got, want) {
				t.Errorf(".helmignore does not start with upstream's")
			}
		case !bytes.Equal(got, want):
			t.Errorf("%s differs from upstream's", rel)
		}
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(embedded) {
		t.Errorf("%d files embedded, %d in upstream's chart", len(embedded), seen)
	}
}
