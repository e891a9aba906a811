package certmanager

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func byKindName(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		out[o.GetKind()+" "+o.GetName()] = o
	}
	return out
}

func images(o *unstructured.Unstructured) []string {
	containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	var out []string
	for _, c := range containers {
		out = append(out, fmt.Sprint(c.(map[string]any)["image"]))
	}
	return out
}

// TestRenderChart: the embedded chart renders upstream's static install: the namespace
// first, CRDs, then the three Deployments on upstream's images, webhook configurations
// last; no Helm hook and no Helm label.
func TestRenderChart(t *testing.T) {
	objs, err := RenderChart(nil)
	if err != nil {
		t.Fatal(err)
	}
	if objs[0].GetKind() != "Namespace" || objs[0].GetName() != Namespace {
		t.Errorf("first object is %s %s, want the Namespace", objs[0].GetKind(), objs[0].GetName())
	}
	if last := objs[len(objs)-1].GetKind(); last != "ValidatingWebhookConfiguration" {
		t.Errorf("last object is a %s", last)
	}
	firstDeployment := slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "Deployment" })
	lastCRD := 0
	for i, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			lastCRD = i
		}
		if o.GetLabels()["app.kubernetes.io/managed-by"] != "" || o.GetLabels()["helm.sh/chart"] != "" {
			t.Errorf("%s %s carries Helm's labels", o.GetKind(), o.GetName())
		}
		if o.GetAnnotations()["helm.sh/hook"] != "" {
			t.Errorf("%s %s is a Helm hook", o.GetKind(), o.GetName())
		}
		if o.GetKind() == "Job" {
			t.Errorf("Job %s rendered: startupapicheck must be off", o.GetName())
		}
	}
	if lastCRD > firstDeployment {
		t.Error("a CRD comes after a Deployment")
	}
	objects := byKindName(objs)
	for _, crd := range RequiredCRDs {
		if objects["CustomResourceDefinition "+crd] == nil {
			t.Errorf("CRD %s missing", crd)
		}
	}
	for name, image := range map[string]string{
		"cert-manager":            "quay.io/jetstack/cert-manager-controller:" + EmbeddedVersion,
		"cert-manager-webhook":    "quay.io/jetstack/cert-manager-webhook:" + EmbeddedVersion,
		"cert-manager-cainjector": "quay.io/jetstack/cert-manager-cainjector:" + EmbeddedVersion,
	} {
		d := objects["Deployment "+name]
		if d == nil {
			t.Errorf("Deployment %s missing", name)
			continue
		}
		if got := images(d); len(got) != 1 || got[0] != image {
			t.Errorf("Deployment %s runs %v, want %s", name, got, image)
		}
		if d.GetNamespace() != Namespace {
			t.Errorf("Deployment %s in %q", name, d.GetNamespace())
		}
	}
	if v, err := VersionOf(objs); err != nil || v != EmbeddedVersion {
		t.Errorf("VersionOf = %q, %v", v, err)
	}
}

func TestRenderChartValues(t *testing.T) {
	extra := map[string]any{"imageRegistry": "mirror.example.com", "crds": map[string]any{"enabled": false}, "replicaCount": 2}
	objs, err := RenderChart(extra)
	if err != nil {
		t.Fatal(err)
	}
	objects := byKindName(objs)
	if got := images(objects["Deployment cert-manager"]); got[0] != "mirror.example.com/jetstack/cert-manager-controller:"+EmbeddedVersion {
		t.Errorf("imageRegistry not honoured: %v", got)
	}
	if r, _, _ := unstructured.NestedInt64(objects["Deployment cert-manager"].Object, "spec", "replicas"); r != 2 {
		t.Errorf("replicaCount not honoured: %d", r)
	}
	if objects["CustomResourceDefinition certificates.cert-manager.io"] == nil {
		t.Error("crds.enabled=false dropped the CRDs: kubeseed's own values must win")
	}
	if extra["crds"].(map[string]any)["enabled"] != false {
		t.Error("RenderChart changed the caller's values")
	}
	if _, err := RenderChart(map[string]any{"replicaCount": "many"}); err == nil {
		t.Error("a value the chart's schema refuses was accepted")
	}
}

const smallManifest = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cert-manager
  namespace: cm
  labels: {app.kubernetes.io/name: cert-manager, app.kubernetes.io/component: controller}
spec:
  template:
    spec:
      containers: [{name: controller, image: "registry.example.com:5000/cert-manager-controller:v1.20.1@sha256:abcd"}]
---
# a comment only
---
apiVersion: v1
kind: Namespace
metadata: {name: cm}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
`

func TestParseManifest(t *testing.T) {
	objs, err := ParseManifest([]byte(smallManifest))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	if strings.Join(kinds, ",") != "Namespace,CustomResourceDefinition,Deployment" {
		t.Errorf("order %v", kinds)
	}
	if v, err := VersionOf(objs); err != nil || v != "v1.20.1" {
		t.Errorf("version from the image tag: %q, %v", v, err)
	}
	for _, bad := range []string{"", "---\n", "kind: Namespace\nmetadata: {name: x}\n", "apiVersion: v1\nkind: List\nmetadata: {name: x}\nitems: []\n", "{"} {
		if _, err := ParseManifest([]byte(bad)); err == nil {
			t.Errorf("ParseManifest(%q) accepted it", bad)
		}
	}
	if _, err := VersionOf(objs[:2]); err == nil || !strings.Contains(err.Error(), "no cert-manager controller Deployment") {
		t.Errorf("VersionOf without a controller: %v", err)
	}
}

func TestLoadManifest(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cert-manager.yaml")
	if err := os.WriteFile(file, []byte(smallManifest), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cert-manager.yaml" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(smallManifest))
	}))
	defer srv.Close()
	for _, src := range []Source{{Manifest: file}, {Manifest: srv.URL + "/cert-manager.yaml"}} {
		b, err := src.Load(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if b.Version != "v1.20.1" || len(b.Objects) != 3 || b.From != src.Manifest {
			t.Errorf("%s: %+v", src, b)
		}
	}
	for _, src := range []Source{
		{Manifest: srv.URL + "/missing.yaml"},
		{Manifest: filepath.Join(dir, "missing.yaml")},
		{Manifest: file, Values: map[string]any{"a": 1}},
	} {
		if _, err := src.Load(context.Background()); err == nil {
			t.Errorf("%+v loaded", src)
		}
	}
	b, err := Source{}.Load(context.Background())
	if err != nil || b.Version != EmbeddedVersion || !strings.Contains(b.From, "embedded") {
		t.Errorf("the embedded source: %+v, %v", b, err)
	}
}

func TestImageTag(t *testing.T) {
	for ref, want := range map[string]string{
		"quay.io/jetstack/cert-manager-controller:v1.21.2":               "v1.21.2",
		"quay.io/jetstack/cert-manager-controller":                       "",
		"registry:5000/cert-manager-controller":                          "",
		"registry:5000/cert-manager-controller:v1.2.3@sha256:0123abcdef": "v1.2.3",
		"cert-manager-controller@sha256:0123abcdef":                      "",
	} {
		if got := imageTag(ref); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestOlder(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"v1.20.0", "v1.21.2", true},
		{"v1.21.2", "v1.21.2", false},
		{"v1.22.0", "v1.21.2", false},
		{"", "v1.21.2", false},
		{"latest", "v1.21.2", false},
	} {
		if got := older(c.a, c.b); got != c.want {
			t.Errorf("older(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// manifestOf renders the embedded chart with the controller's version rewritten, as the
// static manifest of another release would be (for the upgrade tests).
func manifestOf(t *testing.T, version string) string {
	t.Helper()
	objs, err := RenderChart(nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, o := range objs {
		raw, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.WriteString(strings.ReplaceAll(string(raw), EmbeddedVersion, version))
	}
	path := filepath.Join(t.TempDir(), "cert-manager-"+version+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
