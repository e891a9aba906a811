package charts_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/addons"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/render"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// TestEmbedsEveryFile: each embedded chart is the directory on disk, partials and dotfiles
// included.
func TestEmbedsEveryFile(t *testing.T) {
	for _, c := range []struct {
		dir  string
		fsys fs.FS
	}{
		{"tenant-control-plane", charts.TenantControlPlane},
		{"kubeseed", charts.Kubeseed},
		{"tenant-addons", charts.TenantAddons},
	} {
		t.Run(c.dir, func(t *testing.T) {
			var embedded, onDisk []string
			if err := fs.WalkDir(c.fsys, ".", func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					embedded = append(embedded, p)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(c.dir, p)
					onDisk = append(onDisk, filepath.ToSlash(rel))
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(embedded, onDisk) {
				t.Errorf("embedded %v, on disk %v", embedded, onDisk)
			}
			if !slices.Contains(embedded, "templates/_helpers.tpl") {
				t.Errorf("templates/_helpers.tpl is not embedded")
			}
		})
	}
}

// TestLint runs Helm's linter on the embedded charts and fails on any warning or error:
// tenant-control-plane with its own values.yaml and with values ValuesFor computes for an
// HA tenant; kubeseed with its defaults and with every optional part switched on or off.
func TestLint(t *testing.T) {
	tcpDir, kubeseedDir, addonsDir := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.CopyFS(tcpDir, charts.TenantControlPlane); err != nil {
		t.Fatalf("copy the embedded chart: %v", err)
	}
	if err := os.CopyFS(addonsDir, charts.TenantAddons); err != nil {
		t.Fatalf("copy the embedded chart: %v", err)
	}
	if err := os.CopyFS(kubeseedDir, charts.Kubeseed); err != nil {
		t.Fatalf("copy the embedded chart: %v", err)
	}
	kubeVersion, err := chartutil.ParseKubeVersion(versions.Seed)
	if err != nil {
		t.Fatal(err)
	}

	tc := &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "project-1234"},
		Spec: v1alpha1.TenantClusterSpec{ControlPlane: v1alpha1.ControlPlaneSpec{
			APIServer: v1alpha1.APIServerSpec{ComponentSpec: v1alpha1.ComponentSpec{
				ExtraArgs: map[string]string{"v": "2"},
			}},
			Etcd: v1alpha1.EtcdSpec{Replicas: ptr.To[int32](5), Storage: v1alpha1.EtcdStorageSpec{StorageClassName: ptr.To("fast")}},
		}},
	}
	av, err := addons.ValuesFor(&v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "project-1234"},
		Spec: v1alpha1.TenantClusterSpec{Network: v1alpha1.NetworkSpec{
			ServiceCIDR: "172.20.0.0/16", PodCIDR: "172.16.0.0/14", DNSDomain: "acme.internal",
		}},
	}, addons.Inputs{
		Endpoint:      "https://203.0.113.10:6443",
		Versions:      v1alpha1.AddonVersions{KubernetesVersion: "v1.34.4", KubeProxy: "v1.34.4", CoreDNS: "v1.12.4"},
		ImageRegistry: "registry.example.com/k8s",
	})
	if err != nil {
		t.Fatal(err)
	}
	addonsCustom := toMap(t, av)
	v, err := controlplane.ValuesFor(tc, controlplane.Inputs{NodePort: 31443, PriorityClassName: "kubeseed-control-plane"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var ha map[string]any
	if err := yaml.Unmarshal(raw, &ha); err != nil {
		t.Fatal(err)
	}

	for name, c := range map[string]struct {
		dir       string
		values    map[string]any
		namespace string
	}{
		"tenant-control-plane/values.yaml": {tcpDir, nil, "default"},
		"tenant-control-plane/ha":          {tcpDir, ha, "project-1234"},
		"kubeseed/values.yaml":             {kubeseedDir, nil, "kubeseed-system"},
		"kubeseed/everything":              {kubeseedDir, everything, "kubeseed-system"},
		"kubeseed/minimal":                 {kubeseedDir, minimal, "kubeseed-system"},
		"tenant-addons/values.yaml":        {addonsDir, nil, "kube-system"},
		"tenant-addons/custom":             {addonsDir, addonsCustom, "kube-system"},
	} {
		t.Run(name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(c.dir, c.values, c.namespace, kubeVersion)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("%v", m)
				} else {
					t.Logf("%v", m)
				}
			}
		})
	}
}

// forbidden are template functions that make a render depend on something besides its
// values: the cluster, the clock, randomness, DNS. A controller re-renders on every
// reconcile, so any of them means endless diffs (or new keys on every pass).
var forbidden = []string{
	"lookup", "now", "date", "dateInZone", "unixEpoch", "htmlDate", "htmlDateInZone", "ago",
	"genCA", "genCAWithKey", "genPrivateKey", "genSelfSignedCert", "genSelfSignedCertWithKey",
	"genSignedCert", "genSignedCertWithKey", "derivePassword", "encryptAES", "decryptAES",
	"randAlphaNum", "randAlpha", "randNumeric", "randAscii", "randBytes", "randInt", "shuffle",
	"uuidv4", "getHostByName", "env", "expandenv",
}

var (
	action  = regexp.MustCompile(`(?s){{.*?}}`)
	comment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	quoted  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|` + "`[^`]*`")
	word    = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
)

// TestTemplatesArePure scans every template action for the forbidden functions (comments
// and string literals aside). .Capabilities is refused too: the seed's version must not
// change the shape.
//
// The kubeseed chart is held to the same rule: kubeseed and `make demo` install it through
// the Helm SDK, and an install, an upgrade and `helm template` must agree.
func TestTemplatesArePure(t *testing.T) {
	for name, fsys := range map[string]fs.FS{
		"tenant-control-plane": charts.TenantControlPlane, "kubeseed": charts.Kubeseed, "tenant-addons": charts.TenantAddons,
		"worker-cloud-init": charts.WorkerCloudInit,
	} {
		t.Run(name, func(t *testing.T) {
			err := fs.WalkDir(fsys, "templates", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := fs.ReadFile(fsys, p)
				if err != nil {
					return err
				}
				for _, a := range action.FindAllString(string(data), -1) {
					code := quoted.ReplaceAllString(comment.ReplaceAllString(a, ""), `""`)
					for _, w := range word.FindAllString(code, -1) {
						if slices.Contains(forbidden, w) {
							t.Errorf("%s: %q uses %s", p, strings.TrimSpace(a), w)
						}
					}
					if strings.Contains(code, ".Capabilities") {
						t.Errorf("%s: %q reads .Capabilities", p, strings.TrimSpace(a))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestForbiddenScanWorks guards the scanner itself against a regexp that matches nothing.
func TestForbiddenScanWorks(t *testing.T) {
	tpl := `a: {{ lookup "v1" "Secret" "ns" "x" }}
b: {{/* now is fine in a comment */}} {{ "randAlphaNum in a string" | quote }}
c: {{- genCA "x" 365 -}}`
	var hits []string
	for _, a := range action.FindAllString(tpl, -1) {
		code := quoted.ReplaceAllString(comment.ReplaceAllString(a, ""), `""`)
		for _, w := range word.FindAllString(code, -1) {
			if slices.Contains(forbidden, w) {
				hits = append(hits, w)
			}
		}
	}
	if !slices.Equal(hits, []string{"lookup", "genCA"}) {
		t.Errorf("scanner found %v, want [lookup genCA]", hits)
	}
}

// The kubeseed chart's values in the tests: its defaults (nil), everything optional on, and
// everything optional off.
var (
	everything = map[string]any{
		"replicas": 2,
		"image":    map[string]any{"repository": "registry.example.com/kubeseed/manager", "tag": "v0.1.0", "pullPolicy": "Always"},
		"manager": map[string]any{
			"imageRegistry": "registry.example.com/k8s", "nodePortAddress": "192.0.2.10",
			"logLevel": "debug", "extraArgs": []any{"--zap-devel"},
			"workerIgnorePreflightErrors": []any{"FileExisting-crictl", "SystemVerification"},
		},
		"metrics":           map[string]any{"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}}},
		"imagePullSecrets":  []any{map[string]any{"name": "registry"}},
		"priorityClassName": "system-cluster-critical",
		"nodeSelector":      map[string]any{"node-role.kubernetes.io/control-plane": ""},
		"tolerations":       []any{map[string]any{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}},
		"affinity": map[string]any{"podAntiAffinity": map[string]any{"preferredDuringSchedulingIgnoredDuringExecution": []any{
			map[string]any{"weight": 100, "podAffinityTerm": map[string]any{
				"topologyKey":   "kubernetes.io/hostname",
				"labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "kubeseed"}},
			}},
		}}},
		"podAnnotations": map[string]any{"example.com/a": "b"},
		"podLabels":      map[string]any{"example.com/team": "platform"},
		"serviceAccount": map[string]any{"annotations": map[string]any{"example.com/a": "b"}},
		"dashboard": map[string]any{
			"enabled": true, "labels": map[string]any{"release": "prometheus"}, "annotations": map[string]any{"grafana_folder": "kubeseed"},
		},
	}
	minimal = map[string]any{
		"manager": map[string]any{"leaderElect": false},
		"metrics": map[string]any{"enabled": false},
	}
)

// renderKubeseed renders the embedded kubeseed chart as release "kubeseed" in
// kubeseed-system and indexes the objects by "Kind name".
func renderKubeseed(t *testing.T, values map[string]any) map[string]*unstructured.Unstructured {
	t.Helper()
	objs, err := render.Render(charts.Kubeseed, "kubeseed", "kubeseed-system", values)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byID[o.GetKind()+" "+o.GetName()] = o
	}
	return byID
}

func convert[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return out
}

// TestKubeseedRender checks the objects each set of values gives: names, the manager's
// image, flags and hardening, and which optional objects appear.
func TestKubeseedRender(t *testing.T) {
	always := []string{
		"ServiceAccount kubeseed-manager", "ClusterRole kubeseed-manager",
		"ClusterRoleBinding kubeseed-manager", "Deployment kubeseed-manager",
	}
	leaderElection := []string{"Role kubeseed-manager-leader-election", "RoleBinding kubeseed-manager-leader-election"}
	for _, c := range []struct {
		name       string
		values     map[string]any
		objects    []string
		image      string
		pullPolicy corev1.PullPolicy
		args       []string
	}{{
		name:       "defaults",
		objects:    slices.Concat(always, leaderElection, []string{"Service kubeseed-manager-metrics"}),
		image:      "kubeseed/manager:dev",
		pullPolicy: corev1.PullIfNotPresent,
		args: []string{
			"--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--leader-elect=true",
			"--zap-log-level=info",
		},
	}, {
		name:       "everything",
		values:     everything,
		objects:    slices.Concat(always, leaderElection, []string{"Service kubeseed-manager-metrics", "ServiceMonitor kubeseed-manager", "ConfigMap kubeseed-dashboard"}),
		image:      "registry.example.com/kubeseed/manager:v0.1.0",
		pullPolicy: corev1.PullAlways,
		args: []string{
			"--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--leader-elect=true",
			"--image-registry=registry.example.com/k8s", "--nodeport-address=192.0.2.10",
			"--worker-ignore-preflight-errors=FileExisting-crictl,SystemVerification",
			"--zap-log-level=debug", "--zap-devel",
		},
	}, {
		name:       "minimal",
		values:     minimal,
		objects:    always,
		image:      "kubeseed/manager:dev",
		pullPolicy: corev1.PullIfNotPresent,
		args: []string{
			"--metrics-bind-address=0", "--health-probe-bind-address=:8081", "--leader-elect=false",
			"--zap-log-level=info",
		},
	}, {
		name:       "empty tag means appVersion",
		values:     map[string]any{"image": map[string]any{"tag": ""}},
		objects:    slices.Concat(always, leaderElection, []string{"Service kubeseed-manager-metrics"}),
		image:      "kubeseed/manager:dev",
		pullPolicy: corev1.PullIfNotPresent,
		args: []string{
			"--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--leader-elect=true",
			"--zap-log-level=info",
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			objs := renderKubeseed(t, c.values)
			if got, want := slices.Sorted(maps.Keys(objs)), slices.Sorted(slices.Values(c.objects)); !slices.Equal(got, want) {
				t.Errorf("objects\n got %v\nwant %v", got, want)
			}
			for id, o := range objs {
				if ns := o.GetNamespace(); ns != "" && ns != "kubeseed-system" {
					t.Errorf("%s is in namespace %q, not the release namespace", id, ns)
				}
			}
			d := convert[appsv1.Deployment](t, objs["Deployment kubeseed-manager"])
			pod := d.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(pod.Containers))
			}
			m := pod.Containers[0]
			if m.Image != c.image || m.ImagePullPolicy != c.pullPolicy {
				t.Errorf("image %s (%s), want %s (%s)", m.Image, m.ImagePullPolicy, c.image, c.pullPolicy)
			}
			if !slices.Equal(m.Args, c.args) {
				t.Errorf("args\n got %q\nwant %q", m.Args, c.args)
			}
			if pod.ServiceAccountName != "kubeseed-manager" {
				t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
			}
			if !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("selector %v does not match the pod's labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
			}

			// Hardening, whatever the values.
			psc, sc := pod.SecurityContext, m.SecurityContext
			if psc == nil || sc == nil {
				t.Fatal("no securityContext")
			}
			if !ptr.Deref(psc.RunAsNonRoot, false) || !ptr.Deref(sc.RunAsNonRoot, false) || ptr.Deref(psc.RunAsUser, 0) == 0 {
				t.Errorf("not run as a non-root numeric user: pod %+v", psc)
			}
			if !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) {
				t.Errorf("readOnlyRootFilesystem %v, allowPrivilegeEscalation %v", sc.ReadOnlyRootFilesystem, sc.AllowPrivilegeEscalation)
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
				t.Errorf("capabilities %+v, want only drop [ALL]", sc.Capabilities)
			}
			if m.Resources.Requests.Cpu().IsZero() || m.Resources.Requests.Memory().IsZero() || m.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v: want cpu and memory requests and a memory limit", m.Resources)
			}
			for probe, want := range map[*corev1.Probe]string{m.LivenessProbe: "/healthz", m.ReadinessProbe: "/readyz"} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "probes" {
					t.Errorf("probe %+v, want GET %s on port probes", probe, want)
				}
			}

			if svc, ok := objs["Service kubeseed-manager-metrics"]; ok {
				s := convert[corev1.Service](t, svc)
				if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Name != "metrics" || s.Spec.Ports[0].TargetPort.String() != "metrics" {
					t.Errorf("metrics Service ports %+v", s.Spec.Ports)
				}
				if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Errorf("metrics Service selector %v does not match the manager's pods", s.Spec.Selector)
				}
			}
			if sm, ok := objs["ServiceMonitor kubeseed-manager"]; ok {
				sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
				if !labels.SelectorFromSet(sel).Matches(labels.Set(objs["Service kubeseed-manager-metrics"].GetLabels())) {
					t.Errorf("ServiceMonitor selector %v does not match the metrics Service", sel)
				}
				endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
				if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != "metrics" {
					t.Errorf("ServiceMonitor endpoints %v, want the port metrics", endpoints)
				}
			}
		})
	}
}

// TestKubeseedDashboard: dashboard.enabled ships dashboards/kubeseed.json unchanged in a
// ConfigMap that Grafana's dashboard sidecar picks up (label grafana_dashboard: "1"), in the
// release namespace or the one asked for; off by default. pkg/metrics checks that every
// metric the dashboard queries is exported.
func TestKubeseedDashboard(t *testing.T) {
	file, err := fs.ReadFile(charts.Kubeseed, "dashboards/kubeseed.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(file, &want); err != nil {
		t.Fatalf("dashboards/kubeseed.json is not JSON: %v", err)
	}
	if want["uid"] == "" || want["title"] == "" || want["panels"] == nil {
		t.Errorf("dashboards/kubeseed.json lacks a uid, a title or panels")
	}
	for _, c := range []struct {
		name      string
		values    map[string]any
		namespace string // "" means no ConfigMap
		labels    map[string]string
	}{
		{name: "defaults"},
		{name: "minimal", values: minimal},
		{name: "everything", values: everything, namespace: "kubeseed-system", labels: map[string]string{"release": "prometheus"}},
		{
			name:      "another namespace",
			values:    map[string]any{"dashboard": map[string]any{"enabled": true, "namespace": "monitoring"}},
			namespace: "monitoring",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, ok := renderKubeseed(t, c.values)["ConfigMap kubeseed-dashboard"]
			if c.namespace == "" {
				if ok {
					t.Fatal("a dashboard ConfigMap without dashboard.enabled")
				}
				return
			}
			if !ok {
				t.Fatal("no dashboard ConfigMap")
			}
			cm := convert[corev1.ConfigMap](t, o)
			if cm.Namespace != c.namespace {
				t.Errorf("namespace %q, want %q", cm.Namespace, c.namespace)
			}
			if cm.Labels["grafana_dashboard"] != "1" || cm.Labels["app.kubernetes.io/part-of"] != "kubeseed" {
				t.Errorf("labels %v: want grafana_dashboard: \"1\" and kubeseed's", cm.Labels)
			}
			for k, v := range c.labels {
				if cm.Labels[k] != v {
					t.Errorf("label %s=%q, want %q", k, cm.Labels[k], v)
				}
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(cm.Data["kubeseed.json"]), &got); err != nil {
				t.Fatalf("data kubeseed.json is not JSON: %v", err)
			}
			if !equality.Semantic.DeepEqual(got, want) {
				t.Error("data kubeseed.json differs from dashboards/kubeseed.json")
			}
		})
	}
}

// TestKubeseedNames: objects are "<prefix>-manager", the prefix following Helm's usual
// fullname rule, and every Service name stays a DNS label.
func TestKubeseedNames(t *testing.T) {
	long := strings.Repeat("a", 60)
	for _, c := range []struct {
		release, override, want string
	}{
		{"kubeseed", "", "kubeseed-manager"},
		{"kubeseed-prod", "", "kubeseed-prod-manager"},
		{"prod", "", "prod-kubeseed-manager"},
		{"prod", "ks", "ks-manager"},
		{long, "", long[:47] + "-manager"},
	} {
		t.Run(c.release+"/"+c.override, func(t *testing.T) {
			objs, err := render.Render(charts.Kubeseed, c.release, "kubeseed-system", map[string]any{"fullnameOverride": c.override})
			if err != nil {
				t.Fatal(err)
			}
			var deployments []string
			for _, o := range objs {
				switch o.GetKind() {
				case "Deployment":
					deployments = append(deployments, o.GetName())
				case "Service":
					if errs := validation.IsDNS1035Label(o.GetName()); len(errs) > 0 {
						t.Errorf("Service %s: %v", o.GetName(), errs)
					}
				}
			}
			if !slices.Equal(deployments, []string{c.want}) {
				t.Errorf("Deployments %v, want [%s]", deployments, c.want)
			}
		})
	}
}

// TestKubeseedRejects: values.schema.json and the templates refuse values that cannot work,
// naming the culprit.
func TestKubeseedRejects(t *testing.T) {
	for _, c := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"replicas as a string", map[string]any{"replicas": "2"}, "replicas"},
		{"image as a string", map[string]any{"image": "kubeseed/manager:dev"}, "image"},
		{"unknown pullPolicy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, "pullPolicy"},
		{"leaderElect as a string", map[string]any{"manager": map[string]any{"leaderElect": "yes"}}, "leaderElect"},
		{"extraArgs as a string", map[string]any{"manager": map[string]any{"extraArgs": "--zap-devel"}}, "extraArgs"},
		{"port out of range", map[string]any{"metrics": map[string]any{"port": 70000}}, "port"},
		{"tolerations as an object", map[string]any{"tolerations": map[string]any{"key": "a"}}, "tolerations"},
		{"misspelt key", map[string]any{"replicaCount": 2}, "replicaCount"},
		{"nodeSelector with a number", map[string]any{"nodeSelector": map[string]any{"zone": 1}}, "nodeSelector"},
		{
			"replicas without leader election",
			map[string]any{"replicas": 2, "manager": map[string]any{"leaderElect": false}},
			"needs manager.leaderElect",
		},
		{"fullnameOverride too long", map[string]any{"fullnameOverride": strings.Repeat("k", 48)}, "fullnameOverride"},
		{"dashboard.enabled as a string", map[string]any{"dashboard": map[string]any{"enabled": "true"}}, "enabled"},
		{"dashboard label with a number", map[string]any{"dashboard": map[string]any{"labels": map[string]any{"release": 1}}}, "labels"},
		{
			"ServiceMonitor without metrics",
			map[string]any{"metrics": map[string]any{"enabled": false, "serviceMonitor": map[string]any{"enabled": true}}},
			"needs metrics.enabled",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := render.Render(charts.Kubeseed, "kubeseed", "kubeseed-system", c.values)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}

// TestKubeseedRBAC: the ClusterRole grants exactly what controller-gen made of the
// +kubebuilder:rbac markers in controllers/ (config/rbac/role.yaml), so the chart cannot
// drift from the code; and no rule of any role grants a wildcard.
func TestKubeseedRBAC(t *testing.T) {
	generated, err := os.ReadFile("../config/rbac/role.yaml")
	if err != nil {
		t.Fatalf("%v: run `make manifests`", err)
	}
	var want rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(generated, &want); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	if len(want.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	if copied, err := fs.ReadFile(charts.Kubeseed, "files/role.yaml"); err != nil || !bytes.Equal(copied, generated) {
		t.Errorf("charts/kubeseed/files/role.yaml differs from config/rbac/role.yaml (%v): run `make manifests`", err)
	}

	for _, values := range []map[string]any{nil, everything, minimal} {
		objs := renderKubeseed(t, values)
		role := convert[rbacv1.ClusterRole](t, objs["ClusterRole kubeseed-manager"])
		if !equality.Semantic.DeepEqual(role.Rules, want.Rules) {
			t.Errorf("ClusterRole rules differ from config/rbac/role.yaml:\n got %+v\nwant %+v", role.Rules, want.Rules)
		}
		for id, o := range objs {
			if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
				continue
			}
			for _, r := range convert[rbacv1.ClusterRole](t, o).Rules {
				for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.NonResourceURLs} {
					if slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, "*") }) {
						t.Errorf("%s grants a wildcard: %+v", id, r)
					}
				}
			}
		}
	}
}

// TestKubeseedLeaseName: the leader-election Role names the Lease the manager takes, which
// cmd/manager/app sets as its LeaderElectionID.
func TestKubeseedLeaseName(t *testing.T) {
	src, err := os.ReadFile("../cmd/manager/app/app.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`LeaderElectionID:\s*"([^"]+)"`).FindSubmatch(src)
	if m == nil {
		t.Fatal(`no LeaderElectionID: "..." in cmd/manager/app/app.go; update this test`)
	}
	role := convert[rbacv1.Role](t, renderKubeseed(t, nil)["Role kubeseed-manager-leader-election"])
	var named bool
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "leases") && len(r.ResourceNames) > 0 {
			named = true
			if !slices.Equal(r.ResourceNames, []string{string(m[1])}) {
				t.Errorf("the Role names Lease %v, the manager takes %q", r.ResourceNames, m[1])
			}
		}
	}
	if !named {
		t.Error("no Role rule names the manager's Lease")
	}
}

// TestKubeseedFlags: every flag the Deployment passes is one cmd/manager defines: its own
// (read from main.go) or zap's.
func TestKubeseedFlags(t *testing.T) {
	src, err := os.ReadFile("../cmd/manager/main.go")
	if err != nil {
		t.Fatal(err)
	}
	flags := flag.NewFlagSet("manager", flag.ContinueOnError)
	(&zap.Options{}).BindFlags(flags)
	for _, m := range regexp.MustCompile(`flag\.(?:\w+Var\([^,]+,\s*|Func\()"([^"]+)"`).FindAllSubmatch(src, -1) {
		flags.Bool(string(m[1]), false, "")
	}
	if flags.Lookup("leader-elect") == nil {
		t.Fatal("found no flags in cmd/manager/main.go; update this test")
	}
	for _, values := range []map[string]any{nil, everything, minimal} {
		d := convert[appsv1.Deployment](t, renderKubeseed(t, values)["Deployment kubeseed-manager"])
		for _, arg := range d.Spec.Template.Spec.Containers[0].Args {
			name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if flags.Lookup(name) == nil {
				t.Errorf("the manager has no flag --%s (arg %q)", name, arg)
			}
		}
	}
}

// TestKubeseedCRDs: the chart ships every CRD `make manifests` generates, byte for byte, and
// nothing else.
func TestKubeseedCRDs(t *testing.T) {
	read := func(fsys fs.FS) map[string][]byte {
		files := map[string][]byte{}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if data, err := fs.ReadFile(fsys, e.Name()); err != nil {
				t.Fatal(err)
			} else {
				files[e.Name()] = data
			}
		}
		return files
	}
	crds, err := fs.Sub(charts.Kubeseed, "crds")
	if err != nil {
		t.Fatal(err)
	}
	generated, inChart := read(os.DirFS("../config/crd/bases")), read(crds)
	if len(generated) == 0 {
		t.Fatal("no CRDs in config/crd/bases")
	}
	for _, name := range slices.Sorted(maps.Keys(generated)) {
		if got, ok := inChart[name]; !ok {
			t.Errorf("charts/kubeseed/crds/%s is missing: run `make manifests`", name)
		} else if !bytes.Equal(got, generated[name]) {
			t.Errorf("charts/kubeseed/crds/%s differs from config/crd/bases: run `make manifests`", name)
		}
	}
	for name := range inChart {
		if _, ok := generated[name]; !ok {
			t.Errorf("charts/kubeseed/crds/%s is not in config/crd/bases", name)
		}
	}
}

// TestKubeseedNotes: what `helm install` prints tells how to wait for the manager, apply the
// small sample and fetch its kubeconfig, with names that exist.
func TestKubeseedNotes(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, charts.Kubeseed); err != nil {
		t.Fatal(err)
	}
	ch, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Helm applies these before the templates on install.
	generated, err := filepath.Glob("../config/crd/bases/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ch.CRDObjects()); got != len(generated) {
		t.Errorf("Helm sees %d CRDs, want the %d of config/crd/bases", got, len(generated))
	}
	if _, err := os.Stat("../config/samples/tenantcluster-small.yaml"); err != nil {
		t.Fatalf("the sample NOTES.txt names: %v", err)
	}
	vals, err := chartutil.ToRenderValues(ch, nil, chartutil.ReleaseOptions{Name: "kubeseed", Namespace: "kubeseed-system", IsInstall: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Engine{Strict: true}.Render(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	notes := out["kubeseed/templates/NOTES.txt"]
	for _, want := range []string{
		"rollout status deployment/kubeseed-manager",
		"-n kubeseed-system",
		"apply -f config/samples/tenantcluster-small.yaml",
		"get secret small-kubeconfig -o jsonpath='{.data.value}'",
		"Service kubeseed-manager-metrics",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
}

// toMap turns typed values into what Helm's linter takes.
func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
