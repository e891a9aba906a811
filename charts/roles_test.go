//go:build envtest

package charts_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/cmd/manager/app"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/testenv"
)

const magnumUser = "system:serviceaccount:kubeseed-system:kubeseed-magnum"

// TestCustomerAndMagnumRoles installs the chart's kubeseed-customer and kubeseed-magnum
// roles and Magnum's admission policy into a real kube-apiserver, and acts as a customer
// and as Magnum (impersonation, as `kubectl --as` does): what docs/security.md promises each
// may and may not do.
func TestCustomerAndMagnumRoles(t *testing.T) {
	ctx := context.Background()
	sd, err := testenv.StartSeed(filepath.Join(".."), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sd.Stop)
	admin, err := client.New(sd.Config, client.Options{Scheme: app.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range renderKubeseed(t, map[string]any{"magnum": map[string]any{"enabled": true}}) {
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ServiceAccount":
			if o.GetNamespace() != "" {
				ensureNamespace(t, admin, o.GetNamespace())
			}
			if err := admin.Create(ctx, o); err != nil {
				t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
	for _, ns := range []string{"customer-a", "customer-b", "kubeseed-customer-a-acme-0123456789"} {
		ensureNamespace(t, admin, ns)
	}
	bind(t, admin, "customer-a", "alice")
	bind(t, admin, "customer-b", "bob")
	alice := as(t, sd.Config, "alice")

	t.Run("a customer manages TenantClusters, WorkerPools and Secrets in their namespace", func(t *testing.T) {
		tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "customer-a", Name: "acme"}}
		tc.Spec.Endpoint.Type = v1alpha1.EndpointNodePort
		mustAllow(t, alice.Create(ctx, tc), "create a TenantCluster in customer-a")
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "customer-a", Name: "cloud"}, StringData: map[string]string{"clouds.yaml": "clouds: {}"}}
		mustAllow(t, alice.Create(ctx, secret), "create a credentials Secret in customer-a")
		mustAllow(t, alice.List(ctx, &v1alpha1.WorkerPoolList{}, client.InNamespace("customer-a")), "list WorkerPools in customer-a")
		tc.Status.Endpoint = "https://203.0.113.66:6443"
		mustForbid(t, alice.Status().Update(ctx, tc), "write a TenantCluster's status")
	})
	t.Run("a customer reaches nothing outside their namespace", func(t *testing.T) {
		mustForbid(t, alice.List(ctx, &corev1.SecretList{}, client.InNamespace("customer-b")), "list another customer's Secrets")
		mustForbid(t, alice.List(ctx, &v1alpha1.TenantClusterList{}, client.InNamespace("customer-b")), "list another customer's TenantClusters")
		mustForbid(t, alice.List(ctx, &corev1.SecretList{}, client.InNamespace("kubeseed-customer-a-acme-0123456789")), "read their own control-plane namespace")
		mustForbid(t, alice.List(ctx, &corev1.PodList{}, client.InNamespace("customer-a")), "list pods")
		mustForbid(t, alice.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "alice-2"}}), "create a namespace")
		mustForbid(t, alice.List(ctx, &v1alpha1.TenantClusterList{}), "list TenantClusters of every namespace")
	})

	magnum := as(t, sd.Config, magnumUser, "system:serviceaccounts", "system:serviceaccounts:kubeseed-system")
	t.Run("Magnum makes its namespaces and acts in them as a customer", func(t *testing.T) {
		// The policy is enforced once the apiserver has loaded it: wait for its first refusal.
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			err := magnum.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "not-magnums"}}, client.DryRunAll)
			return apierrors.IsForbidden(err) || apierrors.IsInvalid(err), nil
		})
		if err != nil {
			t.Fatal("the admission policy never refused a namespace without the prefix")
		}
		mustAllow(t, magnum.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "magnum-1"}}), "create namespace magnum-1")
		rb := customerBinding("magnum-1", rbacv1.Subject{Kind: "ServiceAccount", Name: "kubeseed-magnum", Namespace: "kubeseed-system"})
		mustAllow(t, magnum.Create(ctx, rb), "bind kubeseed-customer in magnum-1")
		tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "magnum-1", Name: "coe"}}
		tc.Spec.Endpoint.Type = v1alpha1.EndpointNodePort
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			return magnum.Create(ctx, tc) == nil, nil
		})
		if err != nil {
			t.Fatal("Magnum could not create a TenantCluster in the namespace it bound itself in")
		}
	})
	t.Run("Magnum reaches nothing else", func(t *testing.T) {
		for _, c := range []struct {
			what string
			err  error
			msg  string
		}{
			{"create a namespace without the prefix", magnum.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "evil"}}), "magnum-*"},
			{"delete a customer's namespace", magnum.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "customer-a"}}), "magnum-*"},
			{"bind itself in a customer's namespace", magnum.Create(ctx, customerBinding("customer-a", rbacv1.Subject{Kind: "User", Name: magnumUser})), "magnum-*"},
			{"bind every user of the seed in its namespace", magnum.Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: "magnum-1", Name: "everyone"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kubeseed-customer"},
				Subjects:   []rbacv1.Subject{{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "system:authenticated"}},
			}), "may only bind itself"},
			{"bind cluster-admin in its namespace", magnum.Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: "magnum-1", Name: "admin"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects:   []rbacv1.Subject{{Kind: "User", Name: magnumUser}},
			}), ""},
			{"read a customer's Secrets", magnum.List(ctx, &corev1.SecretList{}, client.InNamespace("customer-a")), ""},
		} {
			mustForbid(t, c.err, c.what)
			if c.err != nil && !strings.Contains(c.err.Error(), c.msg) {
				t.Errorf("Magnum may not %s: the refusal %q does not say why (%q)", c.what, c.err, c.msg)
			}
		}
	})
}

// TestManagerGrantsTheAutoscaler: RBAC lets a subject grant only what it holds itself; the
// manager's ClusterRole, as the chart renders it, must let it make the autoscaler's
// ServiceAccount, Role and RoleBinding.
func TestManagerGrantsTheAutoscaler(t *testing.T) {
	ctx := context.Background()
	sd, err := testenv.StartSeed(filepath.Join(".."), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sd.Stop)
	admin, err := client.New(sd.Config, client.Options{Scheme: app.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range renderKubeseed(t, nil) {
		if id := o.GetKind() + " " + o.GetName(); id == "ClusterRole kubeseed-manager" || id == "ClusterRoleBinding kubeseed-manager" {
			if err := admin.Create(ctx, o); err != nil {
				t.Fatalf("create %s: %v", id, err)
			}
		}
	}
	tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "customer-a", Name: "acme"}}
	cpns := controlplane.NamespaceOf(tc)
	for _, ns := range []string{"customer-a", cpns} {
		ensureNamespace(t, admin, ns)
	}
	manager := as(t, sd.Config, "system:serviceaccount:kubeseed-system:kubeseed-manager", "system:serviceaccounts", "system:serviceaccounts:kubeseed-system")
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: controlplane.AutoscalerServiceAccountName(tc.Name)}}
	mustAllow(t, manager.Create(ctx, sa), "create the autoscaler's ServiceAccount")
	for _, o := range tenantcluster.AutoscalerRBAC(tc, []string{"pool-a"}) {
		mustAllow(t, manager.Create(ctx, o), "create the autoscaler's "+fmt.Sprintf("%T", o))
	}
	// The negative control: a right the manager does not hold, it cannot grant (it holds
	// pods/exec, which a restore streams its snapshot through).
	attach := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: "customer-a", Name: "attach"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/attach"}, Verbs: []string{"create"}}},
	}
	mustForbid(t, manager.Create(ctx, attach), "grant pods/attach, which it does not hold")
}

func ensureNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func customerBinding(ns string, subject rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubeseed-customer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kubeseed-customer"},
		Subjects:   []rbacv1.Subject{subject},
	}
}

// bind gives user the kubeseed-customer role in ns, as docs/security.md tells an admin to.
func bind(t *testing.T, c client.Client, ns, user string) {
	t.Helper()
	if err := c.Create(context.Background(), customerBinding(ns, rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: user})); err != nil {
		t.Fatal(err)
	}
}

func as(t *testing.T, cfg *rest.Config, user string, groups ...string) client.Client {
	t.Helper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
	cl, err := client.New(c, client.Options{Scheme: app.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func mustAllow(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Errorf("may %s: %v", what, err)
	}
}

func mustForbid(t *testing.T, err error, what string) {
	t.Helper()
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		t.Errorf("may not %s, but got err = %v", what, err)
	}
}
