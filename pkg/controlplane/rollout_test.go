package controlplane_test

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

func TestStampWorkloads(t *testing.T) {
	dep := func(image string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "acme-kube-apiserver"},
			"spec": map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": "kube-apiserver", "image": image}}}}},
		}}
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}}}
	a, b, c := dep("k:v1.36.3"), dep("k:v1.36.3"), dep("k:v1.36.4")
	sa, err := controlplane.StampWorkloads([]*unstructured.Unstructured{a, cm}, "v0.2.0")
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := controlplane.StampWorkloads([]*unstructured.Unstructured{b}, "v0.3.0")
	sc, _ := controlplane.StampWorkloads([]*unstructured.Unstructured{c}, "v0.3.0")
	name := "acme-kube-apiserver"
	if len(sa) != 1 || sa[name].Release != "v0.2.0" || sa[name].Hash == "" || cm.GetAnnotations() != nil {
		t.Fatalf("stamps %+v, ConfigMap annotations %v", sa, cm.GetAnnotations())
	}
	if got := a.GetAnnotations()[controlplane.TemplateHashAnnotation]; got != sa[name].Hash {
		t.Errorf("annotation %q, stamp %q", got, sa[name].Hash)
	}
	if sa[name].Hash != sb[name].Hash || sa[name].Hash == sc[name].Hash {
		t.Errorf("hashes: same template %s/%s, other image %s", sa[name].Hash, sb[name].Hash, sc[name].Hash)
	}
	// Replicas are not the template: scaling rolls nothing.
	b.Object["spec"].(map[string]any)["replicas"] = int64(3)
	sb2, _ := controlplane.StampWorkloads([]*unstructured.Unstructured{b}, "v0.3.0")
	if sb2[name].Hash != sa[name].Hash {
		t.Error("replicas changed the template hash")
	}
}

func TestOperatorRollouts(t *testing.T) {
	const rel = "v0.3.0"
	desired := map[string]controlplane.Stamp{"api": {rel, "h2"}, "cm": {rel, "c1"}, "new": {rel, "n1"}}
	for _, tc := range []struct {
		name string
		live map[string]controlplane.Stamp
		want []string
	}{
		{"an older release rendered a template that changes", map[string]controlplane.Stamp{"api": {"v0.2.0", "h1"}, "cm": {"v0.2.0", "c1"}}, []string{"api"}},
		{"before stamps: unknown hash and release", map[string]controlplane.Stamp{"api": {}, "cm": {}}, []string{"api", "cm"}},
		{"this release rendered it: the change is the tenant's or a renewal", map[string]controlplane.Stamp{"api": {rel, "h1"}}, nil},
		{"nothing changes", map[string]controlplane.Stamp{"api": {"v0.2.0", "h2"}, "cm": {"v0.2.0", "c1"}}, nil},
		{"a new workload rolls nothing", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := controlplane.OperatorRollouts(tc.live, desired, rel); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
