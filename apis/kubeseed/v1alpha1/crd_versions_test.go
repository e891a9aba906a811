package v1alpha1_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/pkg/versions"
)

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
