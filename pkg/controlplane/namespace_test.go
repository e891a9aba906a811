package controlplane_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestNamespaceName: the control-plane namespace's name is readable, a valid namespace name
// whatever the lengths, fixed for a given namespace/name (the CLI and Magnum compute it),
// and different for tenants whose readable parts collide or are cut the same.
func TestNamespaceName(t *testing.T) {
	long := strings.Repeat("n", 63)
	cases := []struct {
		namespace, name string
		want            string // empty: only checked for validity
	}{
		{"project-1", "acme", "kubeseed-project-1-acme-a2683d4d1a"},
		{"demo", "small", ""},
		{long, "acme", ""},
		{long, long[:40], ""},
		{"a-b", "c", ""},
		{"a", "b-c", ""},
		// Cut right after a '-': the name must not end in "--<hash>".
		{strings.Repeat("x", 42) + "-y", "z", ""},
	}
	seen := map[string]string{}
	for _, c := range cases {
		got := controlplane.NamespaceName(c.namespace, c.name)
		if c.want != "" && got != c.want {
			t.Errorf("NamespaceName(%q, %q) = %q, want %q", c.namespace, c.name, got, c.want)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("NamespaceName(%q, %q) = %q is no namespace name: %v", c.namespace, c.name, got, errs)
		}
		if strings.Contains(got, "--") || !strings.HasPrefix(got, controlplane.NamespacePrefix) {
			t.Errorf("NamespaceName(%q, %q) = %q: want the prefix %s and no empty part", c.namespace, c.name, got, controlplane.NamespacePrefix)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%s/%s and %s share the namespace %s", c.namespace, c.name, other, got)
		}
		seen[got] = c.namespace + "/" + c.name
		if again := controlplane.NamespaceName(c.namespace, c.name); again != got {
			t.Errorf("NamespaceName is not deterministic: %q then %q", got, again)
		}
	}
}
