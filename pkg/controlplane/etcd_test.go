package controlplane_test

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

func TestEtcd(t *testing.T) {
	cases := []struct {
		replicas           int32
		size               string
		wantMaxUnavailable int32
		wantQuota          string
	}{
		{1, "1Gi", 1, "268435456"},      // (1Gi-512Mi)/2
		{3, "8Gi", 1, "4026531840"},     // (8Gi-512Mi)/2
		{5, "20Gi", 2, "8589934592"},    // capped at 8Gi
		{3, "16896Mi", 1, "8589934592"}, // exactly at the cap
		{3, "2560Mi", 1, "1073741824"},  // 1Gi
	}
	for _, c := range cases {
		v := mustValues(t, tenant(func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.Etcd.Replicas = ptr.To(c.replicas)
			tc.Spec.ControlPlane.Etcd.Storage.Size = ptr.To(resource.MustParse(c.size))
		}), controlplane.Inputs{})
		if v.Etcd.MaxUnavailable != c.wantMaxUnavailable {
			t.Errorf("%d members: maxUnavailable %d, want %d", c.replicas, v.Etcd.MaxUnavailable, c.wantMaxUnavailable)
		}
		if got, _ := flagValue(v.Etcd.Args, "quota-backend-bytes"); got != c.wantQuota {
			t.Errorf("%s volume: quota %s, want %s", c.size, got, c.wantQuota)
		}
		if v.Etcd.Storage.Size.String() != c.size {
			t.Errorf("storage size %s, want %s", v.Etcd.Storage.Size.String(), c.size)
		}
	}
	v := mustValues(t, tenant(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.ControlPlane.Etcd.Storage.StorageClassName = ptr.To("fast")
	}), controlplane.Inputs{})
	if v.Etcd.Storage.StorageClassName != "fast" {
		t.Errorf("storage class %q, want fast", v.Etcd.Storage.StorageClassName)
	}
	for _, name := range []string{"client-cert-auth", "peer-client-cert-auth"} {
		if got, _ := flagValue(v.Etcd.Args, name); got != "true" {
			t.Errorf("etcd --%s = %q, want true", name, got)
		}
	}
}

// TestEtcdGrowing: the StatefulSet's size and the membership come from what the controller
// observed, not from the spec, while the cluster grows; a new cluster bootstraps at the
// spec's size.
func TestEtcdGrowing(t *testing.T) {
	for _, c := range []struct {
		name                      string
		in                        controlplane.Inputs
		wantReplicas, wantMembers int32
		wantState                 string
		wantMaxUnavailable        int32
	}{
		{"bootstrap at the spec's size", controlplane.Inputs{}, 3, 3, "new", 1},
		{"one member, a learner listed before its pod", controlplane.Inputs{EtcdReplicas: 1, EtcdMembers: 2, EtcdClusterExisting: true}, 1, 2, "existing", 1},
		{"two pods, two members", controlplane.Inputs{EtcdReplicas: 2, EtcdClusterExisting: true}, 2, 2, "existing", 0},
		{"grown", controlplane.Inputs{EtcdReplicas: 3, EtcdClusterExisting: true}, 3, 3, "existing", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := mustValues(t, tenant(), c.in)
			if v.Etcd.Replicas != c.wantReplicas || v.Etcd.InitialClusterMembers != c.wantMembers || v.Etcd.InitialClusterState != c.wantState {
				t.Errorf("replicas %d, members %d, state %s; want %d, %d, %s", v.Etcd.Replicas, v.Etcd.InitialClusterMembers, v.Etcd.InitialClusterState, c.wantReplicas, c.wantMembers, c.wantState)
			}
			if v.Etcd.MaxUnavailable != c.wantMaxUnavailable {
				t.Errorf("maxUnavailable %d, want %d", v.Etcd.MaxUnavailable, c.wantMaxUnavailable)
			}
			// etcd refuses a flag given both as an argument and as an ETCD_* variable.
			for _, a := range v.Etcd.Args {
				if strings.HasPrefix(a, "--initial-cluster=") || strings.HasPrefix(a, "--initial-cluster-state=") {
					t.Errorf("etcd argument %s shadows the ConfigMap", a)
				}
			}
		})
	}
	n, err := controlplane.DesiredEtcdMembers(&v1alpha1.TenantCluster{})
	if err != nil || n != 3 {
		t.Errorf("DesiredEtcdMembers of an undefaulted spec = %d, %v; want the default 3", n, err)
	}
}

// TestEtcdMembershipLivesOutsideThePodTemplate: growing the cluster changes the
// StatefulSet's replicas and the ConfigMap, never the pod template, which would roll the
// members that serve. The ConfigMap names members as pkg/controlplane does, and the pods
// read it whole.
func TestEtcdMembershipLivesOutsideThePodTemplate(t *testing.T) {
	tc := tenant()
	steps := []struct {
		in          controlplane.Inputs
		wantMembers int
		wantState   string
	}{
		{controlplane.Inputs{EtcdReplicas: 1}, 1, "new"},
		{controlplane.Inputs{EtcdReplicas: 1, EtcdMembers: 2, EtcdClusterExisting: true}, 2, "existing"},
		{controlplane.Inputs{EtcdReplicas: 2, EtcdClusterExisting: true}, 2, "existing"},
		{controlplane.Inputs{EtcdReplicas: 2, EtcdMembers: 3, EtcdClusterExisting: true}, 3, "existing"},
		{controlplane.Inputs{EtcdReplicas: 3, EtcdClusterExisting: true}, 3, "existing"},
	}
	var firstTemplate *corev1.PodTemplateSpec
	for _, s := range steps {
		var sts appsv1.StatefulSet
		var cm corev1.ConfigMap
		for _, o := range renderCase(t, tc, s.in) {
			switch {
			case o.GetKind() == "StatefulSet":
				fromUnstructured(t, o, &sts)
			case o.GetKind() == "ConfigMap" && o.GetName() == controlplane.EtcdClusterConfigMapName(tc.Name):
				fromUnstructured(t, o, &cm)
			}
		}
		if got := ptr.Deref(sts.Spec.Replicas, 0); got != s.in.EtcdReplicas {
			t.Errorf("%+v: StatefulSet replicas %d", s.in, got)
		}
		if firstTemplate == nil {
			firstTemplate = sts.Spec.Template.DeepCopy()
		} else if !reflect.DeepEqual(*firstTemplate, sts.Spec.Template) {
			t.Errorf("%+v: the pod template changed with the membership", s.in)
		}
		var want []string
		for i := range s.wantMembers {
			want = append(want, controlplane.EtcdMemberName(tc.Name, i)+"="+controlplane.EtcdPeerURL(tc.Name, controlplane.NamespaceOf(tc), i))
		}
		if got := cm.Data[controlplane.EtcdInitialClusterKey]; got != strings.Join(want, ",") {
			t.Errorf("%+v: %s = %q, want %q", s.in, controlplane.EtcdInitialClusterKey, got, strings.Join(want, ","))
		}
		if got := cm.Data[controlplane.EtcdInitialClusterStateKey]; got != s.wantState {
			t.Errorf("%+v: %s = %q, want %q", s.in, controlplane.EtcdInitialClusterStateKey, got, s.wantState)
		}
		ctr := sts.Spec.Template.Spec.Containers[0]
		if len(ctr.EnvFrom) != 1 || ctr.EnvFrom[0].ConfigMapRef == nil || ctr.EnvFrom[0].ConfigMapRef.Name != cm.Name || cm.Name == "" {
			t.Errorf("etcd envFrom %+v does not read the ConfigMap %q", ctr.EnvFrom, cm.Name)
		}
		// etcd refuses a variable shadowed by a flag.
		for _, a := range ctr.Args {
			flag, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			env := "ETCD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
			if _, ok := cm.Data[env]; ok {
				t.Errorf("argument %s is also %s in the ConfigMap", a, env)
			}
		}
		for k := range cm.Data {
			if !strings.HasPrefix(k, "ETCD_") {
				t.Errorf("ConfigMap key %s is not an etcd variable", k)
			}
		}
	}
}

// TestEtcdAdmitsTheManager: the etcd NetworkPolicy lets the manager's pods reach the client
// port from the manager's namespace only (a customer can label a pod like the manager in
// their own), and nothing else beyond the apiserver and the peers.
func TestEtcdAdmitsTheManager(t *testing.T) {
	tc := tenant()
	for _, o := range renderCase(t, tc, controlplane.Inputs{ManagerNamespace: "ops"}) {
		if o.GetKind() != "NetworkPolicy" || o.GetName() != controlplane.Etcd.ObjectName(tc.Name) {
			continue
		}
		var np networkingv1.NetworkPolicy
		fromUnstructured(t, o, &np)
		for _, rule := range np.Spec.Ingress {
			for _, peer := range rule.From {
				if peer.NamespaceSelector == nil {
					continue
				}
				if !maps.Equal(peer.NamespaceSelector.MatchLabels, map[string]string{"kubernetes.io/metadata.name": "ops"}) ||
					len(peer.NamespaceSelector.MatchExpressions) != 0 || peer.PodSelector == nil ||
					!maps.Equal(peer.PodSelector.MatchLabels, controlplane.ManagerPodLabels()) {
					t.Errorf("cross-namespace peer %+v is not the manager", peer)
				}
				if len(rule.Ports) != 1 || rule.Ports[0].Port.IntVal != controlplane.EtcdClientPort {
					t.Errorf("the manager is admitted to %+v, want the client port only", rule.Ports)
				}
				return
			}
		}
		t.Fatalf("no ingress rule admits the manager: %+v", np.Spec.Ingress)
	}
	t.Fatal("no etcd NetworkPolicy")
}

// TestEtcdClaimTemplateKept: a StatefulSet's claim templates are immutable, so a live one's
// size and class are rendered whatever the spec says; etcd's quota follows the spec's size
// only as far as the smallest observed volume.
func TestEtcdClaimTemplateKept(t *testing.T) {
	grown := tenant(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.ControlPlane.Etcd.Storage.Size = ptr.To(resource.MustParse("16Gi"))
		tc.Spec.ControlPlane.Etcd.Storage.StorageClassName = ptr.To("fast")
	})
	old := &controlplane.EtcdStorageValue{Size: resource.MustParse("8Gi"), StorageClassName: ""}
	for _, c := range []struct {
		name                string
		in                  controlplane.Inputs
		wantSize, wantClass string
		wantQuota           string // (16Gi-512Mi)/2 unless smaller
	}{
		{"new StatefulSet: the spec's", controlplane.Inputs{}, "16Gi", "fast", "8321499136"},
		{"live template kept, volumes grown", controlplane.Inputs{EtcdClaimTemplate: old, EtcdVolumeCapacity: ptr.To(resource.MustParse("16Gi"))}, "8Gi", "", "8321499136"},
		{"volumes not grown yet: quota of the smallest", controlplane.Inputs{EtcdClaimTemplate: old, EtcdVolumeCapacity: ptr.To(resource.MustParse("8Gi"))}, "8Gi", "", "4026531840"},
		{"provisioner rounded up: the spec's", controlplane.Inputs{EtcdVolumeCapacity: ptr.To(resource.MustParse("20Gi"))}, "16Gi", "fast", "8321499136"},
		{"absurdly small volume: the minimum's", controlplane.Inputs{EtcdVolumeCapacity: ptr.To(resource.MustParse("100Mi"))}, "16Gi", "fast", "268435456"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := mustValues(t, grown, c.in)
			if got := v.Etcd.Storage.Size.String(); got != c.wantSize || v.Etcd.Storage.StorageClassName != c.wantClass {
				t.Errorf("claim template %s class %q, want %s class %q", got, v.Etcd.Storage.StorageClassName, c.wantSize, c.wantClass)
			}
			if got, _ := flagValue(v.Etcd.Args, "quota-backend-bytes"); got != c.wantQuota {
				t.Errorf("quota %s, want %s", got, c.wantQuota)
			}
			for _, o := range renderCase(t, grown, c.in) {
				if o.GetKind() != "StatefulSet" {
					continue
				}
				vcts, _, _ := unstructured.NestedSlice(o.Object, "spec", "volumeClaimTemplates")
				if len(vcts) != 1 {
					t.Fatalf("%d claim templates, want 1", len(vcts))
				}
				spec := vcts[0].(map[string]any)["spec"].(map[string]any)
				size := spec["resources"].(map[string]any)["requests"].(map[string]any)["storage"]
				if size != c.wantSize || (spec["storageClassName"] != nil && spec["storageClassName"] != c.wantClass) || (spec["storageClassName"] == nil) != (c.wantClass == "") {
					t.Errorf("rendered claim template %v, want %s class %q", spec, c.wantSize, c.wantClass)
				}
			}
		})
	}
	if _, err := controlplane.ValuesFor(grown, controlplane.Inputs{EtcdClaimTemplate: &controlplane.EtcdStorageValue{}}); err == nil {
		t.Errorf("a claim template without a size was accepted")
	}
	if got, err := controlplane.EtcdStorageSize(tenant()); err != nil || got.String() != "8Gi" {
		t.Errorf("EtcdStorageSize of the default: %s, %v; want 8Gi", got.String(), err)
	}
}

// TestEgress: each control-plane pod may dial DNS and what its component needs, nothing
// else: etcd its peers, the apiserver its etcd (and anything only without the tunnel, which
// otherwise carries its traffic to the tenant's nodes), the controllers the apiserver.
func TestEgress(t *testing.T) {
	for _, tunnelDisabled := range []bool{false, true} {
		tc := tenant()
		policies := map[string]networkingv1.NetworkPolicy{}
		for _, o := range renderCase(t, tc, controlplane.Inputs{TunnelDisabled: tunnelDisabled}) {
			if o.GetKind() == "NetworkPolicy" {
				var np networkingv1.NetworkPolicy
				fromUnstructured(t, o, &np)
				policies[np.Name] = np
			}
		}
		egress := func(name string) []networkingv1.NetworkPolicyEgressRule {
			np, ok := policies[name]
			if !ok || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
				t.Fatalf("tunnel disabled %v: no egress policy %s among %v", tunnelDisabled, name, slices.Sorted(maps.Keys(policies)))
			}
			return np.Spec.Egress
		}
		dns := egress(tc.Name + "-default-deny")
		if len(dns) != 1 || len(dns[0].To) != 0 || len(dns[0].Ports) != 2 || dns[0].Ports[0].Port.IntVal != 53 || dns[0].Ports[1].Port.IntVal != 53 {
			t.Errorf("default egress %+v, want DNS only", dns)
		}
		to := func(rules []networkingv1.NetworkPolicyEgressRule, i int) (string, int32) {
			r := rules[i]
			if len(r.To) != 1 || r.To[0].PodSelector == nil || r.To[0].NamespaceSelector != nil || r.To[0].IPBlock != nil || len(r.Ports) != 1 {
				t.Fatalf("egress rule %+v is not one component's port in the namespace", r)
			}
			return r.To[0].PodSelector.MatchLabels[controlplane.LabelComponent], r.Ports[0].Port.IntVal
		}
		if c, p := to(egress(controlplane.Etcd.ObjectName(tc.Name)), 0); c != string(controlplane.Etcd) || p != controlplane.EtcdPeerPort {
			t.Errorf("etcd dials %s:%d, want its peers", c, p)
		}
		if c, p := to(egress(tc.Name+"-controllers-egress"), 0); c != string(controlplane.APIServer) || p != controlplane.APIServerPort {
			t.Errorf("the controllers dial %s:%d, want the apiserver", c, p)
		}
		api := egress(controlplane.APIServer.ObjectName(tc.Name))
		if c, p := to(api, 0); c != string(controlplane.Etcd) || p != controlplane.EtcdClientPort {
			t.Errorf("the apiserver dials %s:%d, want its etcd", c, p)
		}
		open := len(api) == 2 && len(api[1].To) == 0 && len(api[1].Ports) == 0
		if open != tunnelDisabled || (!tunnelDisabled && len(api) != 1) {
			t.Errorf("tunnel disabled %v: apiserver egress %+v", tunnelDisabled, api)
		}
	}
}

// TestEtcdRestoreFits: a backup restores only into an etcd whose quota holds its
// database, and the refusal names the size that would.
func TestEtcdRestoreFits(t *testing.T) {
	for _, tc := range []struct {
		size     string
		snapshot int64
		want     string // "" fits; else a part of the refusal
	}{
		{"1Gi", 256 << 20, ""},
		{"1Gi", 256<<20 + 1, "a backend quota of 268435456 bytes: set it to at least 2Gi"},
		{"8Gi", 3 << 30, ""},
		{"8Gi", 4 << 30, "set it to at least 9Gi"},
		{"20Gi", 9 << 30, "more than etcd's largest backend quota"},
	} {
		t.Run(tc.size, func(t *testing.T) {
			ten := &v1alpha1.TenantCluster{}
			q := resource.MustParse(tc.size)
			ten.Spec.ControlPlane.Etcd.Storage.Size = &q
			got := controlplane.EtcdRestoreFits(ten, tc.snapshot)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("EtcdRestoreFits(%s, %d) = %q, want %q", tc.size, tc.snapshot, got, tc.want)
			}
		})
	}
}
