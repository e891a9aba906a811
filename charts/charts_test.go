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
	"github.com/kubeseed/kubeseed/pkg/addons"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// TestEmbedsEveryFile: each embedded chart is the directory on disk, partials and dotfiles
// included.
func TestEmbedsEveryFile(t *testing.T) {
	for _, c := range []struct {
		dir  string
		fsys fs.FS
	}{
		{"tenant-control-plane", charts.TenantControlPlane},
		{"kubeseed", charts.Kubeseed},
		{"tenant-addons", charts.TenantAddons},
	} {
		t.Run(c.dir, func(t *testing.T) {
			var embedded, onDisk []string
			if err := fs.WalkDir(c.fsys, ".", func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					embedded = append(embedded, p)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(c.dir, p)
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
		})
	}
}

// TestLint runs Helm's linter on the embedded charts and fails on any warning or error:
// tenant-control-plane with its own values.yaml and with values ValuesFor computes for an
// HA tenant with an autoscaler; kubeseed with its defaults and with every optional part
// switched on or off.
func TestLint(t *testing.T) {
	tcpDir, kubeseedDir, addonsDir := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.CopyFS(tcpDir, charts.TenantControlPlane); err != nil {
		t.Fatalf("copy the embedded chart: %v", err)
	}
	if err := os.CopyFS(addonsDir, charts.TenantAddons); err != nil {
		t.Fatalf("copy the embedded chart: %v", err)
	}
	if err := os.CopyFS(kubeseedDir, charts.Kubeseed); err != nil {
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
	av, err := addons.ValuesFor(&v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "project-1234"},
		Spec: v1alpha1.TenantClusterSpec{Network: v1alpha1.NetworkSpec{
			ServiceCIDR: "172.20.0.0/16", PodCIDR: "172.16.0.0/14", DNSDomain: "acme.internal",
		}},
	}, addons.Inputs{
		Endpoint: "https://203.0.113.10:6443",
		Versions: v1alpha1.AddonVersions{
			KubernetesVersion: "v1.34.4", KubeProxy: "v1.34.4", CoreDNS: "v1.12.4", Flannel: versions.Flannel, KubeRouter: versions.KubeRouter,
		},
		ImageRegistry: "registry.example.com/k8s",
	})
	if err != nil {
		t.Fatal(err)
	}
	addonsCustom := toMap(t, av)
	// With the autoscaler, which only some tenants run, so that its templates are linted too.
	v, err := controlplane.ValuesFor(tc, controlplane.Inputs{NodePort: 31443, PriorityClassName: "kubeseed-control-plane", Autoscaler: true})
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
		dir       string
		values    map[string]any
		namespace string
	}{
		"tenant-control-plane/values.yaml": {tcpDir, nil, "default"},
		"tenant-control-plane/ha":          {tcpDir, ha, "project-1234"},
		"kubeseed/values.yaml":             {kubeseedDir, nil, "kubeseed-system"},
		"kubeseed/everything":              {kubeseedDir, everything, "kubeseed-system"},
		"kubeseed/minimal":                 {kubeseedDir, minimal, "kubeseed-system"},
		"tenant-addons/values.yaml":        {addonsDir, nil, "kube-system"},
		"tenant-addons/custom":             {addonsDir, addonsCustom, "kube-system"},
	} {
		t.Run(name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(c.dir, c.values, c.namespace, kubeVersion)
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
//
// The kubeseed chart is held to the same rule: kubeseed and `make demo` install it through
// the Helm SDK, and an install, an upgrade and `helm template` must agree.
func TestTemplatesArePure(t *testing.T) {
	for name, fsys := range map[string]fs.FS{
		"tenant-control-plane": charts.TenantControlPlane, "kubeseed": charts.Kubeseed, "tenant-addons": charts.TenantAddons,
		"worker-cloud-init": charts.WorkerCloudInit,
	} {
		t.Run(name, func(t *testing.T) {
			err := fs.WalkDir(fsys, "templates", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := fs.ReadFile(fsys, p)
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
		})
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

// toMap turns typed values into what Helm's linter takes.
func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
