package controlplane

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// crdField is each component's property under spec.controlPlane in the CRD.
var crdField = map[Component]string{APIServer: "apiServer", ControllerManager: "controllerManager", Scheduler: "scheduler"}

// listLiteral finds the CEL list literals of flag names in a rule or message expression.
var listLiteral = regexp.MustCompile(`in \[('[^']*'(?:, '[^']*')*)\]`)

func celList(t *testing.T, expr string) []string {
	t.Helper()
	m := listLiteral.FindAllStringSubmatch(expr, -1)
	if len(m) != 1 {
		t.Fatalf("want exactly one list of flags in %q, found %d", expr, len(m))
	}
	var names []string
	for _, item := range strings.Split(m[0][1], ", ") {
		names = append(names, strings.Trim(item, "'"))
	}
	return names
}

// TestCRDAllowsTheSameFlags: the CEL rules that refuse extraArgs at admission, in the
// generated CRD, carry exactly the lists the controller checks (allowedFlags). Change both
// the markers in apis/kubeseed/v1alpha1 and allowedFlags, then `make manifests`.
func TestCRDAllowsTheSameFlags(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "kubeseed.io_tenantclusters.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	if len(crd.Spec.Versions) != 1 {
		t.Fatalf("want one version in the CRD, got %d", len(crd.Spec.Versions))
	}
	cp := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["controlPlane"]
	for c, field := range crdField {
		t.Run(field, func(t *testing.T) {
			want := allowedFlags[c]
			found := 0
			for _, v := range cp.Properties[field].XValidations {
				if !strings.Contains(v.Rule, "self.extraArgs.all(") {
					continue
				}
				found++
				if got := celList(t, v.Rule); !slices.Equal(got, want) {
					t.Errorf("the CRD's rule allows\n%v\nthe controller allows\n%v", got, want)
				}
				if got := celList(t, v.MessageExpression); !slices.Equal(got, want) {
					t.Errorf("the CRD's messageExpression lists\n%v\nthe controller allows\n%v", got, want)
				}
				if prefix := "spec.controlPlane." + field + ".extraArgs: "; !strings.HasPrefix(v.Message, prefix) || !strings.Contains(v.Message, "docs/tenantcluster.md") {
					t.Errorf("message %q does not start with %q and point at docs/tenantcluster.md", v.Message, prefix)
				}
			}
			if found != 1 {
				t.Errorf("want one extraArgs allow-list rule on spec.controlPlane.%s, found %d", field, found)
			}
		})
	}
}

// TestAllowedFlagsLeaveKubeseedsAlone: no allowed flag replaces one kubeseed sets (an
// appended flag adds to it), and the lists are sorted flag names without duplicates.
func TestAllowedFlagsLeaveKubeseedsAlone(t *testing.T) {
	nw, err := networkOf(v1alpha1.NetworkSpec{})
	if err != nil {
		t.Fatal(err)
	}
	api := apiServerFlags("acme", "ns", nw, "203.0.113.10")
	api["egress-selector-config-file"] = egressSelectorFile
	own := map[Component]flags{APIServer: api, ControllerManager: controllerManagerFlags("acme", nw), Scheduler: schedulerFlags()}
	for c, allowed := range allowedFlags {
		if !slices.IsSorted(allowed) || len(slices.Compact(slices.Clone(allowed))) != len(allowed) {
			t.Errorf("%s: allowedFlags are not sorted and unique: %v", c, allowed)
		}
		for _, name := range allowed {
			if !flagName.MatchString(name) {
				t.Errorf("%s: %q is not a flag name", c, name)
			}
			if _, set := own[c][name]; set && !slices.Contains(appendedFlags[c], name) {
				t.Errorf("%s: --%s is set by kubeseed and may not be allowed in extraArgs", c, name)
			}
		}
	}
	for c, appended := range appendedFlags {
		for _, name := range appended {
			if _, set := own[c][name]; !set || !slices.Contains(allowedFlags[c], name) {
				t.Errorf("%s: appended flag --%s must be both kubeseed's and allowed", c, name)
			}
		}
	}
	if got := slices.Sorted(maps.Keys(crdField)); len(got) != len(allowedFlags) {
		t.Errorf("components with extraArgs: %v, allowedFlags has %d", got, len(allowedFlags))
	}
}

// TestSizeFlagsAreAllowed: every tuning flag a size sets is one a customer may override, and
// an override wins.
func TestSizeFlagsAreAllowed(t *testing.T) {
	for _, size := range Sizes() {
		for _, c := range []Component{APIServer, ControllerManager, Scheduler} {
			for name := range sizeFlags(c, size, nil) {
				if !slices.Contains(allowedFlags[c], name) {
					t.Errorf("%s/%s: --%s is tuned by the size but not allowed in extraArgs", size, c, name)
				}
			}
		}
	}
	// A customer's leader-election flag replaces the size's three: a lease of 30 s beside
	// the size's 40 s renew deadline would stop the scheduler from starting.
	extra := map[string]string{"--leader-elect-lease-duration": "30s"}
	args, err := withExtraArgs(Scheduler, schedulerFlags(), sizeFlags(Scheduler, v1alpha1.ControlPlaneSizeTiny, extra), extra)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range args {
		if strings.HasPrefix(a, "--leader-elect-") && a != "--leader-elect-lease-duration=30s" {
			t.Errorf("args %v: %s left beside the customer's lease duration", args, a)
		}
	}
	if !slices.Contains(args, "--leader-elect-lease-duration=30s") || !slices.Contains(args, "--profiling=false") {
		t.Errorf("args %v: want the customer's lease duration and the size's --profiling=false", args)
	}
	if _, ok := sizeFlags(ControllerManager, v1alpha1.ControlPlaneSizeSmall, map[string]string{"v": "2"})["leader-elect-retry-period"]; !ok {
		t.Errorf("an unrelated extra argument dropped the size's leader-election flags")
	}
}
