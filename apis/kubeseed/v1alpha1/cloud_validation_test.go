//go:build envtest

package v1alpha1_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// The rules of spec.cloud, the one home of a tenant's cloud credentials, and of the Octavia
// endpoint and WorkerPool fields that default to it.

func withCloud(subnet, floating string) func(*v1alpha1.TenantCluster) {
	return func(tc *v1alpha1.TenantCluster) {
		tc.Spec.Cloud = &v1alpha1.CloudSpec{
			CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"},
			SubnetID:             subnet, FloatingNetworkID: floating,
		}
	}
}

// octaviaFrom publishes through Octavia with only what o sets, the rest from spec.cloud.
func octaviaFrom(o v1alpha1.OctaviaEndpointSpec) func(*v1alpha1.TenantCluster) {
	return func(tc *v1alpha1.TenantCluster) {
		tc.Spec.Endpoint = v1alpha1.EndpointSpec{Type: v1alpha1.EndpointOctavia, Octavia: &o}
	}
}

func all(fs ...func(*v1alpha1.TenantCluster)) func(*v1alpha1.TenantCluster) {
	return func(tc *v1alpha1.TenantCluster) {
		for _, f := range fs {
			f(tc)
		}
	}
}

var ownCredentials = corev1.LocalObjectReference{Name: "lb-project"}

func TestCloudCreateValidation(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name   string
		mutate func(*v1alpha1.TenantCluster)
		field  string // empty: must be accepted
		msg    string
	}{
		{name: "cloud without an Octavia endpoint", mutate: withCloud("", "")},
		{name: "Octavia endpoint entirely from spec.cloud", mutate: all(withCloud(subnet1, publicNet), octaviaFrom(v1alpha1.OctaviaEndpointSpec{}))},
		{name: "subnet from the endpoint, credentials from spec.cloud", mutate: all(withCloud("", ""), octaviaFrom(v1alpha1.OctaviaEndpointSpec{SubnetID: subnet1}))},
		{name: "credentials from the endpoint, subnet from spec.cloud", mutate: all(withCloud(subnet1, ""), octaviaFrom(v1alpha1.OctaviaEndpointSpec{CredentialsSecretRef: ownCredentials}))},
		{
			name: "Octavia endpoint without credentials", mutate: octaviaFrom(v1alpha1.OctaviaEndpointSpec{SubnetID: subnet1}),
			field: "spec.endpoint.octavia.credentialsSecretRef", msg: "set spec.cloud.credentialsSecretRef or spec.endpoint.octavia.credentialsSecretRef",
		},
		{
			name: "Octavia endpoint without a subnet", mutate: all(withCloud("", ""), octaviaFrom(v1alpha1.OctaviaEndpointSpec{})),
			field: "spec.endpoint.octavia.subnetID", msg: "set spec.cloud.subnetID or spec.endpoint.octavia.subnetID",
		},
		{
			name: "cloud credentials naming nothing", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Cloud = &v1alpha1.CloudSpec{} },
			field: "spec.cloud.credentialsSecretRef", msg: "must name a Secret",
		},
		{
			name: "cloud subnet too long", mutate: withCloud(fmt.Sprintf("%065d", 1), ""),
			field: "spec.cloud.subnetID", msg: "may not be more than 64",
		},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := k8sClient.Create(context.Background(), tenant(ns, fmt.Sprintf("cloud-%d", i), tt.mutate))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused a valid TenantCluster: %v", err)
				}
				return
			}
			expectRefusal(t, err, tt.field, tt.msg)
		})
	}
}

func TestCloudUpdateValidation(t *testing.T) {
	ns := newNamespace(t)
	fromCloud := all(withCloud(subnet1, ""), octaviaFrom(v1alpha1.OctaviaEndpointSpec{}))
	cases := []updateCase{
		{name: "cloud added later", update: withCloud(subnet1, "")},
		{
			name: "Octavia credentials moved to spec.cloud", start: octaviaEndpoint,
			update: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: tc.Spec.Endpoint.Octavia.CredentialsSecretRef}
				tc.Spec.Endpoint.Octavia.CredentialsSecretRef = corev1.LocalObjectReference{}
			},
		},
		{
			name:  "Octavia floating network moved to spec.cloud",
			start: all(withCloud(subnet1, ""), octaviaFrom(v1alpha1.OctaviaEndpointSpec{FloatingNetworkID: publicNet})),
			update: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud.FloatingNetworkID, tc.Spec.Endpoint.Octavia.FloatingNetworkID = publicNet, ""
			},
		},
		{
			name: "cloud subnet changed under an endpoint with its own", start: all(withCloud(subnet1, ""), octaviaEndpoint),
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Cloud.SubnetID = subnet2 },
		},
		{
			name: "cloud credentials swapped", start: withCloud("", ""),
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Cloud.CredentialsSecretRef.Name = "other-project" },
			field:  "spec.cloud.credentialsSecretRef", msg: "immutable",
		},
		{
			name: "cloud removed", start: withCloud("", ""),
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Cloud = nil },
			field:  "spec.cloud", msg: "may not be removed",
		},
		{
			name:  "Octavia credentials dropped for another project's",
			start: all(withCloud("", ""), octaviaFrom(v1alpha1.OctaviaEndpointSpec{CredentialsSecretRef: ownCredentials, SubnetID: subnet1})),
			update: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Endpoint.Octavia.CredentialsSecretRef = corev1.LocalObjectReference{}
			},
			field: "spec.endpoint.octavia.credentialsSecretRef", msg: "else spec.cloud.credentialsSecretRef) are immutable",
		},
		{
			name: "Octavia's own credentials set over spec.cloud's", start: fromCloud,
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Endpoint.Octavia.CredentialsSecretRef = ownCredentials },
			field:  "spec.endpoint.octavia.credentialsSecretRef", msg: "immutable",
		},
		{
			name: "cloud subnet the VIP is on changed", start: fromCloud,
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Cloud.SubnetID = subnet2 },
			field:  "spec.endpoint.octavia.subnetID", msg: "else spec.cloud.subnetID) is immutable",
		},
		{
			name: "cloud floating network added under an endpoint using spec.cloud", start: fromCloud,
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Cloud.FloatingNetworkID = publicNet },
			field:  "spec.endpoint.octavia.floatingNetworkID", msg: "else spec.cloud.floatingNetworkID) is immutable",
		},
	}
	checkUpdates(t, ns, "cloud", cases)
}

// TestWorkerPoolCloudCredentials: a pool may leave its credentials to its TenantCluster's
// spec.cloud, but may not switch between the two once made.
func TestWorkerPoolCloudCredentials(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	inherit := pool(ns, "inherits", func(wp *v1alpha1.WorkerPool) { wp.Spec.CredentialsSecretRef = corev1.LocalObjectReference{} })
	if err := k8sClient.Create(ctx, inherit); err != nil {
		t.Fatalf("refused a WorkerPool without credentials of its own: %v", err)
	}
	added := inherit.DeepCopy()
	added.Spec.CredentialsSecretRef.Name = "acme-openstack"
	expectRefusal(t, k8sClient.Update(ctx, added), "spec.credentialsSecretRef", "may not be added or removed")

	own := pool(ns, "own", nil)
	if err := k8sClient.Create(ctx, own); err != nil {
		t.Fatalf("create WorkerPool: %v", err)
	}
	removed := own.DeepCopy()
	removed.Spec.CredentialsSecretRef = corev1.LocalObjectReference{}
	expectRefusal(t, k8sClient.Update(ctx, removed), "spec.credentialsSecretRef", "may not be added or removed")
}
