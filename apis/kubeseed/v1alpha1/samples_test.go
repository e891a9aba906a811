//go:build envtest

package v1alpha1_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
