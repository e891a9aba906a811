// Command api-docs writes the API reference, docs/reference/api.md, from two sources:
//
//   - the generated CRDs in config/crd/bases: types, defaults, required fields, enums,
//     validation and CEL rules with their messages, and descriptions, exactly as the API
//     server enforces them (controller-gen made them from the kubebuilder markers);
//   - the Go types in apis/kubeseed/v1alpha1 (go/ast): the order of the fields, the Go type
//     names, and which fields are types of other packages (core/v1, meta/v1), which the
//     reference names and links instead of expanding.
//
// Every Go field must have a property in the CRD and the reverse; a mismatch means the CRDs
// are stale (run `make manifests`) and fails the run.
//
//	go run ./hack/api-docs [-crds config/crd/bases] [-types apis/kubeseed/v1alpha1] [-out docs/reference/api.md]
//
// `make api-docs` runs it; `make verify-generated` fails when the committed page is stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	crds := flag.String("crds", "config/crd/bases", "directory of the generated CRD YAML files")
	types := flag.String("types", "apis/kubeseed/v1alpha1", "directory of the API's Go types")
	out := flag.String("out", "docs/reference/api.md", "the Markdown file to write; - for standard output")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	page, err := generate(*crds, *types)
	if err != nil {
		fmt.Fprintf(os.Stderr, "api-docs: %v\n", err)
		os.Exit(1)
	}
	if *out == "-" {
		_, _ = os.Stdout.Write(page)
		return
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, page) {
		return // unchanged: leave the file and its modification time alone
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "api-docs: %v\n", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, page, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "api-docs: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("api-docs: wrote %s\n", *out)
}

// generate reads the CRDs and the Go types and renders the reference page.
func generate(crdDir, typesDir string) ([]byte, error) {
	pkg, err := parseTypes(typesDir)
	if err != nil {
		return nil, err
	}
	crds, err := readCRDs(crdDir)
	if err != nil {
		return nil, err
	}
	var kinds []*kindDoc
	for _, crd := range crds {
		k, err := buildKind(crd, pkg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", crd.Name, err)
		}
		kinds = append(kinds, k)
	}
	return renderPage(kinds), nil
}
