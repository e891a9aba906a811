package addons

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubeseed/kubeseed/pkg/pki"
)

// TestRenderAutoscalerRBAC pins what the autoscaler's user may do in the tenant: read what
// the simulation needs, mark nodes, write events and its one status ConfigMap; nothing
// else (no Secrets, no deletes, no pods/eviction).
func TestRenderAutoscalerRBAC(t *testing.T) {
	v, err := ValuesFor(goldenCases[0].tc, goldenCases[0].in)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Render(v)
	if err != nil {
		t.Fatal(err)
	}
	var cr *rbacv1.ClusterRole
	var crb *rbacv1.ClusterRoleBinding
	var role *rbacv1.Role
	var rb *rbacv1.RoleBinding
	for _, o := range objs {
		if o.GetName() != "kubeseed:autoscaler" {
			continue
		}
		switch o.GetKind() {
		case "ClusterRole":
			cr = convert[rbacv1.ClusterRole](t, o)
		case "ClusterRoleBinding":
			crb = convert[rbacv1.ClusterRoleBinding](t, o)
		case "Role":
			role = convert[rbacv1.Role](t, o)
			if o.GetNamespace() != "kube-system" {
				t.Errorf("Role in %q, want kube-system", o.GetNamespace())
			}
		case "RoleBinding":
			rb = convert[rbacv1.RoleBinding](t, o)
		}
	}
	if cr == nil || crb == nil || role == nil || rb == nil {
		t.Fatalf("rendered ClusterRole %v, ClusterRoleBinding %v, Role %v, RoleBinding %v", cr != nil, crb != nil, role != nil, rb != nil)
	}

	// "group/resource[/name]" → verbs, from every rule.
	grants := func(rules []rbacv1.PolicyRule) map[string][]string {
		out := map[string][]string{}
		for _, r := range rules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					key := g + "/" + res
					if len(r.ResourceNames) > 0 {
						key += "/" + strings.Join(r.ResourceNames, ",")
					}
					out[key] = append(out[key], r.Verbs...)
					slices.Sort(out[key])
				}
			}
		}
		return out
	}
	read := []string{"get", "list", "watch"}
	want := map[string][]string{
		"/pods": read, "policy/poddisruptionbudgets": read, "apps/daemonsets": read,
		"/nodes":  {"get", "list", "patch", "watch"},
		"/events": {"create", "patch"}, "events.k8s.io/events": {"create", "patch"},
	}
	if got := grants(cr.Rules); !equalGrants(got, want) {
		t.Errorf("ClusterRole grants %v, want %v", got, want)
	}
	wantRole := map[string][]string{"/configmaps": {"create"}, "/configmaps/cluster-autoscaler-status": {"get", "update"}}
	if got := grants(role.Rules); !equalGrants(got, wantRole) {
		t.Errorf("Role grants %v, want %v", got, wantRole)
	}
	for what, b := range map[string]struct {
		ref      rbacv1.RoleRef
		subjects []rbacv1.Subject
	}{"ClusterRoleBinding": {crb.RoleRef, crb.Subjects}, "RoleBinding": {rb.RoleRef, rb.Subjects}} {
		if b.ref.Name != "kubeseed:autoscaler" || len(b.subjects) != 1 || b.subjects[0].Kind != rbacv1.UserKind || b.subjects[0].Name != pki.AutoscalerUser {
			t.Errorf("%s %+v to %+v, want kubeseed:autoscaler to the user of the autoscaler's certificate %s", what, b.ref, b.subjects, pki.AutoscalerUser)
		}
	}
}

func equalGrants(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
