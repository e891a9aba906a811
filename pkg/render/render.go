// Package render renders a Helm chart in-process into Kubernetes objects (Render), or one
// template of it into text (Text), with Helm's template engine and nothing else: no release
// state, no cluster, no lookup. A render is a pure function of the chart and the values, so
// a controller can re-render on every reconcile and apply the result.
//
// This package is internal to kubeseed: no compatibility guarantee.
package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/ignore"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Render renders the chart rooted at chartFS (the directory holding Chart.yaml) as release
// releaseName in namespace, with values: any value that marshals to a JSON object, usually
// a typed struct. It returns the objects sorted the way Helm installs them (by kind), then
// by namespace and name.
//
// The engine runs in strict mode: a template reading a value that does not exist fails the
// render instead of printing nothing. Templates see Helm's default capabilities; they must
// not depend on the cluster.
func Render(chartFS fs.FS, releaseName, namespace string, values any) ([]*unstructured.Unstructured, error) {
	ch, err := LoadChart(chartFS)
	if err != nil {
		return nil, err
	}
	manifests, err := execute(ch, chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace}, values)
	if err != nil {
		return nil, err
	}
	objs, err := decode(manifests)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", ch.Name(), err)
	}
	return objs, nil
}

// Text renders the one template templateName (a path in fsys, e.g.
// "templates/user-data.yaml") of the chart rooted at fsys to text, for a chart whose output
// is no Kubernetes objects: a #cloud-config document, say. The engine is Render's: strict,
// Helm's default capabilities, no cluster. The release is named after the chart, in no
// namespace; the template should not depend on either.
func Text(fsys fs.FS, templateName string, values any) (string, error) {
	ch, err := LoadChart(fsys)
	if err != nil {
		return "", err
	}
	out, err := execute(ch, chartutil.ReleaseOptions{Name: ch.Name()}, values)
	if err != nil {
		return "", err
	}
	// The engine names its outputs chart name/template path.
	doc, ok := out[path.Join(ch.Name(), templateName)]
	if !ok {
		return "", fmt.Errorf("render chart %s: no template %s", ch.Name(), templateName)
	}
	return doc, nil
}

// execute runs every template of ch in strict mode (a template reading a value that does
// not exist fails instead of printing nothing) as the first install of release rel, and
// returns the output by template name.
func execute(ch *chart.Chart, rel chartutil.ReleaseOptions, values any) (map[string]string, error) {
	vals, err := toValues(values)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", ch.Name(), err)
	}
	rel.Revision, rel.IsInstall = 1, true
	renderVals, err := chartutil.ToRenderValues(ch, vals, rel, chartutil.DefaultCapabilities.Copy())
	if err != nil {
		return nil, fmt.Errorf("render chart %s: prepare values: %w", ch.Name(), err)
	}
	// A zero Engine has no client: lookup answers an empty map. Templates must not use it.
	out, err := engine.Engine{Strict: true}.Render(ch, renderVals)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", ch.Name(), err)
	}
	return out, nil
}

// LoadChart reads every file of fsys the way helm's directory loader does (.helmignore and
// its defaults honoured) and hands them to loader.LoadFiles.
func LoadChart(fsys fs.FS) (*chart.Chart, error) {
	rules := ignore.Empty()
	if data, err := fs.ReadFile(fsys, ignore.HelmIgnore); err == nil {
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("load chart: parse %s: %w", ignore.HelmIgnore, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load chart: read %s: %w", ignore.HelmIgnore, err)
	}
	rules.AddDefaults()

	var files []*loader.BufferedFile
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if rules.Ignore(name, info) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", name)
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: name, Data: bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	return ch, nil
}

// toValues turns typed values into the map Helm expects, through their JSON form, so the
// templates see the json field names.
func toValues(values any) (map[string]any, error) {
	if values == nil {
		return map[string]any{}, nil
	}
	data, err := json.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("marshal values: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("values must marshal to a JSON object: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// decode parses every rendered manifest into objects. Empty documents (a template whose
// condition was false) are skipped, and so are NOTES.txt and partials, which are not
// manifests.
func decode(manifests map[string]string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(manifests)) {
		base := path.Base(name)
		if base == "NOTES.txt" || strings.HasPrefix(base, "_") {
			continue
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests[name])))
		for doc := 1; ; doc++ {
			raw, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: read document %d: %w", name, doc, err)
			}
			obj, err := decodeDocument(raw)
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", name, doc, err)
			}
			if obj == nil {
				continue
			}
			id := obj.GroupVersionKind().GroupKind().String() + " " + obj.GetNamespace() + "/" + obj.GetName()
			if other, dup := seen[id]; dup {
				return nil, fmt.Errorf("%s: %s is also rendered by %s", name, id, other)
			}
			seen[id] = name
			objs = append(objs, obj)
		}
	}
	sortObjects(objs)
	return objs, nil
}

func decodeDocument(raw []byte) (*unstructured.Unstructured, error) {
	data, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, nil
	}
	// UnmarshalJSON keeps integers as int64, as the rest of apimachinery expects, and
	// refuses a document without apiVersion or kind.
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	if obj.GetName() == "" {
		return nil, fmt.Errorf("%s has no metadata.name", obj.GetKind())
	}
	return obj, nil
}

// sortObjects orders objects as Helm installs them (namespaces, policies and Services
// before workloads), then by kind, namespace and name, so equal inputs give equal lists.
func sortObjects(objs []*unstructured.Unstructured) {
	rank := func(kind string) int {
		if i := slices.Index(releaseutil.InstallOrder, kind); i >= 0 {
			return i
		}
		return len(releaseutil.InstallOrder) // unknown kinds last, like Helm
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		if d := rank(a.GetKind()) - rank(b.GetKind()); d != 0 {
			return d
		}
		for _, pair := range [][2]string{
			{a.GetKind(), b.GetKind()},
			{a.GetAPIVersion(), b.GetAPIVersion()},
			{a.GetNamespace(), b.GetNamespace()},
			{a.GetName(), b.GetName()},
		} {
			if c := strings.Compare(pair[0], pair[1]); c != 0 {
				return c
			}
		}
		return 0
	})
}
