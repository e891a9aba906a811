package v1alpha1_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/pkg/versions"
)

var samplesDir = filepath.Join("..", "..", "..", "config", "samples")

// runKubectl runs the real kubectl against the envtest apiserver, as a user would.
func runKubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSamplesAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	out, err := runKubectl(t, "apply", "-n", ns, "-f", samplesDir)
	if err != nil {
		t.Fatalf("kubectl apply -f config/samples refused:\n%s", out)
	}
	files, err := filepath.Glob(filepath.Join(samplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found in %s: %v", samplesDir, err)
	}
	if got := strings.Count(out, "created"); got != len(files) {
		t.Errorf("kubectl created %d objects from %d sample files:\n%s", got, len(files), out)
	}
	// A second apply of the same files changes nothing: the schema defaults are stable.
	out, err = runKubectl(t, "apply", "-n", ns, "-f", samplesDir)
	if err != nil || strings.Contains(out, "configured") {
		t.Errorf("re-applying the samples was not a no-op (err %v):\n%s", err, out)
	}
}

// TestInvalidSamplesAreRefused applies each file of config/samples/invalid and expects a
// refusal that names the field given by the file's "# expect:" line.
func TestInvalidSamplesAreRefused(t *testing.T) {
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join(samplesDir, "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid samples found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			field := expectedField(t, f)
			out, err := runKubectl(t, "apply", "-n", ns, "-f", f)
			if err == nil {
				t.Fatalf("kubectl accepted %s, want a refusal naming %s:\n%s", f, field, out)
			}
			if !strings.Contains(out, "is invalid") || !strings.Contains(out, field) {
				t.Errorf("refusal does not name %s:\n%s", field, out)
			}
		})
	}
}

func expectedField(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if field, ok := strings.CutPrefix(s.Text(), "# expect: "); ok {
			return strings.TrimSpace(field)
		}
	}
	t.Fatalf("%s has no '# expect: <field>' line", path)
	return ""
}

// TestCRDAgreesWithVersions guards the one duplication kubebuilder markers force on us: the
// CRD's default and list of accepted versions must be those of pkg/versions.
func TestCRDAgreesWithVersions(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "crd", "bases", "kubeseed.io_tenantclusters.yaml"))
	if err != nil {
		t.Fatalf("read CRD: %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatalf("parse CRD: %v", err)
	}
	version := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["version"]
	if got := strings.Trim(string(version.Default.Raw), `"`); got != versions.Default {
		t.Errorf("CRD defaults spec.version to %s, pkg/versions to %s", got, versions.Default)
	}
	var listed []string
	for _, rule := range version.XValidations {
		if list, ok := strings.CutPrefix(rule.Rule, "self in ["); ok {
			for _, v := range strings.Split(strings.TrimSuffix(list, "]"), ",") {
				listed = append(listed, strings.Trim(strings.TrimSpace(v), "'"))
			}
			if !strings.Contains(rule.Message, strings.Join(versions.Supported, ", ")) {
				t.Errorf("the refusal message %q does not list %v", rule.Message, versions.Supported)
			}
		}
	}
	if !slices.Equal(listed, versions.Supported) {
		t.Errorf("CRD accepts versions %v, pkg/versions supports %v", listed, versions.Supported)
	}
}
