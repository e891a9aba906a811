package charts_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// TestEmbedsEveryFile: the embedded chart is the directory on disk, partials and dotfiles
// included.
func TestEmbedsEveryFile(t *testing.T) {
	var embedded, onDisk []string
	if err := fs.WalkDir(charts.TenantControlPlane, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			embedded = append(embedded, p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	root := "tenant-control-plane"
	if err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			onDisk = append(onDisk, filepath.ToSlash(rel))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(embedded, onDisk) {
		t.Errorf("embedded %v, on disk %v", embedded, onDisk)
	}
	if !slices.Contains(embedded, "templates/_helpers.tpl") {
		t.Errorf("templates/_helpers.tpl is not embedded")
	}
}

// TestLint runs Helm's linter on the embedded chart, with its own values.yaml and with
// values ValuesFor computes for an HA tenant, and fails on any warning or error.
func TestLint(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, charts.TenantControlPlane); err != nil {
		t.Fatalf("copy the embedded chart: %v", err)
	}
	kubeVersion, err := chartutil.ParseKubeVersion(versions.Seed)
	if err != nil {
		t.Fatal(err)
	}

	tc := &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "project-1234"},
		Spec: v1alpha1.TenantClusterSpec{ControlPlane: v1alpha1.ControlPlaneSpec{
			APIServer: v1alpha1.APIServerSpec{ComponentSpec: v1alpha1.ComponentSpec{
				ExtraArgs: map[string]string{"v": "2"},
			}},
			Etcd: v1alpha1.EtcdSpec{Replicas: ptr.To[int32](5), Storage: v1alpha1.EtcdStorageSpec{StorageClassName: ptr.To("fast")}},
		}},
	}
	v, err := controlplane.ValuesFor(tc, controlplane.Inputs{NodePort: 31443, PriorityClassName: "kubeseed-control-plane"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var ha map[string]any
	if err := yaml.Unmarshal(raw, &ha); err != nil {
		t.Fatal(err)
	}

	for name, c := range map[string]struct {
		values    map[string]any
		namespace string
	}{
		"values.yaml": {nil, "default"},
		"ha":          {ha, "project-1234"},
	} {
		t.Run(name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(dir, c.values, c.namespace, kubeVersion)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("%v", m)
				} else {
					t.Logf("%v", m)
				}
			}
		})
	}
}

// forbidden are template functions that make a render depend on something besides its
// values: the cluster, the clock, randomness, DNS. A controller re-renders on every
// reconcile, so any of them means endless diffs (or new keys on every pass).
var forbidden = []string{
	"lookup", "now", "date", "dateInZone", "unixEpoch", "htmlDate", "htmlDateInZone", "ago",
	"genCA", "genCAWithKey", "genPrivateKey", "genSelfSignedCert", "genSelfSignedCertWithKey",
	"genSignedCert", "genSignedCertWithKey", "derivePassword", "encryptAES", "decryptAES",
	"randAlphaNum", "randAlpha", "randNumeric", "randAscii", "randBytes", "randInt", "shuffle",
	"uuidv4", "getHostByName", "env", "expandenv",
}

var (
	action  = regexp.MustCompile(`(?s){{.*?}}`)
	comment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	quoted  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|` + "`[^`]*`")
	word    = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
)

// TestTemplatesArePure scans every template action for the forbidden functions (comments
// and string literals aside). .Capabilities is refused too: the seed's version must not
// change the shape.
func TestTemplatesArePure(t *testing.T) {
	err := fs.WalkDir(charts.TenantControlPlane, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(charts.TenantControlPlane, p)
		if err != nil {
			return err
		}
		for _, a := range action.FindAllString(string(data), -1) {
			code := quoted.ReplaceAllString(comment.ReplaceAllString(a, ""), `""`)
			for _, w := range word.FindAllString(code, -1) {
				if slices.Contains(forbidden, w) {
					t.Errorf("%s: %q uses %s", p, strings.TrimSpace(a), w)
				}
			}
			if strings.Contains(code, ".Capabilities") {
				t.Errorf("%s: %q reads .Capabilities", p, strings.TrimSpace(a))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestForbiddenScanWorks guards the scanner itself against a regexp that matches nothing.
func TestForbiddenScanWorks(t *testing.T) {
	tpl := `a: {{ lookup "v1" "Secret" "ns" "x" }}
b: {{/* now is fine in a comment */}} {{ "randAlphaNum in a string" | quote }}
c: {{- genCA "x" 365 -}}`
	var hits []string
	for _, a := range action.FindAllString(tpl, -1) {
		code := quoted.ReplaceAllString(comment.ReplaceAllString(a, ""), `""`)
		for _, w := range word.FindAllString(code, -1) {
			if slices.Contains(forbidden, w) {
				hits = append(hits, w)
			}
		}
	}
	if !slices.Equal(hits, []string{"lookup", "genCA"}) {
		t.Errorf("scanner found %v, want [lookup genCA]", hits)
	}
}
