package main

import (
	"bytes"
	"go/parser"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TestField renders one field from a schema, as controller-gen writes it, and its Go type.
func TestField(t *testing.T) {
	cases := []struct {
		name     string
		path     string // the field's path; spec.field when empty
		goType   string // a Go type expression; corev1 and resource are imported
		schema   string // the field's schema in the CRD
		required bool
		want     []string // lines of the rendered section
		notWant  []string
	}{{
		name:   "default and enum",
		path:   "spec.endpoint.type",
		goType: "EndpointType",
		schema: `
type: string
default: LoadBalancer
description: Type is LoadBalancer, NodePort or Octavia.
enum: [LoadBalancer, NodePort, Octavia]`,
		want: []string{
			"### `spec.endpoint.type`",
			"string, optional, default `LoadBalancer`",
			"Type is LoadBalancer, NodePort or Octavia.",
			"- one of `LoadBalancer`, `NodePort`, `Octavia`",
		},
	}, {
		name:   "CEL rules, bounds and an integer default",
		goType: "*int32",
		schema: `
type: integer
format: int32
default: 3
x-kubernetes-validations:
- message: spec.controlPlane.etcd.replicas must be 1, 3 or 5
  rule: self in [1, 3, 5]
- message: spec.controlPlane.etcd.replicas may not be lowered
  rule: self >= oldSelf`,
		want: []string{
			"int32, optional, default `3`",
			"- `spec.controlPlane.etcd.replicas must be 1, 3 or 5` (CEL: `self in [1, 3, 5]`)",
			"- `spec.controlPlane.etcd.replicas may not be lowered` (CEL: `self >= oldSelf`)",
		},
	}, {
		name:     "required with bounds",
		goType:   "int32",
		required: true,
		schema: `
type: integer
format: int32
minimum: 1
maximum: 500`,
		want: []string{"int32, **required**", "- from 1 to 500"},
	}, {
		name:   "a rule reported at a child field",
		path:   "spec.network",
		goType: "NetworkSpec",
		schema: `
type: object
x-kubernetes-validations:
- fieldPath: .podCIDR
  message: spec.network.podCIDR must not overlap spec.network.serviceCIDR
  rule: '!cidr(self.serviceCIDR).containsIP(cidr(self.podCIDR).ip())'`,
		want: []string{
			"object (`NetworkSpec`), optional",
			"- `spec.network.podCIDR must not overlap spec.network.serviceCIDR`, reported at `spec.network.podCIDR` (CEL: `!cidr(self.serviceCIDR).containsIP(cidr(self.podCIDR).ip())`)",
		},
	}, {
		name:   "a quantity hides its pattern",
		goType: "*resource.Quantity",
		schema: `
anyOf: [{type: integer}, {type: string}]
default: 8Gi
pattern: ^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))$
x-kubernetes-int-or-string: true`,
		want:    []string{"quantity, optional, default `8Gi`"},
		notWant: []string{"matches"},
	}, {
		name:   "map values with their own rule",
		goType: "map[string]EvictionThreshold",
		schema: `
type: object
maxProperties: 8
additionalProperties:
  type: string
  maxLength: 16
  x-kubernetes-validations:
  - message: values must be a quantity or a percentage
    rule: self.matches('^[0-9]+%$')`,
		want: []string{
			"map[string]string, optional",
			"- at most 8 entries",
			"- each value: at most 16 characters",
			"- each value: `values must be a quantity or a percentage` (CEL: `self.matches('^[0-9]+%$')`)",
		},
	}, {
		name:   "a set of strings",
		goType: "[]string",
		schema: `
type: array
maxItems: 32
items: {type: string, maxLength: 253}
x-kubernetes-list-type: set`,
		want: []string{"[]string, optional", "- at most 32 items", "- no duplicate items", "- each item: at most 253 characters"},
	}, {
		name:   "a type of another package is linked, not expanded",
		goType: "*corev1.ResourceRequirements",
		schema: `
type: object
description: Resources overrides the default requests and limits.
properties:
  limits: {type: object}
  requests: {type: object}`,
		want: []string{
			"[core/v1.ResourceRequirements](https://pkg.go.dev/k8s.io/api/core/v1#ResourceRequirements) (`limits`, `requests`), optional",
		},
	}, {
		name:   "angle brackets outside code are escaped",
		goType: "string",
		schema: `
type: string
description: |-
  Names the Secret <name>-kubeconfig
  (the Cluster API convention: ` + "`<name>-kubeconfig`" + `).`,
		want: []string{"Names the Secret &lt;name>-kubeconfig (the Cluster API convention: `<name>-kubeconfig`)."},
	}}
	imports := map[string]string{"corev1": "k8s.io/api/core/v1", "resource": "k8s.io/apimachinery/pkg/api/resource"}
	pkg := &goPackage{
		structs: map[string][]goField{"NetworkSpec": nil},
		named:   map[string]bool{"EndpointType": true, "EvictionThreshold": true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expr, err := parser.ParseExpr(c.goType)
			if err != nil {
				t.Fatal(err)
			}
			gt, err := typeOf(expr, imports)
			if err != nil {
				t.Fatal(err)
			}
			s := &apiextensionsv1.JSONSchemaProps{}
			if err := yaml.UnmarshalStrict([]byte(c.schema), s); err != nil {
				t.Fatal(err)
			}
			path := c.path
			if path == "" {
				path = "spec.field"
			}
			w := &walker{pkg: pkg}
			if err := w.field(path, gt, s, c.required); err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			renderField(&b, w.fields[0])
			got := b.String()
			lines := strings.Split(got, "\n")
			for _, want := range c.want {
				if !contains(lines, want) {
					t.Errorf("no line %q in\n%s", want, got)
				}
			}
			for _, bad := range c.notWant {
				if strings.Contains(got, bad) {
					t.Errorf("%q should not appear in\n%s", bad, got)
				}
			}
		})
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

const testTypes = `package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type Widget struct {
	metav1.TypeMeta   ` + "`json:\",inline\"`" + `
	metav1.ObjectMeta ` + "`json:\"metadata,omitempty\"`" + `
	Spec WidgetSpec ` + "`json:\"spec\"`" + `
}

type WidgetSpec struct {
	Common ` + "`json:\",inline\"`" + `
	Size   string                      ` + "`json:\"size\"`" + `
	Secret corev1.LocalObjectReference ` + "`json:\"secret\"`" + `
}

type Common struct {
	Replicas *int32 ` + "`json:\"replicas,omitempty\"`" + `
}
`

const testCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget, shortNames: [wd]}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: Widget is a test kind.
        required: [spec]
        x-kubernetes-validations:
        - {message: metadata.name is too long, rule: size(self.metadata.name) <= 40}
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [size, secret]
            properties:
              size: {type: string, enum: [S, M]}
              replicas: {type: integer, format: int32, default: 1}
              secret:
                type: object
                properties:
                  name: {type: string, default: ""}
`

// TestGenerate runs the whole generator on a small API: Go order and inline fields, the
// kind's table, and refusing a CRD that disagrees with the Go types.
func TestGenerate(t *testing.T) {
	cases := []struct {
		name    string
		crd     string
		want    []string
		wantErr string
	}{{
		name: "in Go order, inline fields expanded",
		crd:  testCRD,
		want: []string{
			"| short names | `wd` |",
			"- `metadata.name is too long` (CEL: `size(self.metadata.name) <= 40`)",
			"| [`spec`](#spec) | object (`WidgetSpec`) |  | required |\n" +
				"| [`spec.replicas`](#specreplicas) | int32 | `1` |  |\n" +
				"| [`spec.size`](#specsize) | string |  | required |\n" +
				"| [`spec.secret`](#specsecret) | [core/v1.LocalObjectReference](https://pkg.go.dev/k8s.io/api/core/v1#LocalObjectReference) (`name`) |  | required |\n",
		},
	}, {
		name:    "a Go field the CRD lacks",
		crd:     strings.Replace(testCRD, "              size: {type: string, enum: [S, M]}\n", "", 1),
		wantErr: "spec: the Go field WidgetSpec.Size (json \"size\") has no property in the CRD; run `make manifests`",
	}, {
		name:    "a CRD property the Go types lack",
		crd:     strings.Replace(testCRD, "              size:", "              colour: {type: string}\n              size:", 1),
		wantErr: "spec: the CRD property \"colour\" has no field in the Go type WidgetSpec; run `make manifests`",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			types, crds := filepath.Join(dir, "types"), filepath.Join(dir, "crds")
			for path, content := range map[string]string{
				filepath.Join(types, "widget_types.go"):         testTypes,
				filepath.Join(crds, "example.com_widgets.yaml"): c.crd,
			} {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			page, err := generate(crds, types)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range c.want {
				if !strings.Contains(string(page), want) {
					t.Errorf("no %q in\n%s", want, page)
				}
			}
		})
	}
}

func TestAnchors(t *testing.T) {
	a := newAnchors()
	for _, c := range []struct{ heading, want string }{
		{"API reference", "api-reference"},
		{"TenantCluster", "tenantcluster"},
		{"spec", "spec"},
		{"spec.controlPlane.apiServer.replicas", "speccontrolplaneapiserverreplicas"},
		{"status.conditions", "statusconditions"},
		{"WorkerPool", "workerpool"},
		{"spec", "spec-1"},
		{"status.conditions", "statusconditions-1"},
		{"spec-1", "spec-1-1"},
		{"spec", "spec-2"},
	} {
		if got := a.heading(c.heading); got != c.want {
			t.Errorf("heading(%q) = %q, want %q", c.heading, got, c.want)
		}
	}
}

func TestCode(t *testing.T) {
	for in, want := range map[string]string{
		"plain":         "`plain`",
		"run `make` it": "`` run `make` it ``",
		"``x``":         "``` ``x`` ```",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReferenceIsCurrent fails when docs/reference/api.md is not what the CRDs and the Go
// types give: run `make api-docs`.
func TestReferenceIsCurrent(t *testing.T) {
	want, err := generate("../../config/crd/bases", "../../apis/kubeseed/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/reference/api.md")
	if err != nil {
		t.Fatalf("%v: run `make api-docs`", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/reference/api.md is stale: run `make api-docs`")
	}
}
