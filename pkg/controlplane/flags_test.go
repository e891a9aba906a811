package controlplane_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// flagValue returns the value of --name in args, and whether it is there.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestAPIServerFlags(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*v1alpha1.TenantCluster)
		in      controlplane.Inputs
		want    map[string]string // flag → value; "" means absent
		wantLen int               // number of args, 0 to skip
	}{
		{
			name: "defaults",
			want: map[string]string{
				"etcd-servers":             "https://acme-etcd-client.kubeseed-project-1234-acme-4de2c015e5.svc:2379",
				"service-cluster-ip-range": "10.96.0.0/12",
				"service-account-issuer":   "https://kubernetes.default.svc.cluster.local",
				"authorization-mode":       "Node,RBAC",
				"endpoint-reconciler-type": "none",
				"secure-port":              "6443",
				"advertise-address":        "",
				// Secrets encrypted at rest, the key reloaded when a rotation adds one.
				"encryption-provider-config":                  "/etc/kubernetes/pki/encryption-config/config.yaml",
				"encryption-provider-config-automatic-reload": "true",
				// The audit log, bounded: 20 MB files, 2 kept.
				"audit-policy-file":   "/etc/kubernetes/audit/policy.yaml",
				"audit-log-path":      "/var/log/kubernetes/audit/audit.log",
				"audit-log-maxsize":   "20",
				"audit-log-maxbackup": "2",
			},
			wantLen: 37, // with --egress-selector-config-file (the tunnel) and the size's --profiling=false
		},
		{
			name: "endpoint IP becomes the advertise address",
			in:   controlplane.Inputs{EndpointHost: "203.0.113.10"},
			want: map[string]string{"advertise-address": "203.0.113.10"},
		},
		{
			name: "IPv6 endpoint",
			in:   controlplane.Inputs{EndpointHost: "2001:db8::0010"},
			want: map[string]string{"advertise-address": "2001:db8::10"},
		},
		{
			name: "DNS endpoint is no advertise address",
			in:   controlplane.Inputs{EndpointHost: "api.acme.example.com"},
			want: map[string]string{"advertise-address": ""},
		},
		{
			name: "extra args override and add",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.ExtraArgs = map[string]string{
					"enable-admission-plugins": "PodNodeSelector, NodeRestriction,AlwaysPullImages",
					"--event-ttl":              "2h",
					"v":                        "2",
				}
			},
			want: map[string]string{
				// Added to kubeseed's list, which stays first and whole.
				"enable-admission-plugins": "NodeRestriction,PodNodeSelector,AlwaysPullImages",
				"event-ttl":                "2h",
				"v":                        "2",
				"authorization-mode":       "Node,RBAC",
			},
			wantLen: 39,
		},
		{
			name: "network",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Network = v1alpha1.NetworkSpec{ServiceCIDR: "172.20.0.0/16", PodCIDR: "172.16.0.0/14", DNSDomain: "acme.internal"}
			},
			want: map[string]string{
				"service-cluster-ip-range": "172.20.0.0/16",
				"service-account-issuer":   "https://kubernetes.default.svc.acme.internal",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := tenant()
			if c.mutate != nil {
				c.mutate(tc)
			}
			args := mustValues(t, tc, c.in).APIServer.Args
			for name, want := range c.want {
				got, ok := flagValue(args, name)
				if want == "" && ok {
					t.Errorf("--%s=%s is set, want it absent", name, got)
				}
				if want != "" && got != want {
					t.Errorf("--%s = %q, want %q", name, got, want)
				}
			}
			if c.wantLen != 0 && len(args) != c.wantLen {
				t.Errorf("%d args, want %d:\n%s", len(args), c.wantLen, strings.Join(args, "\n"))
			}
			assertSortedUnique(t, args)
		})
	}
}

func TestControllerFlags(t *testing.T) {
	tc := tenant(func(tc *v1alpha1.TenantCluster) {
		tc.Spec.ControlPlane.ControllerManager.ExtraArgs = map[string]string{"node-cidr-mask-size": "25"}
		tc.Spec.ControlPlane.Scheduler.ExtraArgs = map[string]string{"--kube-api-qps": "100"}
	})
	v := mustValues(t, tc, controlplane.Inputs{})
	for flagName, want := range map[string]string{
		"controllers":              "*,bootstrapsigner,tokencleaner",
		"cluster-cidr":             "10.244.0.0/16",
		"service-cluster-ip-range": "10.96.0.0/12",
		"allocate-node-cidrs":      "true",
		"cluster-name":             "acme",
		"flex-volume-plugin-dir":   "/tmp/flex",
		"leader-elect":             "true",
		"node-cidr-mask-size":      "25",
	} {
		if got, _ := flagValue(v.ControllerManager.Args, flagName); got != want {
			t.Errorf("controller-manager --%s = %q, want %q", flagName, got, want)
		}
	}
	if got, _ := flagValue(v.Scheduler.Args, "kube-api-qps"); got != "100" {
		t.Errorf("scheduler extraArgs did not add --kube-api-qps: %q", got)
	}
	assertSortedUnique(t, v.ControllerManager.Args)
	assertSortedUnique(t, v.Scheduler.Args)
	assertSortedUnique(t, v.Etcd.Args)
}

// TestFlagsReferToMountedFiles: every file a flag names is a key some mounted Secret
// projects, in that component's pod.
func TestFlagsReferToMountedFiles(t *testing.T) {
	v := mustValues(t, tenant(), controlplane.Inputs{})
	for name, pod := range map[string]controlplane.PodValues{
		"etcd": v.Etcd.PodValues, "apiserver": v.APIServer.PodValues,
		"controller-manager": v.ControllerManager.PodValues, "scheduler": v.Scheduler.PodValues,
	} {
		files := map[string]bool{}
		if name == "apiserver" {
			// Not Secrets: the chart's ConfigMaps, checked by TestTunnelValues and
			// TestAuditPolicy.
			files["/etc/kubernetes/egress-selector/egress-selector.yaml"] = true
			files[v.APIServer.Audit.PolicyDir+"/policy.yaml"] = true
		}
		for _, m := range pod.Secrets {
			for _, k := range m.Keys {
				files[m.MountPath+"/"+k] = true
			}
		}
		used := map[string]bool{}
		for _, a := range pod.Args {
			_, value, _ := strings.Cut(a, "=")
			if strings.HasPrefix(value, "/etc/kubernetes/") {
				if !files[value] {
					t.Errorf("%s: %s names a file no Secret mount provides", name, a)
				}
				used[value] = true
			}
		}
		for f := range files {
			if !used[f] {
				t.Errorf("%s: %s is mounted but no flag uses it", name, f)
			}
		}
	}
}

func assertSortedUnique(t *testing.T, args []string) {
	t.Helper()
	names := make([]string, len(args))
	for i, a := range args {
		name, _, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			t.Errorf("%q is not --flag=value", a)
		}
		names[i] = name
	}
	if !slices.IsSorted(names) {
		t.Errorf("args are not sorted by flag name: %v", names)
	}
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("a flag appears twice: %v", names)
	}
}
