//go:build envtest

package tenantcluster_test

import (
	"path/filepath"
	"testing"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/testenv"
)

// FuzzTenantClusterSpec sends fuzzed TenantCluster specs through the real apiserver (CRD
// schema and CEL) and the running reconciler: refused with a message naming a field, or
// reconciled with no panic, no TerminalError, no InvalidSpec condition, settled, at most 24
// reconciles a minute once settled, and deleted cleanly. Seeds: config/samples (good and
// bad) and testdata/fuzz/FuzzTenantClusterSpec. `make fuzz` explores for FUZZTIME.
func FuzzTenantClusterSpec(f *testing.F) {
	seeds, err := testenv.SampleSpecs(filepath.Join("..", ".."), "TenantCluster")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	gate := testenv.AddMutations(f, seeds)
	ns := &testNamespace{}
	fz := &testenv.SpecFuzzer{
		Client: k8sClient, GVK: v1alpha1.GroupVersion.WithKind("TenantCluster"), Controller: "tenantcluster",
		Check: testenv.NoInvalidSpec(v1alpha1.EndpointReadyCondition), MaxPerMinute: 24,
	}
	f.Fuzz(func(t *testing.T, spec []byte) {
		gate(t, spec)
		fz.Namespace = ns.get(t)
		fz.Run(t, spec)
	})
}

// testNamespace is made once, by the first input (a fuzz worker has no *testing.T before).
type testNamespace struct{ name string }

func (n *testNamespace) get(t *testing.T) string {
	if n.name == "" {
		n.name = newNamespace(t) // not deleted: every input of this worker uses it
	}
	return n.name
}
