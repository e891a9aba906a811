package controlplane_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestValuesYAMLMirrorsGo keeps the chart's values.yaml equal to ValuesFor of the tenant it
// documents, so `helm lint` and `helm template` see what kubeseed renders, and no key of
// values.yaml is unknown to the Go type (it would leak into every render).
func TestValuesYAMLMirrorsGo(t *testing.T) {
	raw, err := fs.ReadFile(charts.TenantControlPlane, "values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var fromChart map[string]any
	if err := yaml.Unmarshal(raw, &fromChart); err != nil {
		t.Fatalf("parse values.yaml: %v", err)
	}
	example := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Name: "example", Namespace: "default"}}
	fromGo := asMap(t, mustValues(t, example, controlplane.Inputs{}))
	if !reflect.DeepEqual(fromChart, fromGo) {
		want, _ := yaml.Marshal(fromGo)
		got, _ := yaml.Marshal(fromChart)
		t.Errorf("values.yaml differs from ValuesFor(example):\n%s", lineDiff(string(want), string(got)))
	}
}

// TestValuesHaveNoNulls: Helm deletes a key whose value is null, and the strict engine then
// fails on it; every field must marshal to a value.
func TestValuesHaveNoNulls(t *testing.T) {
	for _, c := range goldenCases {
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case nil:
				t.Errorf("%s: %s is null", c.name, path)
			case map[string]any:
				for k, e := range v {
					walk(path+"."+k, e)
				}
			case []any:
				for i, e := range v {
					walk(fmt.Sprintf("%s[%d]", path, i), e)
				}
			}
		}
		walk("", asMap(t, mustValues(t, c.tc, c.in)))
	}
}

func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	return reflect.DeepEqual(asMap(t, a), asMap(t, b))
}
