package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// goPackage is what the reference needs of the API's Go types.
type goPackage struct {
	// structs holds the fields of every struct type, in source order, by type name.
	structs map[string][]goField
	// named lists every other type the package declares (EndpointType, ...).
	named map[string]bool
}

// goField is one field of a struct type.
type goField struct {
	// Name is the Go name (the type's name for an embedded field).
	Name string
	// JSON is the name in JSON; empty for an inline field.
	JSON string
	// Inline: an embedded field whose fields appear in the parent (`json:",inline"`).
	Inline bool
	Type   goType
}

// goType is a field's type, pointers removed.
type goType struct {
	// Exactly one of the following describes it.
	Local    string  // a type declared in the API package
	External string  // import path and name, e.g. "k8s.io/api/core/v1.ResourceRequirements"
	Builtin  string  // string, bool, int32, ...
	Slice    *goType // []Elem
	Map      *goType // map[string]Elem
}

// parseTypes reads the non-test, non-generated Go files of dir.
func parseTypes(dir string) (*goPackage, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	pkg := &goPackage{structs: map[string][]goField{}, named: map[string]bool{}}
	fset := token.NewFileSet()
	for _, path := range files {
		base := filepath.Base(path)
		if strings.HasSuffix(base, "_test.go") || strings.HasPrefix(base, "zz_generated") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if err := pkg.addFile(f); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if len(pkg.structs) == 0 {
		return nil, fmt.Errorf("no Go struct types in %s", dir)
	}
	return pkg, nil
}

func (p *goPackage) addFile(f *ast.File) error {
	imports := map[string]string{} // local name -> import path
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return err
		}
		name := filepath.Base(path)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		imports[name] = path
	}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.TYPE {
			continue
		}
		for _, spec := range gen.Specs {
			ts := spec.(*ast.TypeSpec)
			st, isStruct := ts.Type.(*ast.StructType)
			if !isStruct {
				p.named[ts.Name.Name] = true
				continue
			}
			fields, err := structFields(st, imports)
			if err != nil {
				return fmt.Errorf("type %s: %w", ts.Name.Name, err)
			}
			p.structs[ts.Name.Name] = fields
		}
	}
	return nil
}

func structFields(st *ast.StructType, imports map[string]string) ([]goField, error) {
	var out []goField
	for _, f := range st.Fields.List {
		t, err := typeOf(f.Type, imports)
		if err != nil {
			return nil, err
		}
		jsonName, opts := "", ""
		if f.Tag != nil {
			tag, err := strconv.Unquote(f.Tag.Value)
			if err != nil {
				return nil, err
			}
			jsonName, opts, _ = strings.Cut(reflect.StructTag(tag).Get("json"), ",")
		}
		if jsonName == "-" {
			continue
		}
		names := f.Names
		if len(names) == 0 { // embedded
			name := typeName(t)
			inline := slices.Contains(strings.Split(opts, ","), "inline")
			if !inline && jsonName == "" {
				return nil, fmt.Errorf("embedded field %s has neither a json name nor inline", name)
			}
			out = append(out, goField{Name: name, JSON: jsonName, Inline: inline && jsonName == "", Type: t})
			continue
		}
		for _, n := range names {
			if !n.IsExported() {
				continue
			}
			if jsonName == "" {
				return nil, fmt.Errorf("field %s has no json tag", n.Name)
			}
			out = append(out, goField{Name: n.Name, JSON: jsonName, Type: t})
		}
	}
	return out, nil
}

func typeOf(e ast.Expr, imports map[string]string) (goType, error) {
	switch e := e.(type) {
	case *ast.StarExpr:
		return typeOf(e.X, imports)
	case *ast.Ident:
		if ast.IsExported(e.Name) {
			return goType{Local: e.Name}, nil
		}
		return goType{Builtin: e.Name}, nil
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return goType{}, fmt.Errorf("unexpected type expression %T", e.X)
		}
		path, ok := imports[x.Name]
		if !ok {
			return goType{}, fmt.Errorf("unknown package %s", x.Name)
		}
		return goType{External: path + "." + e.Sel.Name}, nil
	case *ast.ArrayType:
		if e.Len != nil {
			return goType{}, errors.New("arrays are not supported, only slices")
		}
		elem, err := typeOf(e.Elt, imports)
		return goType{Slice: &elem}, err
	case *ast.MapType:
		if k, ok := e.Key.(*ast.Ident); !ok || k.Name != "string" {
			return goType{}, errors.New("only maps with string keys are supported")
		}
		elem, err := typeOf(e.Value, imports)
		return goType{Map: &elem}, err
	default:
		return goType{}, fmt.Errorf("unsupported type expression %T", e)
	}
}

// typeName is a short Go spelling of t, for messages.
func typeName(t goType) string {
	switch {
	case t.Local != "":
		return t.Local
	case t.External != "":
		return t.External
	case t.Builtin != "":
		return t.Builtin
	case t.Slice != nil:
		return "[]" + typeName(*t.Slice)
	default:
		return "map[string]" + typeName(*t.Map)
	}
}

// fields returns the fields of struct type name with inline fields of the package's own
// types expanded, and the external inline fields (metav1.TypeMeta) left for the caller.
func (p *goPackage) fields(name string) ([]goField, error) {
	fields, ok := p.structs[name]
	if !ok {
		return nil, fmt.Errorf("no struct type %s in the API package", name)
	}
	var out []goField
	for _, f := range fields {
		if f.Inline && f.Type.Local != "" {
			inner, err := p.fields(f.Type.Local)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		out = append(out, f)
	}
	return out, nil
}
