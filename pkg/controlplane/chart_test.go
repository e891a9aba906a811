package controlplane_test

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/render"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCases are representative tenants, rendered through the real chart.
var goldenCases = []struct {
	name string
	tc   *v1alpha1.TenantCluster
	in   controlplane.Inputs
}{
	{
		// The "small" sample: one of everything, on a NodePort the seed already allocated.
		name: "small-nodeport",
		tc: tenant(func(tc *v1alpha1.TenantCluster) {
			tc.Name, tc.Namespace = "small", "project-small"
			cp := &tc.Spec.ControlPlane
			cp.APIServer.Replicas, cp.ControllerManager.Replicas, cp.Scheduler.Replicas = ptr.To[int32](1), ptr.To[int32](1), ptr.To[int32](1)
			cp.Etcd.Replicas = ptr.To[int32](1)
			cp.Etcd.Storage.Size = ptr.To(resource.MustParse("1Gi"))
			tc.Spec.Endpoint.Type = v1alpha1.EndpointNodePort
		}),
		in: controlplane.Inputs{
			EndpointHost:    "192.0.2.10",
			NodePort:        31443,
			SecretChecksums: checksums("small"),
		},
	},
	{
		// HA behind a LoadBalancer, tuned: extra flags, bigger apiservers, a storage class.
		name: "ha-loadbalancer",
		tc: tenant(func(tc *v1alpha1.TenantCluster) {
			cp := &tc.Spec.ControlPlane
			cp.APIServer.ExtraArgs = map[string]string{
				"event-ttl":                "2h",
				"enable-admission-plugins": "PodNodeSelector,NodeRestriction",
				"v":                        "2",
			}
			cp.APIServer.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"),
			}}
			cp.ControllerManager.ExtraArgs = map[string]string{"node-cidr-mask-size": "25"}
			cp.Etcd.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("2Gi"),
			}}
			cp.Etcd.Storage.StorageClassName = ptr.To("fast")
		}),
		in: controlplane.Inputs{
			EndpointHost:      "203.0.113.10",
			SecretChecksums:   checksums("acme"),
			PriorityClassName: "kubeseed-control-plane",
		},
	},
	{
		// Octavia in front of a NodePort, five members, a mirror registry, and an upgrade
		// to 1.35 that holds the controllers at 1.34 until the apiservers have rolled.
		name: "octavia-upgrade",
		tc: tenant(func(tc *v1alpha1.TenantCluster) {
			tc.Name, tc.Namespace = "octavia", "project-42"
			tc.Spec.Version = "v1.35.4"
			tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](5)
			tc.Spec.ControlPlane.Etcd.Storage.Size = ptr.To(resource.MustParse("20Gi"))
			tc.Spec.Network = v1alpha1.NetworkSpec{ServiceCIDR: "172.20.0.0/16", PodCIDR: "172.16.0.0/14", DNSDomain: "octavia.internal"}
			tc.Spec.Endpoint = v1alpha1.EndpointSpec{Type: v1alpha1.EndpointOctavia, Octavia: &v1alpha1.OctaviaEndpointSpec{SubnetID: "subnet"}}
		}),
		in: controlplane.Inputs{
			EndpointHost:       "api.octavia.example.com",
			NodePort:           30643,
			SecretChecksums:    checksums("octavia"),
			ImageRegistry:      "mirror.example.com/k8s",
			ControllersVersion: "v1.34.4",
		},
	},
	{
		// A running one-member cluster growing to three: etcd-1 is a learner in the member
		// list whose pod does not exist yet, so the ConfigMap lists it and says existing.
		name: "etcd-growing",
		tc: tenant(func(tc *v1alpha1.TenantCluster) {
			tc.Name, tc.Namespace = "grow", "project-grow"
			tc.Spec.Endpoint.Type = v1alpha1.EndpointNodePort
		}),
		in: controlplane.Inputs{
			EndpointHost:        "192.0.2.20",
			NodePort:            31444,
			SecretChecksums:     checksums("grow"),
			EtcdReplicas:        1,
			EtcdMembers:         2,
			EtcdClusterExisting: true,
		},
	},
	{
		// A pool autoscales: the autoscaler with the e2e's short timings, and the seed's
		// apiserver pinned to its address.
		name: "autoscaler",
		tc: tenant(func(tc *v1alpha1.TenantCluster) {
			tc.Name, tc.Namespace = "scaled", "project-scaled"
			tc.Spec.Endpoint.Type = v1alpha1.EndpointNodePort
		}),
		in: controlplane.Inputs{
			EndpointHost:    "192.0.2.30",
			NodePort:        31445,
			SecretChecksums: checksums("scaled"),
			Autoscaler:      true,
			AutoscalerSettings: &controlplane.AutoscalerSettings{
				ScanInterval: 2 * time.Second, ScaleDownUnneededTime: 30 * time.Second, ScaleDownDelayAfterAdd: 20 * time.Second,
				ScaleDownUtilizationThreshold: 0.6, SeedAPIServerCIDRs: []string{"192.0.2.2/32"}, SeedAPIServerPorts: []int32{6443},
			},
		},
	},
}

// checksums pretends every Secret of cluster was read with distinct data.
func checksums(cluster string) map[string]string {
	m := map[string]string{}
	for _, s := range controlplane.Secrets {
		m[s.Name(cluster)] = controlplane.SecretDataChecksum(map[string][]byte{"tls.crt": []byte(s.Name(cluster))})
	}
	return m
}

func renderCase(t *testing.T, tc *v1alpha1.TenantCluster, in controlplane.Inputs) []*unstructured.Unstructured {
	t.Helper()
	v := mustValues(t, tc, in)
	objs, err := render.Render(charts.TenantControlPlane, tc.Name, v.Namespace, v)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return objs
}

func toYAML(t *testing.T, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatalf("marshal %s: %v", o.GetName(), err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes()
}

// TestGolden renders each case and compares it with testdata/<case>.golden.yaml; run with
// -update to rewrite them after an intended change, and review the diff.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			got := toYAML(t, renderCase(t, c.tc, c.in))
			path := filepath.Join("testdata", c.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("render differs from %s (go test ./pkg/controlplane -run TestGolden -update to accept):\n%s", path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// TestRenderIsDeterministic renders the same tenant several times, each from freshly
// computed values (Go randomises map order), and expects the same bytes.
func TestRenderIsDeterministic(t *testing.T) {
	c := goldenCases[1]
	first := toYAML(t, renderCase(t, c.tc, c.in))
	for i := 0; i < 5; i++ {
		if again := toYAML(t, renderCase(t, c.tc, c.in)); !bytes.Equal(first, again) {
			t.Fatalf("render %d differs:\n%s", i+2, lineDiff(string(first), string(again)))
		}
	}
}

// TestRenderedObjects checks what the controller and the health checks rely on, for every
// case: the objects decode into their typed API structs without unknown fields, carry the
// names and labels pkg/controlplane gives them, and every container has a memory limit and a CPU request, and the pods are locked down.
func TestRenderedObjects(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			cluster, ns := c.tc.Name, controlplane.NamespaceOf(c.tc)
			objs := renderCase(t, c.tc, c.in)
			byKey := map[string]runtime.Object{}
			for _, o := range objs {
				typed := typedFor(t, o.GetKind())
				if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, typed, true); err != nil {
					t.Errorf("%s %s: %v", o.GetKind(), o.GetName(), err)
				}
				byKey[o.GetKind()+"/"+o.GetName()] = typed
				if o.GetNamespace() != ns {
					t.Errorf("%s %s is in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
				}
				if l := o.GetLabels(); l[controlplane.LabelPartOf] != controlplane.PartOf || l[controlplane.LabelTenantCluster] != cluster {
					t.Errorf("%s %s lacks the tenant labels: %v", o.GetKind(), o.GetName(), l)
				}
				if !strings.HasPrefix(o.GetName(), cluster+"-") {
					t.Errorf("%s %s is not prefixed with %s-", o.GetKind(), o.GetName(), cluster)
				}
			}
			// 15, the egress selector ConfigMap of the tunnel, the audit policy and the
			// controllers' egress policy; the autoscaler's ServiceAccount, kubeconfig,
			// Deployment and NetworkPolicy when enabled.
			want := 18
			if c.in.Autoscaler {
				want += 4
			}
			if len(objs) != want {
				t.Errorf("rendered %d objects, want %d", len(objs), want)
			}

			pods := map[controlplane.Component]corev1.PodTemplateSpec{}
			selectors := map[controlplane.Component]*metav1.LabelSelector{}
			for _, comp := range controlplane.Components() {
				name := comp.ObjectName(cluster)
				kind := "Deployment"
				if comp == controlplane.Etcd {
					kind = "StatefulSet"
				}
				switch w := byKey[kind+"/"+name].(type) {
				case *appsv1.Deployment:
					pods[comp], selectors[comp] = w.Spec.Template, w.Spec.Selector
				case *appsv1.StatefulSet:
					pods[comp], selectors[comp] = w.Spec.Template, w.Spec.Selector
					if w.Spec.ServiceName != name {
						t.Errorf("StatefulSet serviceName %s, want %s", w.Spec.ServiceName, name)
					}
				default:
					t.Fatalf("no %s %s", kind, name)
				}
				want := controlplane.Labels(cluster, comp)
				if !maps.Equal(selectors[comp].MatchLabels, want) || !maps.Equal(pods[comp].Labels, want) {
					t.Errorf("%s: selector %v / pod labels %v, want %v", comp, selectors[comp].MatchLabels, pods[comp].Labels, want)
				}
				if _, ok := byKey["PodDisruptionBudget/"+name]; !ok {
					t.Errorf("%s has no PodDisruptionBudget", comp)
				}
				checkPod(t, comp, pods[comp], c.in.PriorityClassName)
			}
			if c.in.Autoscaler {
				d, ok := byKey["Deployment/"+controlplane.Autoscaler.ObjectName(cluster)].(*appsv1.Deployment)
				if !ok {
					t.Fatal("no autoscaler Deployment")
				}
				checkPod(t, controlplane.Autoscaler, d.Spec.Template, c.in.PriorityClassName)
			}
			for _, svc := range []string{controlplane.Etcd.ObjectName(cluster), controlplane.EtcdClientServiceName(cluster), controlplane.APIServer.ObjectName(cluster)} {
				if _, ok := byKey["Service/"+svc]; !ok {
					t.Errorf("no Service %s", svc)
				}
			}
		})
	}
}

func checkPod(t *testing.T, comp controlplane.Component, pod corev1.PodTemplateSpec, priorityClass string) {
	t.Helper()
	spec := pod.Spec
	want := 1
	if comp == controlplane.APIServer {
		want = 2 // and the tunnel server
	}
	if len(spec.Containers) != want {
		t.Fatalf("%s: %d containers, want %d", comp, len(spec.Containers), want)
	}
	for _, sidecar := range spec.Containers[1:] {
		sc := sidecar.SecurityContext
		if !bounded(sidecar.Resources) || sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) ||
			ptr.Deref(sc.AllowPrivilegeEscalation, true) || sidecar.LivenessProbe == nil || sidecar.ReadinessProbe == nil {
			t.Errorf("%s: sidecar %s is not memory-limited, CPU-requested, locked down and probed: %+v", comp, sidecar.Name, sidecar)
		}
	}
	ctr := spec.Containers[0]
	if !bounded(ctr.Resources) {
		t.Errorf("%s is not memory-limited and CPU-requested: %v", comp, ctr.Resources)
	}
	if env := envOf(ctr); env["GOMEMLIMIT"] == "" {
		t.Errorf("%s has no GOMEMLIMIT: %v", comp, env)
	}
	if pod.Annotations["checksum/pki"] == "" {
		t.Errorf("%s has no checksum/pki annotation", comp)
	}
	if spec.PriorityClassName != priorityClass {
		t.Errorf("%s: priorityClassName %q, want %q", comp, spec.PriorityClassName, priorityClass)
	}
	sc, csc := spec.SecurityContext, ctr.SecurityContext
	if sc == nil || csc == nil || !ptr.Deref(sc.RunAsNonRoot, false) || ptr.Deref(sc.RunAsUser, 0) == 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		ptr.Deref(csc.AllowPrivilegeEscalation, true) || !ptr.Deref(csc.ReadOnlyRootFilesystem, false) ||
		csc.Capabilities == nil || len(csc.Capabilities.Drop) != 1 || csc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("%s is not locked down: pod %+v, container %+v", comp, sc, csc)
	}
	// Only the autoscaler talks to the seed's API, as its own ServiceAccount.
	if mounts := ptr.Deref(spec.AutomountServiceAccountToken, true); mounts != (comp == controlplane.Autoscaler) {
		t.Errorf("%s: mounts a seed service account token: %v", comp, mounts)
	}
	wantSA := ""
	if comp == controlplane.Autoscaler {
		wantSA = controlplane.AutoscalerServiceAccountName(pod.Labels[controlplane.LabelTenantCluster])
	}
	if spec.ServiceAccountName != wantSA {
		t.Errorf("%s: serviceAccountName %q, want %q", comp, spec.ServiceAccountName, wantSA)
	}
	if ctr.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("%s: imagePullPolicy %s", comp, ctr.ImagePullPolicy)
	}
	if ctr.StartupProbe == nil || ctr.LivenessProbe == nil || ctr.ReadinessProbe == nil {
		t.Errorf("%s lacks a probe", comp)
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil && ptr.Deref(v.Secret.DefaultMode, 0) != 0o440 {
			t.Errorf("%s: Secret volume %s has mode %o", comp, v.Name, ptr.Deref(v.Secret.DefaultMode, 0))
		}
	}
}

func typedFor(t *testing.T, kind string) runtime.Object {
	t.Helper()
	switch kind {
	case "ConfigMap":
		return &corev1.ConfigMap{}
	case "Service":
		return &corev1.Service{}
	case "Deployment":
		return &appsv1.Deployment{}
	case "StatefulSet":
		return &appsv1.StatefulSet{}
	case "PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "ServiceAccount":
		return &corev1.ServiceAccount{}
	}
	t.Fatalf("unexpected kind %s", kind)
	return nil
}

func TestRenderRefusesAnotherNamespace(t *testing.T) {
	v := mustValues(t, tenant(), controlplane.Inputs{})
	_, err := render.Render(charts.TenantControlPlane, "acme", "elsewhere", v)
	if err == nil || !strings.Contains(err.Error(), `not the release namespace "elsewhere"`) {
		t.Errorf("render into another namespace: %v", err)
	}
}

// lineDiff shows the lines of got that differ from want, with a little context; enough to
// see what moved without a diff library.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			out = append(out, fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, wl, gl))
		}
		if len(out) >= 20 {
			out = append(out, "…")
			break
		}
	}
	return strings.Join(out, "\n")
}

// TestHeldControllersRenderNoPods: while the kube-apiserver has not answered, the
// controller-manager and scheduler Deployments exist with no replica.
func TestHeldControllersRenderNoPods(t *testing.T) {
	for _, o := range renderCase(t, tenant(), controlplane.Inputs{Held: map[controlplane.Component]bool{controlplane.ControllerManager: true, controlplane.Scheduler: true}}) {
		if o.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		fromUnstructured(t, o, &d)
		want := int32(0)
		if o.GetName() == controlplane.APIServer.ObjectName("acme") {
			want = 2
		}
		if got := ptr.Deref(d.Spec.Replicas, -1); got != want {
			t.Errorf("%s: replicas %d, want %d", d.Name, got, want)
		}
	}
}

func fromUnstructured(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

// bounded: a memory limit (no tenant takes the seed's memory) and a CPU request (the
// scheduler counts it); QoS per size is TestSizes'.
func bounded(r corev1.ResourceRequirements) bool {
	_, mem := r.Limits[corev1.ResourceMemory]
	_, cpu := r.Requests[corev1.ResourceCPU]
	return mem && cpu
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// TestRestoreRendersThePodNotTheStatefulSet: while etcd is restored, the first member's
// claim (under the name the StatefulSet's template gives it) and the restore pod are
// rendered instead of the StatefulSet, with etcdutl told to restore member 0 with a new
// token and the revision bump; once restored, the StatefulSet is back and the pod gone.
func TestRestoreRendersThePodNotTheStatefulSet(t *testing.T) {
	tc := tenant()
	ns := controlplane.NamespaceOf(tc)
	kinds := func(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
		m := map[string]*unstructured.Unstructured{}
		for _, o := range objs {
			m[o.GetKind()+"/"+o.GetName()] = o
		}
		return m
	}
	restoring := kinds(renderCase(t, tc, controlplane.Inputs{EtcdRestore: &controlplane.EtcdRestore{Token: "tok-1", Backup: "20261207T051500Z", SnapshotBytes: 5<<20 + 1}}))
	if _, ok := restoring["StatefulSet/acme-etcd"]; ok {
		t.Error("the etcd StatefulSet is rendered while etcd is restored")
	}
	claim := restoring["PersistentVolumeClaim/"+controlplane.EtcdDataClaimName("acme", 0)]
	podObj := restoring["Pod/"+controlplane.EtcdRestorePodName("acme")]
	if claim == nil || podObj == nil {
		t.Fatalf("rendered %v: want the first member's claim and the restore pod", slices.Sorted(maps.Keys(restoring)))
	}
	var pod corev1.Pod
	fromUnstructured(t, podObj, &pod)
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || len(pod.Spec.InitContainers) != 1 || len(pod.Spec.Containers) != 1 {
		t.Fatalf("restore pod: restartPolicy %s, %d init containers, %d containers; want Never, 1, 1", pod.Spec.RestartPolicy, len(pod.Spec.InitContainers), len(pod.Spec.Containers))
	}
	if got := pod.Annotations[controlplane.EtcdRestoreBackupAnnotation]; got != "20261207T051500Z" {
		t.Errorf("restore pod annotated %s=%q, want the backup it restores", controlplane.EtcdRestoreBackupAnnotation, got)
	}
	recv, restore := pod.Spec.InitContainers[0], pod.Spec.Containers[0]
	if recv.Name != controlplane.EtcdRestoreReceiver || recv.Image != controlplane.TunnelImage("") {
		t.Errorf("receiver %s runs %s, want %s running the tunnel image", recv.Name, recv.Image, controlplane.EtcdRestoreReceiver)
	}
	wantArgs := []string{
		"snapshot", "restore", controlplane.EtcdRestoreSnapshot, "--name=acme-etcd-0",
		"--initial-cluster=acme-etcd-0=" + controlplane.EtcdPeerURL("acme", ns, 0),
		"--initial-advertise-peer-urls=" + controlplane.EtcdPeerURL("acme", ns, 0),
		"--initial-cluster-token=tok-1", "--data-dir=/var/lib/etcd/data", "--bump-revision=1000000000", "--mark-compacted",
	}
	if !slices.Equal(restore.Command, []string{"etcdutl"}) || !slices.Equal(restore.Args, wantArgs) {
		t.Errorf("restore runs %q %q, want etcdutl %q", restore.Command, restore.Args, wantArgs)
	}
	if v := pod.Spec.Volumes[0]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claim.GetName() {
		t.Errorf("restore pod's data volume %+v, want claim %s", v, claim.GetName())
	}
	// The snapshot's volume holds the snapshot and no more, and the scheduler counts it.
	want := resource.MustParse("7Mi")
	if v := pod.Spec.Volumes[1]; v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.Cmp(want) != 0 {
		t.Errorf("restore pod's snapshot volume %+v, want an emptyDir of sizeLimit %s", v, want.String())
	}
	if got := recv.Resources.Requests[corev1.ResourceEphemeralStorage]; got.Cmp(want) != 0 {
		t.Errorf("receiver requests %s of ephemeral storage, want %s", got.String(), want.String())
	}
	if pod.Labels["app.kubernetes.io/component"] == string(controlplane.Etcd) {
		t.Error("the restore pod carries etcd's component label: etcd's Services and budget would select it")
	}

	restored := kinds(renderCase(t, tc, controlplane.Inputs{}))
	if _, ok := restored["StatefulSet/acme-etcd"]; !ok {
		t.Error("no etcd StatefulSet once restored")
	}
	if _, ok := restored["Pod/"+controlplane.EtcdRestorePodName("acme")]; ok {
		t.Error("the restore pod is rendered once restored")
	}
}
