package charts_test

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/render"
)

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
			"allowedAuthURLs":             []any{"https://keystone.example.com:5000/v3", "https://identity.example.org/"},
			"defaultControlPlaneSize":     "medium",
			"workers":                     map[string]any{"tenantCluster": 8, "workerPool": 2},
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
		"magnum":         map[string]any{"enabled": true, "namespacePrefix": "coe-"},
		// The seed's admin brings the class.
		"controlPlane": map[string]any{
			"priorityClass": map[string]any{"name": "tenants-critical", "create": false}, "spread": "preferred", "maxConcurrentRollouts": 2,
			// The e2e's short timings, and a seed apiserver at a known address.
			"autoscaler": map[string]any{
				"scanInterval": "2s", "scaleDownUnneededTime": "30s", "scaleDownDelayAfterAdd": "20s", "scaleDownDelayAfterDelete": "5s",
				"scaleDownUtilizationThreshold": 0.6, "seedAPIServer": map[string]any{"cidrs": []any{"192.0.2.2/32"}, "ports": []any{6443}},
			},
		},
		"dashboard": map[string]any{
			"enabled": true, "labels": map[string]any{"release": "prometheus"}, "annotations": map[string]any{"grafana_folder": "kubeseed"},
		},
	}
	minimal = map[string]any{
		"manager":      map[string]any{"leaderElect": false},
		"metrics":      map[string]any{"enabled": false},
		"controlPlane": map[string]any{"priorityClass": map[string]any{"name": ""}},
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
		"ClusterRole kubeseed-customer", "ClusterRole kubeseed-magnum",
	}
	magnum := []string{
		"ServiceAccount kubeseed-magnum", "ClusterRoleBinding kubeseed-magnum",
		"ValidatingAdmissionPolicy kubeseed-magnum", "ValidatingAdmissionPolicyBinding kubeseed-magnum",
	}
	leaderElection := []string{"Role kubeseed-manager-leader-election", "RoleBinding kubeseed-manager-leader-election"}
	autoscaler := []string{
		"--autoscaler-scan-interval=10s", "--autoscaler-scale-down-unneeded-time=10m", "--autoscaler-scale-down-delay-after-add=10m",
		"--autoscaler-scale-down-delay-after-delete=0s", "--autoscaler-scale-down-utilization-threshold=0.5", "--autoscaler-seed-apiserver-ports=443,6443",
	}
	priorityClass := []string{"PriorityClass kubeseed-control-plane", "NetworkPolicy kubeseed-manager"}
	for _, c := range []struct {
		name       string
		values     map[string]any
		objects    []string
		image      string
		pullPolicy corev1.PullPolicy
		args       []string
	}{{
		name:       "defaults",
		objects:    slices.Concat(always, leaderElection, priorityClass, []string{"Service kubeseed-manager-metrics"}),
		image:      "kubeseed/manager:dev",
		pullPolicy: corev1.PullIfNotPresent,
		args: slices.Concat([]string{
			"--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--leader-elect=true",
			"--namespace=kubeseed-system", "--control-plane-priority-class=kubeseed-control-plane", "--control-plane-spread=required", "--max-concurrent-tenant-rollouts=5",
		}, autoscaler, []string{
			"--default-control-plane-size=small", "--tenantcluster-workers=4", "--workerpool-workers=4", "--zap-log-level=info",
		}),
	}, {
		name:       "everything",
		values:     everything,
		objects:    slices.Concat(always, leaderElection, magnum, []string{"NetworkPolicy kubeseed-manager", "Service kubeseed-manager-metrics", "ServiceMonitor kubeseed-manager", "ConfigMap kubeseed-dashboard"}),
		image:      "registry.example.com/kubeseed/manager:v0.1.0",
		pullPolicy: corev1.PullAlways,
		args: []string{
			"--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--leader-elect=true",
			"--namespace=kubeseed-system", "--control-plane-priority-class=tenants-critical", "--control-plane-spread=preferred", "--max-concurrent-tenant-rollouts=2",
			"--autoscaler-scan-interval=2s", "--autoscaler-scale-down-unneeded-time=30s", "--autoscaler-scale-down-delay-after-add=20s",
			"--autoscaler-scale-down-delay-after-delete=5s", "--autoscaler-scale-down-utilization-threshold=0.6",
			"--autoscaler-seed-apiserver-cidrs=192.0.2.2/32", "--autoscaler-seed-apiserver-ports=6443",
			"--image-registry=registry.example.com/k8s", "--nodeport-address=192.0.2.10",
			"--worker-ignore-preflight-errors=FileExisting-crictl,SystemVerification",
			"--allowed-auth-urls=https://keystone.example.com:5000/v3,https://identity.example.org/",
			"--default-control-plane-size=medium", "--tenantcluster-workers=8", "--workerpool-workers=2",
			"--zap-log-level=debug", "--zap-devel",
		},
	}, {
		name:       "minimal",
		values:     minimal,
		objects:    append(slices.Clone(always), "NetworkPolicy kubeseed-manager"),
		image:      "kubeseed/manager:dev",
		pullPolicy: corev1.PullIfNotPresent,
		args: slices.Concat([]string{
			"--metrics-bind-address=0", "--health-probe-bind-address=:8081", "--leader-elect=false", "--namespace=kubeseed-system", "--control-plane-spread=required", "--max-concurrent-tenant-rollouts=5",
		}, autoscaler, []string{
			"--default-control-plane-size=small", "--tenantcluster-workers=4", "--workerpool-workers=4", "--zap-log-level=info",
		}),
	}, {
		name:       "empty tag means appVersion",
		values:     map[string]any{"image": map[string]any{"tag": ""}},
		objects:    slices.Concat(always, leaderElection, priorityClass, []string{"Service kubeseed-manager-metrics"}),
		image:      "kubeseed/manager:dev",
		pullPolicy: corev1.PullIfNotPresent,
		args: slices.Concat([]string{
			"--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--leader-elect=true",
			"--namespace=kubeseed-system", "--control-plane-priority-class=kubeseed-control-plane", "--control-plane-spread=required", "--max-concurrent-tenant-rollouts=5",
		}, autoscaler, []string{
			"--default-control-plane-size=small", "--tenantcluster-workers=4", "--workerpool-workers=4", "--zap-log-level=info",
		}),
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
			if np, ok := objs["NetworkPolicy kubeseed-manager"]; ok {
				p := convert[networkingv1.NetworkPolicy](t, np)
				if !labels.SelectorFromSet(p.Spec.PodSelector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Errorf("NetworkPolicy selects %v, not the manager's pods", p.Spec.PodSelector.MatchLabels)
				}
				// Only the metrics port, and only while metrics are served.
				_, metrics := objs["Service kubeseed-manager-metrics"]
				if open := len(p.Spec.Ingress) == 1 && len(p.Spec.Ingress[0].From) == 0 && len(p.Spec.Ingress[0].Ports) == 1 &&
					p.Spec.Ingress[0].Ports[0].Port.IntValue() == 8080; open != metrics || (!metrics && len(p.Spec.Ingress) != 0) {
					t.Errorf("NetworkPolicy ingress %+v with metrics %v", p.Spec.Ingress, metrics)
				}
			} else {
				t.Error("no NetworkPolicy for the manager")
			}
			if pc, ok := objs["PriorityClass kubeseed-control-plane"]; ok {
				p := convert[schedulingv1.PriorityClass](t, pc)
				// Below the seed's own system pods, above anything a workload would use.
				if p.Value != 1000000000 || p.GlobalDefault {
					t.Errorf("PriorityClass value %d, globalDefault %v", p.Value, p.GlobalDefault)
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
		{"no TenantCluster workers", map[string]any{"manager": map[string]any{"workers": map[string]any{"tenantCluster": 0}}}, "tenantCluster"},
		{"an unknown default size", map[string]any{"manager": map[string]any{"defaultControlPlaneSize": "huge"}}, "defaultControlPlaneSize"},
		{"WorkerPool workers as a string", map[string]any{"manager": map[string]any{"workers": map[string]any{"workerPool": "4"}}}, "workerPool"},
		{"allowed auth URL with user info", map[string]any{"manager": map[string]any{"allowedAuthURLs": []any{"https://admin@keystone.example.com/v3"}}}, "allowedAuthURLs"},
		{"allowed auth URLs as a string", map[string]any{"manager": map[string]any{"allowedAuthURLs": "https://keystone.example.com/v3"}}, "allowedAuthURLs"},
		{"Magnum prefix reaching kube-system", map[string]any{"magnum": map[string]any{"enabled": true, "namespacePrefix": "kube-"}}, "namespacePrefix"},
		{"Magnum prefix reaching control planes", map[string]any{"magnum": map[string]any{"enabled": true, "namespacePrefix": "kubeseed-"}}, "namespacePrefix"},
		{"Magnum prefix empty", map[string]any{"magnum": map[string]any{"enabled": true, "namespacePrefix": ""}}, "namespacePrefix"},
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

// TestKubeseedImageFollowsTheRelease: the manager image's tag defaults to the chart's
// appVersion, which a release sets to its own tag. A tag written in values.yaml would win
// over it, and a released chart would run a local build's manager.
func TestKubeseedImageFollowsTheRelease(t *testing.T) {
	released := fstest.MapFS{}
	err := fs.WalkDir(charts.Kubeseed, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(charts.Kubeseed, path)
		if path == "Chart.yaml" {
			data = []byte(strings.Replace(string(data), "\nappVersion: dev\n", "\nappVersion: v9.8.7\n", 1))
		}
		released[path] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(released["Chart.yaml"].Data), "appVersion: v9.8.7") {
		t.Fatal("Chart.yaml has no line appVersion: dev to release")
	}
	objs, err := render.Render(released, "kubeseed", "kubeseed-system", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			d := convert[appsv1.Deployment](t, o)
			if got := d.Spec.Template.Spec.Containers[0].Image; got != "kubeseed/manager:v9.8.7" {
				t.Errorf("a chart released as v9.8.7 runs the manager image %q (is image.tag set in values.yaml?)", got)
			}
			return
		}
	}
	t.Fatal("the chart renders no Deployment")
}
