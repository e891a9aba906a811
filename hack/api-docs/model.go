package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// kindDoc is everything the reference says about one kind.
type kindDoc struct {
	Group, Version, Kind, ListKind, Plural, Scope string
	ShortNames, Categories                        []string
	Subresources                                  []string
	Columns                                       []string
	Description                                   string
	// Rules are the CEL rules on the whole object (metadata.name, ...).
	Rules  []rule
	Fields []field
}

// field is one row of the reference: a field path and what the schema says about it.
type field struct {
	Path        string
	Type        string
	Default     string
	Required    bool
	Checks      []string // validation other than CEL, in words
	Rules       []rule
	Description string
}

// rule is a CEL validation rule (x-kubernetes-validations).
type rule struct {
	// Scope is empty for a rule on the field itself, "each item" or "each value" for one on
	// the items of a list or the values of a map.
	Scope   string
	Message string
	// MessageExpression is a CEL expression that computes the message, when given.
	MessageExpression string
	Rule              string
	// FieldPath is where the API server reports the failure, relative to the field.
	FieldPath string
}

// readCRDs reads every CRD in dir, sorted by kind.
func readCRDs(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(raw, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			return nil, fmt.Errorf("%s: kind %q, want CustomResourceDefinition", path, crd.Kind)
		}
		crds = append(crds, crd)
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", dir)
	}
	sort.Slice(crds, func(i, j int) bool { return crds[i].Spec.Names.Kind < crds[j].Spec.Names.Kind })
	return crds, nil
}

// buildKind walks the served version of crd along the Go type of its kind.
func buildKind(crd *apiextensionsv1.CustomResourceDefinition, pkg *goPackage) (*kindDoc, error) {
	var version *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if v := &crd.Spec.Versions[i]; v.Served && v.Storage {
			version = v
		}
	}
	if version == nil || version.Schema == nil || version.Schema.OpenAPIV3Schema == nil {
		return nil, fmt.Errorf("no served storage version with a schema")
	}
	names := crd.Spec.Names
	k := &kindDoc{
		Group: crd.Spec.Group, Version: version.Name, Kind: names.Kind, ListKind: names.ListKind,
		Plural: names.Plural, Scope: string(crd.Spec.Scope),
		ShortNames: names.ShortNames, Categories: names.Categories,
	}
	if sr := version.Subresources; sr != nil {
		if sr.Status != nil {
			k.Subresources = append(k.Subresources, "status")
		}
		if sc := sr.Scale; sc != nil {
			s := fmt.Sprintf("scale (replicas `%s`, observed `%s`", sc.SpecReplicasPath, sc.StatusReplicasPath)
			if sc.LabelSelectorPath != nil {
				s += fmt.Sprintf(", selector `%s`", *sc.LabelSelectorPath)
			}
			k.Subresources = append(k.Subresources, s+")")
		}
	}
	for _, c := range version.AdditionalPrinterColumns {
		k.Columns = append(k.Columns, c.Name)
	}
	root := version.Schema.OpenAPIV3Schema
	k.Description = root.Description
	k.Rules = rulesOf("", root.XValidations)

	w := &walker{pkg: pkg}
	// The kind's own struct: TypeMeta (apiVersion, kind) and ObjectMeta (metadata) are
	// Kubernetes' and not described here.
	skip := map[string]bool{"apiVersion": true, "kind": true, "metadata": true}
	if err := w.object("", names.Kind, root, skip); err != nil {
		return nil, err
	}
	k.Fields = w.fields
	return k, nil
}

type walker struct {
	pkg    *goPackage
	fields []field
}

// object adds the fields of Go struct typeName, described by schema s, under path.
func (w *walker) object(path, typeName string, s *apiextensionsv1.JSONSchemaProps, skip map[string]bool) error {
	goFields, err := w.pkg.fields(typeName)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, f := range goFields {
		if f.Inline { // an embedded type of another package: metav1.TypeMeta
			continue
		}
		seen[f.JSON] = true
		if skip[f.JSON] {
			continue
		}
		prop, ok := s.Properties[f.JSON]
		if !ok {
			return fmt.Errorf("%s: the Go field %s.%s (json %q) has no property in the CRD; run `make manifests`",
				orRoot(path), typeName, f.Name, f.JSON)
		}
		if err := w.field(joinPath(path, f.JSON), f.Type, &prop, slices.Contains(s.Required, f.JSON)); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(s.Properties) {
		if !seen[name] && !skip[name] {
			return fmt.Errorf("%s: the CRD property %q has no field in the Go type %s; run `make manifests`",
				orRoot(path), name, typeName)
		}
	}
	return nil
}

func (w *walker) field(path string, t goType, s *apiextensionsv1.JSONSchemaProps, required bool) error {
	if err := w.known(t); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	w.fields = append(w.fields, field{
		Path:        path,
		Type:        w.typeOf(t, s),
		Default:     defaultOf(s),
		Required:    required,
		Checks:      checksOf(s, t),
		Rules:       allRules(s),
		Description: s.Description,
	})
	switch {
	case w.isStruct(t):
		return w.object(path, t.Local, s, nil)
	case t.Slice != nil && w.isStruct(*t.Slice):
		if s.Items == nil || s.Items.Schema == nil {
			return fmt.Errorf("%s: a list without an item schema", path)
		}
		return w.object(path+"[]", t.Slice.Local, s.Items.Schema, nil)
	case t.Map != nil && w.isStruct(*t.Map):
		if s.AdditionalProperties == nil || s.AdditionalProperties.Schema == nil {
			return fmt.Errorf("%s: a map without a value schema", path)
		}
		return w.object(path+".*", t.Map.Local, s.AdditionalProperties.Schema, nil)
	}
	return nil
}

// known checks that every type of the package t names is declared there.
func (w *walker) known(t goType) error {
	switch {
	case t.Slice != nil:
		return w.known(*t.Slice)
	case t.Map != nil:
		return w.known(*t.Map)
	case t.Local != "" && !w.isStruct(t) && !w.pkg.named[t.Local]:
		return fmt.Errorf("type %s is not declared in the API package", t.Local)
	}
	return nil
}

func (w *walker) isStruct(t goType) bool {
	_, ok := w.pkg.structs[t.Local]
	return t.Local != "" && ok
}

// typeOf names a field's type as it appears in YAML, with the Go type of objects.
func (w *walker) typeOf(t goType, s *apiextensionsv1.JSONSchemaProps) string {
	switch {
	case t.External == "k8s.io/apimachinery/pkg/api/resource.Quantity":
		return "quantity"
	case t.External != "":
		return externalType(t.External, s)
	case w.isStruct(t):
		return fmt.Sprintf("object (`%s`)", t.Local)
	case t.Slice != nil:
		elem := w.typeOf(*t.Slice, itemSchema(s))
		if strings.HasPrefix(elem, "[") {
			// A link follows: "[]" would read as the start of a Markdown link.
			return `\[\]` + elem
		}
		return "[]" + elem
	case t.Map != nil:
		return "map[string]" + w.typeOf(*t.Map, valueSchema(s))
	case s == nil:
		return typeName(t)
	}
	switch s.Type {
	case "integer":
		if s.Format != "" {
			return s.Format
		}
		return "integer"
	case "":
		if s.XIntOrString {
			return "int or string"
		}
		return "any"
	}
	return s.Type
}

// externalType links a type of another package to its Go documentation and names its
// fields; the reference does not expand it.
func externalType(full string, s *apiextensionsv1.JSONSchemaProps) string {
	dot := strings.LastIndex(full, ".")
	path, name := full[:dot], full[dot+1:]
	short := path
	if parts := strings.Split(path, "/"); len(parts) >= 2 {
		short = parts[len(parts)-2] + "/" + parts[len(parts)-1]
	}
	out := fmt.Sprintf("[%s.%s](https://pkg.go.dev/%s#%s)", short, name, path, name)
	if s != nil && s.Type == "array" && s.Items != nil && s.Items.Schema != nil {
		s = s.Items.Schema
	}
	if s != nil && len(s.Properties) > 0 {
		var names []string
		for _, n := range sortedKeys(s.Properties) {
			names = append(names, "`"+n+"`")
		}
		out += " (" + strings.Join(names, ", ") + ")"
	}
	return out
}

func itemSchema(s *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	if s == nil || s.Items == nil {
		return nil
	}
	return s.Items.Schema
}

func valueSchema(s *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	if s == nil || s.AdditionalProperties == nil {
		return nil
	}
	return s.AdditionalProperties.Schema
}

// defaultOf is the schema's default as it would be written in YAML: a string bare, anything
// else as JSON.
func defaultOf(s *apiextensionsv1.JSONSchemaProps) string {
	if s.Default == nil || len(s.Default.Raw) == 0 {
		return ""
	}
	var str string
	if err := json.Unmarshal(s.Default.Raw, &str); err == nil {
		return str
	}
	return string(s.Default.Raw)
}

// checksOf puts the schema's structural validation of a field, its list items and its map
// values into words.
func checksOf(s *apiextensionsv1.JSONSchemaProps, t goType) []string {
	quantity := t.External == "k8s.io/apimachinery/pkg/api/resource.Quantity"
	out := checks(s, quantity)
	if items := itemSchema(s); items != nil {
		for _, c := range checks(items, false) {
			out = append(out, "each item: "+c)
		}
	}
	if values := valueSchema(s); values != nil {
		valueQuantity := t.Map != nil && t.Map.External == "k8s.io/apimachinery/pkg/api/resource.Quantity"
		for _, c := range checks(values, valueQuantity) {
			out = append(out, "each value: "+c)
		}
	}
	return out
}

func checks(s *apiextensionsv1.JSONSchemaProps, quantity bool) []string {
	var out []string
	if len(s.Enum) > 0 {
		var vals []string
		for _, e := range s.Enum {
			var str string
			if err := json.Unmarshal(e.Raw, &str); err == nil {
				vals = append(vals, "`"+str+"`")
			} else {
				vals = append(vals, "`"+string(e.Raw)+"`")
			}
		}
		out = append(out, "one of "+strings.Join(vals, ", "))
	}
	if c := bounds(s.Minimum, s.Maximum, s.ExclusiveMinimum, s.ExclusiveMaximum); c != "" {
		out = append(out, c)
	}
	if c := sizes(s.MinLength, s.MaxLength, "character"); c != "" {
		out = append(out, c)
	}
	if c := sizes(s.MinItems, s.MaxItems, "item"); c != "" {
		out = append(out, c)
	}
	if c := sizes(s.MinProperties, s.MaxProperties, "entry"); c != "" {
		out = append(out, c)
	}
	if s.Pattern != "" && !quantity {
		out = append(out, "matches `"+s.Pattern+"`")
	}
	switch {
	case s.XListType != nil && *s.XListType == "set":
		out = append(out, "no duplicate items")
	case s.XListType != nil && *s.XListType == "map":
		keys := make([]string, len(s.XListMapKeys))
		for i, k := range s.XListMapKeys {
			keys[i] = "`" + k + "`"
		}
		out = append(out, "items are unique by "+strings.Join(keys, ", "))
	}
	return out
}

func bounds(lo, hi *float64, exclLo, exclHi bool) string {
	num := func(f float64) string { return fmt.Sprintf("%g", f) }
	switch {
	case lo != nil && hi != nil && !exclLo && !exclHi:
		return fmt.Sprintf("from %s to %s", num(*lo), num(*hi))
	}
	var parts []string
	if lo != nil {
		op := "at least "
		if exclLo {
			op = "more than "
		}
		parts = append(parts, op+num(*lo))
	}
	if hi != nil {
		op := "at most "
		if exclHi {
			op = "less than "
		}
		parts = append(parts, op+num(*hi))
	}
	return strings.Join(parts, ", ")
}

// sizes says how many characters, items or entries are allowed.
func sizes(lo, hi *int64, unit string) string {
	plural := func(n int64) string {
		switch {
		case n == 1:
			return unit
		case strings.HasSuffix(unit, "y"):
			return strings.TrimSuffix(unit, "y") + "ies"
		default:
			return unit + "s"
		}
	}
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf("%d to %d %s", *lo, *hi, plural(*hi))
	case hi != nil:
		return fmt.Sprintf("at most %d %s", *hi, plural(*hi))
	case lo != nil:
		return fmt.Sprintf("at least %d %s", *lo, plural(*lo))
	}
	return ""
}

// allRules are the CEL rules of a field, its list items and its map values.
func allRules(s *apiextensionsv1.JSONSchemaProps) []rule {
	out := rulesOf("", s.XValidations)
	if items := itemSchema(s); items != nil {
		out = append(out, rulesOf("each item", items.XValidations)...)
	}
	if values := valueSchema(s); values != nil {
		out = append(out, rulesOf("each value", values.XValidations)...)
	}
	return out
}

func rulesOf(scope string, vs apiextensionsv1.ValidationRules) []rule {
	var out []rule
	for _, v := range vs {
		out = append(out, rule{
			Scope: scope, Message: v.Message, MessageExpression: v.MessageExpression,
			Rule: v.Rule, FieldPath: v.FieldPath,
		})
	}
	return out
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
