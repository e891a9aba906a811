package charts_test

import (
	"bytes"
	"flag"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/charts"
)

// TestKubeseedRBAC: the ClusterRole grants exactly what controller-gen made of the
// +kubebuilder:rbac markers in controllers/ (config/rbac/role.yaml), so the chart cannot
// drift from the code; and no rule of any role grants a wildcard.
func TestKubeseedRBAC(t *testing.T) {
	generated, err := os.ReadFile("../config/rbac/role.yaml")
	if err != nil {
		t.Fatalf("%v: run `make manifests`", err)
	}
	var want rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(generated, &want); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	if len(want.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	if copied, err := fs.ReadFile(charts.Kubeseed, "files/role.yaml"); err != nil || !bytes.Equal(copied, generated) {
		t.Errorf("charts/kubeseed/files/role.yaml differs from config/rbac/role.yaml (%v): run `make manifests`", err)
	}

	for _, values := range []map[string]any{nil, everything, minimal} {
		objs := renderKubeseed(t, values)
		role := convert[rbacv1.ClusterRole](t, objs["ClusterRole kubeseed-manager"])
		if !equality.Semantic.DeepEqual(role.Rules, want.Rules) {
			t.Errorf("ClusterRole rules differ from config/rbac/role.yaml:\n got %+v\nwant %+v", role.Rules, want.Rules)
		}
		for id, o := range objs {
			if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
				continue
			}
			for _, r := range convert[rbacv1.ClusterRole](t, o).Rules {
				for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.NonResourceURLs} {
					if slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, "*") }) {
						t.Errorf("%s grants a wildcard: %+v", id, r)
					}
				}
			}
		}
	}
}

// TestKubeseedLeaseName: the leader-election Role names the Lease the manager takes, which
// cmd/manager/app sets as its LeaderElectionID.
func TestKubeseedLeaseName(t *testing.T) {
	src, err := os.ReadFile("../cmd/manager/app/app.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`LeaderElectionID:\s*"([^"]+)"`).FindSubmatch(src)
	if m == nil {
		t.Fatal(`no LeaderElectionID: "..." in cmd/manager/app/app.go; update this test`)
	}
	role := convert[rbacv1.Role](t, renderKubeseed(t, nil)["Role kubeseed-manager-leader-election"])
	var named bool
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "leases") && len(r.ResourceNames) > 0 {
			named = true
			if !slices.Equal(r.ResourceNames, []string{string(m[1])}) {
				t.Errorf("the Role names Lease %v, the manager takes %q", r.ResourceNames, m[1])
			}
		}
	}
	if !named {
		t.Error("no Role rule names the manager's Lease")
	}
}

// TestKubeseedFlags: every flag the Deployment passes is one cmd/manager defines: its own
// (read from main.go) or zap's.
func TestKubeseedFlags(t *testing.T) {
	src, err := os.ReadFile("../cmd/manager/main.go")
	if err != nil {
		t.Fatal(err)
	}
	flags := flag.NewFlagSet("manager", flag.ContinueOnError)
	(&zap.Options{}).BindFlags(flags)
	for _, m := range regexp.MustCompile(`flag\.(?:\w+Var\([^,]+,\s*|Func\()"([^"]+)"`).FindAllSubmatch(src, -1) {
		flags.Bool(string(m[1]), false, "")
	}
	if flags.Lookup("leader-elect") == nil {
		t.Fatal("found no flags in cmd/manager/main.go; update this test")
	}
	for _, values := range []map[string]any{nil, everything, minimal} {
		d := convert[appsv1.Deployment](t, renderKubeseed(t, values)["Deployment kubeseed-manager"])
		for _, arg := range d.Spec.Template.Spec.Containers[0].Args {
			name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if flags.Lookup(name) == nil {
				t.Errorf("the manager has no flag --%s (arg %q)", name, arg)
			}
		}
	}
}

// TestKubeseedCRDs: the chart ships every CRD `make manifests` generates, byte for byte, and
// nothing else.
func TestKubeseedCRDs(t *testing.T) {
	read := func(fsys fs.FS) map[string][]byte {
		files := map[string][]byte{}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if data, err := fs.ReadFile(fsys, e.Name()); err != nil {
				t.Fatal(err)
			} else {
				files[e.Name()] = data
			}
		}
		return files
	}
	crds, err := fs.Sub(charts.Kubeseed, "crds")
	if err != nil {
		t.Fatal(err)
	}
	generated, inChart := read(os.DirFS("../config/crd/bases")), read(crds)
	if len(generated) == 0 {
		t.Fatal("no CRDs in config/crd/bases")
	}
	for _, name := range slices.Sorted(maps.Keys(generated)) {
		if got, ok := inChart[name]; !ok {
			t.Errorf("charts/kubeseed/crds/%s is missing: run `make manifests`", name)
		} else if !bytes.Equal(got, generated[name]) {
			t.Errorf("charts/kubeseed/crds/%s differs from config/crd/bases: run `make manifests`", name)
		}
	}
	for name := range inChart {
		if _, ok := generated[name]; !ok {
			t.Errorf("charts/kubeseed/crds/%s is not in config/crd/bases", name)
		}
	}
}
