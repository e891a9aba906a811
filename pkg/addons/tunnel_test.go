package addons

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubeseed/kubeseed/pkg/pki"
)

// TestRenderTunnelAgent checks the agent's identity: its node's kubelet certificate, read
// from the host as root with nothing else, and the server's right to read Nodes only.
func TestRenderTunnelAgent(t *testing.T) {
	in := goldenCases[0].in
	in.Tunnel = TunnelValues{Enabled: true, Image: "kubeseed/tunnel:v1.2.3", ServerHost: "203.0.113.10", ServerPort: 31000, AllowedCIDRs: []string{"10.244.0.0/16", "10.96.0.0/12"}}
	v, err := ValuesFor(goldenCases[0].tc, in)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Render(v)
	if err != nil {
		t.Fatal(err)
	}
	var ds *appsv1.DaemonSet
	var role *rbacv1.ClusterRole
	var binding *rbacv1.ClusterRoleBinding
	for _, o := range objs {
		switch o.GetKind() + "/" + o.GetName() {
		case "DaemonSet/" + TunnelAgentDaemonSet:
			ds = convert[appsv1.DaemonSet](t, o)
		case "ClusterRole/kubeseed:tunnel-server":
			role = convert[rbacv1.ClusterRole](t, o)
		case "ClusterRoleBinding/kubeseed:tunnel-server":
			binding = convert[rbacv1.ClusterRoleBinding](t, o)
		}
	}
	if ds == nil || role == nil || binding == nil {
		t.Fatalf("rendered DaemonSet %v, ClusterRole %v, ClusterRoleBinding %v", ds != nil, role != nil, binding != nil)
	}
	pod := ds.Spec.Template.Spec
	c := pod.Containers[0]
	for _, want := range []string{
		"--server=203.0.113.10:31000", "--id=$(NODE_NAME)", "--node-ip=$(HOST_IP)",
		"--cert=/var/lib/kubelet/pki/kubelet-client-current.pem", "--key=/var/lib/kubelet/pki/kubelet-client-current.pem",
		"--ca=/etc/kubeseed/tenant-ca/ca.crt", "--allowed-cidrs=10.244.0.0/16,10.96.0.0/12",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("agent args %q lack %s", c.Args, want)
		}
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 || sc.Privileged != nil {
		t.Errorf("agent security context %+v: want no capability, no escalation, read-only root", sc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the agent mounts a service account token; it never talks to the apiserver")
	}
	var hostPaths []string
	for _, vol := range pod.Volumes {
		if vol.HostPath != nil {
			hostPaths = append(hostPaths, vol.HostPath.Path)
		}
	}
	if !slices.Equal(hostPaths, []string{"/var/lib/kubelet/pki"}) {
		t.Errorf("host paths %q, want the kubelet's pki directory only", hostPaths)
	}
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("mount %s is writable", m.MountPath)
		}
	}
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Resources, []string{"nodes"}) || !slices.Equal(role.Rules[0].Verbs, []string{"get"}) {
		t.Errorf("tunnel server's ClusterRole rules %+v, want get nodes only", role.Rules)
	}
	if len(binding.Subjects) != 1 || binding.Subjects[0].Kind != rbacv1.UserKind || binding.Subjects[0].Name != pki.TunnelServerCommonName {
		t.Errorf("binding subjects %+v, want the user of the tunnel server's certificate %s", binding.Subjects, pki.TunnelServerCommonName)
	}
}
