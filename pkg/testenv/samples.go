package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// SampleSpecs returns the .spec, as JSON, of every sample of kind under config/samples and
// config/samples/invalid (root is the repository's root): fuzz seeds that start from what
// users are shown, good and bad.
func SampleSpecs(root, kind string) ([][]byte, error) {
	var out [][]byte
	for _, dir := range []string{"config/samples", "config/samples/invalid"} {
		paths, err := filepath.Glob(filepath.Join(root, dir, "*.yaml"))
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			raw, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(raw, &u.Object); err != nil {
				return nil, fmt.Errorf("sample %s: %w", p, err)
			}
			if u.GetKind() != kind {
				continue
			}
			spec, err := json.Marshal(u.Object["spec"])
			if err != nil {
				return nil, err
			}
			out = append(out, spec)
		}
	}
	return out, nil
}

// NoInvalidSpec refuses a status condition with reason InvalidSpec: the controller found
// the spec unrealisable after admission accepted it, which admission should have refused.
// The conditions named in cloudVerdicts are exempt: there the cloud judges the spec (a
// subnet that does not exist in the customer's project), which admission cannot know.
func NoInvalidSpec(cloudVerdicts ...string) func(*unstructured.Unstructured) error {
	return func(u *unstructured.Unstructured) error {
		raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		b, err := json.Marshal(raw)
		if err != nil {
			return err
		}
		var conds []metav1.Condition
		if err := json.Unmarshal(b, &conds); err != nil {
			return err
		}
		cloudSaid := slices.ContainsFunc(conds, func(c metav1.Condition) bool {
			return c.Reason == "InvalidSpec" && slices.Contains(cloudVerdicts, c.Type)
		})
		for _, c := range conds {
			exempt := slices.Contains(cloudVerdicts, c.Type) || (cloudSaid && c.Type == "Ready") // Ready repeats the cause
			if c.Reason == "InvalidSpec" && !exempt {
				return fmt.Errorf("condition %s is InvalidSpec: %s", c.Type, c.Message)
			}
		}
		return nil
	}
}
