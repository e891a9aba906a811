package render_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kubeseed/kubeseed/pkg/render"
)

const chartYAML = "apiVersion: v2\nname: test\nversion: 0.1.0\n"

// chart is a small chart exercising what Render must cope with: several documents per
// template, empty documents, a template that renders nothing, NOTES.txt, a partial, and
// kinds in an order Helm would not install them in.
func chart(extra map[string]string) fstest.MapFS {
	files := map[string]string{
		"Chart.yaml":  chartYAML,
		"values.yaml": "replicas: 1\nname: default\nenabled: false\n",
		"templates/_helpers.tpl": `{{- define "test.labels" -}}
app: {{ .Values.name }}
{{- end -}}`,
		"templates/NOTES.txt": "Installed {{ .Values.name }}.",
		"templates/workloads.yaml": `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Values.name }}-b
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "test.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
---
# only a comment
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Values.name }}-z
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Values.name }}-a
`,
		"templates/policy.yaml": `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ .Values.name }}
`,
		"templates/optional.yaml": `{{- if .Values.enabled }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: optional
{{- end }}
`,
	}
	for k, v := range extra {
		if v == "" {
			delete(files, k)
			continue
		}
		files[k] = v
	}
	fsys := fstest.MapFS{}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return fsys
}

// values are typed, as kubeseed passes them: the templates see the json names.
type values struct {
	Name     string `json:"name"`
	Replicas int32  `json:"replicas"`
	Enabled  bool   `json:"enabled"`
}

func TestRender(t *testing.T) {
	objs, err := render.Render(chart(nil), "rel", "ns1", values{Name: "acme", Replicas: 3})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	// Helm's install order by kind, then by name.
	want := []string{"NetworkPolicy/acme", "Service/acme-z", "Deployment/acme-a", "Deployment/acme-b"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("objects %v, want %v", got, want)
	}
	b := objs[3]
	if b.GetNamespace() != "ns1" || b.GetLabels()["app"] != "acme" {
		t.Errorf("release namespace or partial not applied: %v", b.Object["metadata"])
	}
	// Integers are int64, as apimachinery's converters expect.
	if r, ok := b.Object["spec"].(map[string]any)["replicas"].(int64); !ok || r != 3 {
		t.Errorf("replicas = %#v, want int64 3", b.Object["spec"].(map[string]any)["replicas"])
	}
}

func TestRenderMergesChartDefaults(t *testing.T) {
	objs, err := render.Render(chart(nil), "rel", "ns1", map[string]any{"enabled": true})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	names := map[string]bool{}
	for _, o := range objs {
		names[o.GetName()] = true
	}
	if !names["default-a"] || !names["optional"] {
		t.Errorf("values.yaml defaults or overrides not applied: %v", names)
	}
	if _, err := render.Render(chart(nil), "rel", "ns1", nil); err != nil {
		t.Errorf("nil values: %v", err)
	}
}

func TestRenderHonoursHelmignore(t *testing.T) {
	fsys := chart(map[string]string{
		".helmignore":           "templates/broken.yaml\n",
		"templates/broken.yaml": "{{ .Values.nope.deeper }}",
	})
	if _, err := render.Render(fsys, "rel", "ns1", values{Name: "acme"}); err != nil {
		t.Errorf("an ignored template was rendered: %v", err)
	}
}

func TestRenderErrors(t *testing.T) {
	cases := []struct {
		name   string
		fsys   fstest.MapFS
		values any
		want   []string // substrings of the error
	}{
		{
			name: "no Chart.yaml",
			fsys: chart(map[string]string{"Chart.yaml": ""}),
			want: []string{"load chart", "Chart.yaml"},
		},
		{
			name:   "values that are not an object",
			fsys:   chart(nil),
			values: []string{"a"},
			want:   []string{"render chart test", "JSON object"},
		},
		{
			name:   "a value nobody set (strict)",
			fsys:   chart(map[string]string{"templates/typo.yaml": "x: {{ .Values.nickname }}"}),
			values: values{Name: "acme"},
			want:   []string{"render chart test", "typo.yaml", "nickname"},
		},
		{
			name:   "broken YAML",
			fsys:   chart(map[string]string{"templates/broken.yaml": "kind: ConfigMap\n  apiVersion: v1\n bad"}),
			values: values{Name: "acme"},
			want:   []string{"test/templates/broken.yaml", "document 1"},
		},
		{
			name:   "no kind",
			fsys:   chart(map[string]string{"templates/nokind.yaml": "apiVersion: v1\nmetadata:\n  name: x\n"}),
			values: values{Name: "acme"},
			want:   []string{"nokind.yaml", "Kind"},
		},
		{
			name:   "no name",
			fsys:   chart(map[string]string{"templates/noname.yaml": "apiVersion: v1\nkind: ConfigMap\n"}),
			values: values{Name: "acme"},
			want:   []string{"noname.yaml", "no metadata.name"},
		},
		{
			name:   "the same object twice",
			fsys:   chart(map[string]string{"templates/twice.yaml": "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {{ .Values.name }}\n"}),
			values: values{Name: "acme"},
			want:   []string{"NetworkPolicy.networking.k8s.io /acme is also rendered by"},
		},
		{
			name:   "fail in a template",
			fsys:   chart(map[string]string{"templates/fail.yaml": `{{ fail "values are inconsistent" }}`}),
			values: values{Name: "acme"},
			want:   []string{"values are inconsistent"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := render.Render(c.fsys, "rel", "", c.values)
			if err == nil {
				t.Fatal("Render succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestText renders one template to text with Render's engine: strict, no cluster (lookup
// finds nothing), the same bytes for the same values.
func TestText(t *testing.T) {
	fsys := chart(map[string]string{
		"templates/user-data.txt": "#cloud-config\n# {{ .Values.name }} x{{ .Values.replicas }}\n# found {{ len (lookup \"v1\" \"Secret\" \"ns\" \"x\") }}\n",
	})
	cases := []struct {
		name     string
		fsys     fstest.MapFS
		template string
		values   any
		want     string
		wantErr  []string
	}{
		{name: "one template", fsys: fsys, template: "templates/user-data.txt", values: values{Name: "acme", Replicas: 3},
			want: "#cloud-config\n# acme x3\n# found 0\n"},
		{name: "chart defaults", fsys: fsys, template: "templates/user-data.txt", values: nil, want: "#cloud-config\n# default x1\n# found 0\n"},
		{name: "no such template", fsys: fsys, template: "templates/nope.txt", wantErr: []string{"render chart test", "no template templates/nope.txt"}},
		{name: "strict", fsys: chart(map[string]string{"templates/t.txt": "{{ .Values.nickname }}"}), template: "templates/t.txt",
			wantErr: []string{"render chart test", "nickname"}},
		{name: "values not an object", fsys: fsys, template: "templates/user-data.txt", values: []string{"a"}, wantErr: []string{"JSON object"}},
		{name: "no chart", fsys: chart(map[string]string{"Chart.yaml": ""}), template: "templates/user-data.txt", wantErr: []string{"load chart"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := render.Text(c.fsys, c.template, c.values)
			if len(c.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Text = %q, want an error", got)
				}
				for _, w := range c.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Text: %v", err)
			}
			if got != c.want {
				t.Errorf("Text = %q, want %q", got, c.want)
			}
			if again, _ := render.Text(c.fsys, c.template, c.values); again != got {
				t.Errorf("a second render differs: %q", again)
			}
		})
	}
}
