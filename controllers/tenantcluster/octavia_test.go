//go:build envtest

package tenantcluster_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// These tests run the reconciler against envtest with an in-memory OpenStack
// (openstack.Fake): no cloud runs in this tier. e2e/octavia_test.go runs the same against
// the test cloud's real Octavia and Neutron.

// octaviaTenant creates a credentials Secret backed by a fresh fake cloud with a customer
// subnet, and a TenantCluster with an Octavia endpoint on it.
func octaviaTenant(t *testing.T, name string, mutate func(*openstack.Fake, *v1alpha1.TenantCluster)) (*v1alpha1.TenantCluster, *openstack.Fake) {
	t.Helper()
	ctx := context.Background()
	ns := newNamespace(t)
	f := openstack.NewFake()
	net, err := f.CreateNetwork(ctx, openstack.NetSpec{Name: "customer-net"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := f.CreateSubnet(ctx, openstack.SubnetSpec{Name: "customer-subnet", NetworkID: net.ID, CIDR: "10.0.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "customer-cloud"},
		Data:       map[string][]byte{openstack.SecretKeyCloudsYAML: []byte("clouds: {openstack: {}}")},
	}
	if err := k8sClient.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	fakeClouds.Register(ns, "customer-cloud", f)
	tc := small(ns, name)
	tc.Spec.Endpoint = v1alpha1.EndpointSpec{Type: v1alpha1.EndpointOctavia, Octavia: &v1alpha1.OctaviaEndpointSpec{
		CredentialsSecretRef: corev1.LocalObjectReference{Name: "customer-cloud"}, SubnetID: sub.ID,
	}}
	if mutate != nil {
		mutate(f, tc)
	}
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	return tc, f
}

func endpointCondition(tc *v1alpha1.TenantCluster) *metav1.Condition {
	return meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.EndpointReadyCondition)
}

func TestOctaviaEndpoint(t *testing.T) {
	ctx := context.Background()
	tc, f := octaviaTenant(t, "lb", nil)
	waitFor(t, tc, "EndpointReady", func(tc *v1alpha1.TenantCluster) bool {
		c := endpointCondition(tc)
		return c != nil && c.Status == metav1.ConditionTrue
	})
	if tc.Status.Octavia == nil || tc.Status.Octavia.VIPAddress == "" {
		t.Fatalf("status.octavia = %+v", tc.Status.Octavia)
	}
	vip := tc.Status.Octavia.VIPAddress
	if want := "https://" + vip + ":6443"; tc.Status.Endpoint != want {
		t.Errorf("status.endpoint = %q, want %q", tc.Status.Endpoint, want)
	}

	// What a customer sees in the project: one load balancer with two TCP listeners, each
	// with a pool of the seed node's node port and a monitor, all tagged with the tenant.
	tag := openstack.TenantTag(string(tc.UID))
	lbs, _ := f.ListLoadBalancers(ctx, tag)
	lis, _ := f.ListListeners(ctx, tag)
	pools, _ := f.ListPools(ctx, tag)
	mons, _ := f.ListMonitors(ctx, tag)
	if len(lbs) != 1 || len(lis) != 2 || len(pools) != 2 || len(mons) != 2 {
		t.Fatalf("%d load balancers, %d listeners, %d pools, %d monitors; want 1, 2, 2, 2", len(lbs), len(lis), len(pools), len(mons))
	}
	svc := &corev1.Service{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: controlplane.APIServer.ObjectName(tc.Name)}, svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeNodePort {
		t.Errorf("apiserver Service is %s, want NodePort behind Octavia", svc.Spec.Type)
	}
	for _, p := range pools {
		ms, _ := f.ListMembers(ctx, p.ID)
		if len(ms) != 1 || ms[0].Address != nodeAddress {
			t.Errorf("pool %s members %+v, want the seed node %s", p.Name, ms, nodeAddress)
			continue
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return int(sp.NodePort) == ms[0].Port }) {
			t.Errorf("pool %s forwards to port %d, which is no node port of %v", p.Name, ms[0].Port, svc.Spec.Ports)
		}
	}

	// The serving certificate names the VIP; the credentials are held until cleanup.
	cert := &cmv1.Certificate{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: controlplane.APIServerTLSSecret.Name(tc.Name)}, cert); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cert.Spec.IPAddresses, vip) {
		t.Errorf("apiserver certificate IPs %v lack the VIP %s", cert.Spec.IPAddresses, vip)
	}
	secret := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: tc.Namespace, Name: "customer-cloud"}, secret); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(secret.Finalizers, tenantcluster.CredentialsFinalizer) {
		t.Errorf("credentials Secret finalizers %v lack %s", secret.Finalizers, tenantcluster.CredentialsFinalizer)
	}

	// The cloud is reached with a copy in the control-plane namespace, which follows the
	// customer's Secret when they rotate it.
	copyKey := client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: tc.Name + "-cloud-credentials"}
	rotated := []byte("clouds: {openstack: {auth: {application_credential_id: rotated}}}")
	secret.Data[openstack.SecretKeyCloudsYAML] = rotated
	if err := k8sClient.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the credentials copy follows the rotated Secret", time.Minute, func(ctx context.Context) bool {
		cp := &corev1.Secret{}
		return k8sClient.Get(ctx, copyKey, cp) == nil && string(cp.Data[openstack.SecretKeyCloudsYAML]) == string(rotated) &&
			cp.Annotations[openstack.CredentialsSourceAnnotation] == tc.Namespace+"/customer-cloud"
	})

	// Deleting the tenant deletes the load balancer, then releases the Secret.
	if err := k8sClient.Delete(ctx, tc); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), &v1alpha1.TenantCluster{})), nil
	})
	if err != nil {
		t.Fatal("TenantCluster not gone within a minute")
	}
	if lbs, _ := f.ListLoadBalancers(ctx, ""); len(lbs) != 0 {
		t.Errorf("load balancers left: %+v", lbs)
	}
	if ports, _ := f.ListPorts(ctx, ""); len(ports) != 0 {
		t.Errorf("ports left: %+v", ports)
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(secret.Finalizers, tenantcluster.CredentialsFinalizer) {
		t.Error("the credentials Secret is still held after the tenant is gone")
	}
}

func TestOctaviaCustomerProblems(t *testing.T) {
	cases := []struct {
		name        string
		mutate      func(*openstack.Fake, *v1alpha1.TenantCluster)
		reason      string
		msgContains string
	}{
		{
			name:   "quota",
			mutate: func(f *openstack.Fake, _ *v1alpha1.TenantCluster) { f.SetQuota("load_balancer", 0) },
			reason: v1alpha1.QuotaExceededReason, msgContains: "load_balancer quota",
		},
		{
			name: "unknown subnet",
			mutate: func(_ *openstack.Fake, tc *v1alpha1.TenantCluster) {
				tc.Spec.Endpoint.Octavia.SubnetID = "0b9e2f3c-0000-4000-8000-999999999999"
			},
			reason: v1alpha1.InvalidSpecReason, msgContains: "spec.endpoint.octavia.subnetID",
		},
		{
			name: "missing Secret",
			mutate: func(_ *openstack.Fake, tc *v1alpha1.TenantCluster) {
				tc.Spec.Endpoint.Octavia.CredentialsSecretRef.Name = "nope"
			},
			reason: v1alpha1.CloudCredentialsInvalidReason, msgContains: "Secret nope",
		},
		{
			name: "unknown subnet from spec.cloud",
			mutate: func(_ *openstack.Fake, tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "customer-cloud"}, SubnetID: "0b9e2f3c-0000-4000-8000-999999999999"}
				tc.Spec.Endpoint.Octavia = &v1alpha1.OctaviaEndpointSpec{}
			},
			reason: v1alpha1.InvalidSpecReason, msgContains: "spec.cloud.subnetID: subnet 0b9e2f3c-0000-4000-8000-999999999999",
		},
		{
			name: "missing Secret named by spec.cloud",
			mutate: func(_ *openstack.Fake, tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "nope"}}
				tc.Spec.Endpoint.Octavia.CredentialsSecretRef = corev1.LocalObjectReference{}
			},
			reason: v1alpha1.CloudCredentialsInvalidReason, msgContains: "Secret nope named by spec.cloud.credentialsSecretRef",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, f := octaviaTenant(t, "problem", c.mutate)
			waitFor(t, tc, "EndpointReady reason "+c.reason, func(tc *v1alpha1.TenantCluster) bool {
				cond := endpointCondition(tc)
				return cond != nil && cond.Reason == c.reason
			})
			if msg := endpointCondition(tc).Message; !strings.Contains(msg, c.msgContains) {
				t.Errorf("message %q does not mention %q", msg, c.msgContains)
			}
			// Not a hot loop: a customer's problem is looked at again in minutes.
			before := len(f.Calls())
			time.Sleep(3 * time.Second)
			if n := len(f.Calls()) - before; n > 10 {
				t.Errorf("%d calls to the cloud in 3 s while waiting for the customer: a hot loop", n)
			}
			if c.name == "quota" {
				// Fixing the quota is noticed at the next look; a changed Secret triggers one.
				f.SetQuota("load_balancer", -1)
				secret := &corev1.Secret{}
				if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: tc.Namespace, Name: "customer-cloud"}, secret); err != nil {
					t.Fatal(err)
				}
				secret.Data["touched"] = []byte("1")
				if err := k8sClient.Update(context.Background(), secret); err != nil {
					t.Fatal(err)
				}
				waitFor(t, tc, "EndpointReady after the quota was raised", func(tc *v1alpha1.TenantCluster) bool {
					cond := endpointCondition(tc)
					return cond != nil && cond.Status == metav1.ConditionTrue
				})
			}
		})
	}
}

// TestOctaviaEndpointFromCloud: an Octavia endpoint that names nothing of its own acts with
// spec.cloud's credentials, on spec.cloud's subnet, and holds and releases that Secret.
func TestOctaviaEndpointFromCloud(t *testing.T) {
	ctx := context.Background()
	tc, f := octaviaTenant(t, "from-cloud", func(_ *openstack.Fake, tc *v1alpha1.TenantCluster) {
		tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: tc.Spec.Endpoint.Octavia.CredentialsSecretRef, SubnetID: tc.Spec.Endpoint.Octavia.SubnetID}
		tc.Spec.Endpoint.Octavia = &v1alpha1.OctaviaEndpointSpec{}
	})
	waitFor(t, tc, "EndpointReady", func(tc *v1alpha1.TenantCluster) bool {
		c := endpointCondition(tc)
		return c != nil && c.Status == metav1.ConditionTrue
	})
	if lbs, _ := f.ListLoadBalancers(ctx, openstack.TenantTag(string(tc.UID))); len(lbs) != 1 || lbs[0].VIPSubnetID != tc.Spec.Cloud.SubnetID {
		t.Fatalf("load balancers %+v, want one on spec.cloud.subnetID %s", lbs, tc.Spec.Cloud.SubnetID)
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: tc.Namespace, Name: "customer-cloud"}
	if err := k8sClient.Get(ctx, key, secret); err != nil || !slices.Contains(secret.Finalizers, tenantcluster.CredentialsFinalizer) {
		t.Fatalf("spec.cloud's Secret is not held: %v %v", secret.Finalizers, err)
	}
	if err := k8sClient.Delete(ctx, tc); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), &v1alpha1.TenantCluster{})), nil
	})
	if err != nil {
		t.Fatal("TenantCluster not gone within a minute")
	}
	if lbs, _ := f.ListLoadBalancers(ctx, ""); len(lbs) != 0 {
		t.Errorf("load balancers left: %+v", lbs)
	}
	if err := k8sClient.Get(ctx, key, secret); err != nil || slices.Contains(secret.Finalizers, tenantcluster.CredentialsFinalizer) {
		t.Errorf("spec.cloud's Secret is still held after the tenant is gone: %v %v", secret.Finalizers, err)
	}
}
