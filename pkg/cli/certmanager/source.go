// Package certmanager puts cert-manager into a seed for `kubeseed seed bootstrap`, or finds
// the one already there: kubeseed issues every tenant certificate through it.
//
// What is installed is upstream's cert-manager, by name: either the chart embedded in
// kubeseed (charts/cert-manager, upstream's deploy/charts/cert-manager of one release)
// rendered the way upstream renders the static cert-manager.yaml of a release, or such a
// static manifest given as a file or URL. The objects are server-side applied with the field
// manager FieldOwner, which is also how a later run recognises an install of its own. A
// cert-manager that kubeseed did not install is never changed: when its version is not the
// one wanted, Ensure refuses and says so.
package certmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	certmanagerchart "github.com/kubeseed/kubeseed/charts/cert-manager"
	"github.com/kubeseed/kubeseed/pkg/render"
)

// Names of the embedded install, and the labels upstream's chart gives cert-manager's
// objects (the local seed's cert-manager carries the same name and component labels).
const (
	// Namespace and ReleaseName of the embedded chart's install, as upstream's static
	// manifest has them.
	Namespace   = "cert-manager"
	ReleaseName = "cert-manager"

	// FieldOwner is the server-side apply field manager of what kubeseed installs.
	FieldOwner = "kubeseed-bootstrap"

	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"
	LabelVersion   = "app.kubernetes.io/version"

	// NameValue and ControllerComponent select the cert-manager controller's Deployment.
	NameValue           = "cert-manager"
	ControllerComponent = "controller"
)

// EmbeddedVersion is the release of the embedded chart.
const EmbeddedVersion = certmanagerchart.Version

// UpstreamManifestURL is where upstream publishes the static manifest of a release.
func UpstreamManifestURL(version string) string {
	return "https://github.com/cert-manager/cert-manager/releases/download/" + version + "/cert-manager.yaml"
}

// Source says where the objects of an install come from.
type Source struct {
	// Manifest is a file or an http(s) URL of a static cert-manager manifest, such as
	// UpstreamManifestURL(version). Empty means the embedded chart.
	Manifest string
	// Values are laid over the embedded chart's values, like helm's --set (for example
	// imageRegistry=registry.example.com to pull through a mirror). Not with Manifest.
	Values map[string]any
	// HTTPClient fetches a Manifest URL; nil is a client with a one-minute timeout.
	HTTPClient *http.Client
}

// Bundle is what an install applies.
type Bundle struct {
	// Version is cert-manager's release: the controller Deployment's version label, or its
	// image tag.
	Version string
	// From says where the objects came from, for people.
	From string
	// Objects are in the order Helm installs kinds: Namespace and CRDs first, webhook
	// configurations last.
	Objects []*unstructured.Unstructured
}

// String names the source for people.
func (s Source) String() string {
	if s.Manifest != "" {
		return s.Manifest
	}
	return "the embedded chart (cert-manager " + EmbeddedVersion + ")"
}

// Load renders or reads the objects of the source.
func (s Source) Load(ctx context.Context) (*Bundle, error) {
	var (
		objs []*unstructured.Unstructured
		err  error
	)
	if s.Manifest == "" {
		objs, err = RenderChart(s.Values)
	} else {
		if len(s.Values) > 0 {
			return nil, errors.New("chart values apply to the embedded chart only, not to a manifest")
		}
		var raw []byte
		if raw, err = s.read(ctx); err == nil {
			objs, err = ParseManifest(raw)
		}
	}
	if err != nil {
		return nil, err
	}
	version, err := VersionOf(objs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return &Bundle{Version: version, From: s.String(), Objects: objs}, nil
}

func (s Source) read(ctx context.Context) ([]byte, error) {
	if !strings.HasPrefix(s.Manifest, "https://") && !strings.HasPrefix(s.Manifest, "http://") {
		raw, err := os.ReadFile(s.Manifest)
		if err != nil {
			return nil, fmt.Errorf("read the cert-manager manifest: %w", err)
		}
		return raw, nil
	}
	hc := s.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Manifest, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the cert-manager manifest: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the cert-manager manifest %s: %s", s.Manifest, resp.Status)
	}
	// Upstream's manifests are a few MB; refuse anything absurd.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch the cert-manager manifest %s: %w", s.Manifest, err)
	}
	return raw, nil
}

// chartValues are the values upstream renders its static manifest with: CRDs included, no
// Helm labels, no startupapicheck Job (a Helm hook; Ensure checks the API itself).
func chartValues() map[string]any {
	return map[string]any{
		"creator":         "static",
		"crds":            map[string]any{"enabled": true, "keep": true},
		"startupapicheck": map[string]any{"enabled": false},
	}
}

// RenderChart renders the embedded chart as upstream renders its static manifest, with
// extra values laid over, and prepends the Namespace.
func RenderChart(extra map[string]any) ([]*unstructured.Unstructured, error) {
	ch, err := render.LoadChart(certmanagerchart.Chart)
	if err != nil {
		return nil, err
	}
	// Ours win: without its CRDs, or with Helm's labels, it would not be upstream's static
	// install any more.
	values := chartutil.CoalesceTables(chartValues(), deepCopy(extra))
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{
		Name: ReleaseName, Namespace: Namespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities.Copy())
	if err != nil {
		return nil, fmt.Errorf("cert-manager chart values: %w", err)
	}
	// Not strict: upstream's templates read values that may be absent, as `helm template`
	// allows.
	files, err := engine.Engine{}.Render(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("render the cert-manager chart: %w", err)
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("render the cert-manager chart: %w", err)
	}
	if len(hooks) > 0 {
		return nil, fmt.Errorf("the cert-manager chart rendered %d Helm hooks (%s first): kubeseed applies no hooks", len(hooks), hooks[0].Path)
	}
	var buf bytes.Buffer
	buf.WriteString("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + Namespace + "\n")
	for _, m := range manifests {
		buf.WriteString("\n---\n" + m.Content)
	}
	return ParseManifest(buf.Bytes())
}

// ParseManifest decodes a multi-document YAML (or JSON) stream and sorts the objects in
// Helm's install order. Lists are not expanded: upstream's manifests hold none.
func ParseManifest(raw []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var objs []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("decode the cert-manager manifest (object %d): %w", len(objs)+1, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		// Through the unstructured scheme, so that numbers are int64 as the API has them.
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("decode the cert-manager manifest (object %d): %w", len(objs)+1, err)
		}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("decode the cert-manager manifest: object %d lacks apiVersion, kind or name", len(objs)+1)
		}
		if strings.HasSuffix(obj.GetKind(), "List") {
			return nil, fmt.Errorf("decode the cert-manager manifest: %s %s: lists are not supported", obj.GetKind(), obj.GetName())
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		return nil, errors.New("the cert-manager manifest holds no object")
	}
	rank := func(kind string) int {
		if i := slices.Index(releaseutil.InstallOrder, kind); i >= 0 {
			return i
		}
		return len(releaseutil.InstallOrder)
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return rank(a.GetKind()) - rank(b.GetKind()) })
	return objs, nil
}

// VersionOf finds cert-manager's controller Deployment among objs and returns its version.
func VersionOf(objs []*unstructured.Unstructured) (string, error) {
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetLabels()[LabelName] != NameValue || o.GetLabels()[LabelComponent] != ControllerComponent {
			continue
		}
		if v := o.GetLabels()[LabelVersion]; v != "" {
			return v, nil
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			if m, ok := c.(map[string]any); ok {
				if tag := imageTag(fmt.Sprint(m["image"])); tag != "" {
					return tag, nil
				}
			}
		}
		return "", fmt.Errorf("cannot tell the version of the cert-manager controller Deployment %s: no %s label and no image tag", o.GetName(), LabelVersion)
	}
	return "", fmt.Errorf("no cert-manager controller Deployment (labels %s=%s, %s=%s)", LabelName, NameValue, LabelComponent, ControllerComponent)
}

// imageTag returns the tag of an image reference: "" when it has none. A digest is ignored
// and a registry port is not a tag.
func imageTag(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	colon, slash := strings.LastIndex(ref, ":"), strings.LastIndex(ref, "/")
	if colon <= slash {
		return ""
	}
	return ref[colon+1:]
}

// deepCopy copies values so that coalescing never writes into the caller's map.
func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = deepCopy(sub)
		}
		out[k] = v
	}
	return out
}
