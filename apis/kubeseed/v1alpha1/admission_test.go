//go:build envtest

package v1alpha1_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// What admission refuses so the controller never has to (issue 14): extraArgs outside the
// allow-lists, resources the pods cannot have, certificate SANs that are no names, OpenStack
// IDs that are no Neutron IDs, and etcd volumes that would shrink or change class.

// Neutron IDs for the tests: lower-case UUIDs with dashes.
const (
	subnet1   = "6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c01"
	subnet2   = "6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c02"
	publicNet = "0f4d2c7e-8a1b-4e3c-b6d5-9c8f7e6a5b40"
	net1      = "2a7c9e4b-1d3f-4b6a-8c5e-7f9a0b1c2d3e"
)

func resources(requests, limits corev1.ResourceList) *corev1.ResourceRequirements {
	return &corev1.ResourceRequirements{Requests: requests, Limits: limits}
}

func cpu(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
}

func TestAdmissionCreate(t *testing.T) {
	ns := newNamespace(t)
	const notAllowed = "is not allowed; allowed flags are listed in docs/tenantcluster.md"
	cases := []struct {
		name   string
		mutate func(*v1alpha1.TenantCluster)
		field  string // empty: must be accepted
		msg    string
	}{
		{name: "allowed flags of every component", mutate: func(tc *v1alpha1.TenantCluster) {
			cp := &tc.Spec.ControlPlane
			cp.APIServer.ExtraArgs = map[string]string{"v": "2", "--max-requests-inflight": "800", "feature-gates": "A=true", "enable-admission-plugins": "PodNodeSelector"}
			cp.ControllerManager.ExtraArgs = map[string]string{"node-cidr-mask-size": "25", "--concurrent-gc-syncs": "40"}
			cp.Scheduler.ExtraArgs = map[string]string{"kube-api-qps": "100", "--profiling": "false"}
		}},
		{
			name: "apiserver etcd-servers",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.ExtraArgs = map[string]string{"etcd-servers": "https://x"}
			},
			field: "spec.controlPlane.apiServer.extraArgs", msg: "spec.controlPlane.apiServer.extraArgs: etcd-servers " + notAllowed,
		},
		{
			name: "apiserver service-account-issuer with dashes",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.ExtraArgs = map[string]string{"--service-account-issuer": "https://evil"}
			},
			field: "spec.controlPlane.apiServer.extraArgs", msg: "spec.controlPlane.apiServer.extraArgs: --service-account-issuer " + notAllowed,
		},
		{
			name: "apiserver oidc and encryption",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.ExtraArgs = map[string]string{"v": "2", "encryption-provider-config": "/etc/x"}
			},
			field: "spec.controlPlane.apiServer.extraArgs", msg: "encryption-provider-config " + notAllowed,
		},
		{
			name: "apiserver authorization-mode",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.ExtraArgs = map[string]string{"authorization-mode": "AlwaysAllow"}
			},
			field: "spec.controlPlane.apiServer.extraArgs", msg: "authorization-mode " + notAllowed,
		},
		{
			name: "controller-manager kubeconfig",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.ControllerManager.ExtraArgs = map[string]string{"--kubeconfig": "/x"}
			},
			field: "spec.controlPlane.controllerManager.extraArgs", msg: "spec.controlPlane.controllerManager.extraArgs: --kubeconfig " + notAllowed,
		},
		{
			name: "controller-manager cluster-cidr",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.ControllerManager.ExtraArgs = map[string]string{"cluster-cidr": "10.0.0.0/8"}
			},
			field: "spec.controlPlane.controllerManager.extraArgs", msg: "cluster-cidr " + notAllowed,
		},
		{
			name: "scheduler leader-elect (kubeseed's)",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.Scheduler.ExtraArgs = map[string]string{"leader-elect": "false"}
			},
			field: "spec.controlPlane.scheduler.extraArgs", msg: "spec.controlPlane.scheduler.extraArgs: leader-elect " + notAllowed,
		},
		{
			name: "scheduler flag of another component",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.Scheduler.ExtraArgs = map[string]string{"event-ttl": "1h"}
			},
			field: "spec.controlPlane.scheduler.extraArgs", msg: "event-ttl " + notAllowed,
		},
		{
			name: "flag given twice",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.Scheduler.ExtraArgs = map[string]string{"v": "2", "--v": "4"}
			},
			field: "spec.controlPlane.scheduler.extraArgs", msg: "spec.controlPlane.scheduler.extraArgs: a flag is given both with and without its leading --",
		},
		{
			name: "not a flag name",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.Scheduler.ExtraArgs = map[string]string{"v=2": ""}
			},
			field: "spec.controlPlane.scheduler.extraArgs", msg: "v=2 " + notAllowed,
		},
		{name: "request below limit", mutate: func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.APIServer.Resources = resources(cpu("500m"), cpu("1"))
			tc.Spec.ControlPlane.Etcd.Resources = resources(cpu("1"), cpu("1"))
		}},
		{
			name: "apiserver request above limit",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.Resources = resources(cpu("2"), cpu("1"))
			},
			field: "spec.controlPlane.apiServer.resources.requests", msg: "spec.controlPlane.apiServer.resources.requests: the cpu request exceeds its limit",
		},
		{
			name: "scheduler memory request above limit",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.Scheduler.Resources = resources(
					corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
					corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi"), corev1.ResourceCPU: resource.MustParse("1")})
			},
			field: "spec.controlPlane.scheduler.resources.requests", msg: "the memory request exceeds its limit",
		},
		{
			name: "etcd request above limit",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.Etcd.Resources = resources(cpu("1500m"), cpu("1"))
			},
			field: "spec.controlPlane.etcd.resources.requests", msg: "spec.controlPlane.etcd.resources.requests: the cpu request exceeds its limit",
		},
		{
			name: "controller-manager resource claims",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.ControllerManager.Resources = &corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{{Name: "gpu"}}}
			},
			field: "spec.controlPlane.controllerManager.resources.claims", msg: "spec.controlPlane.controllerManager.resources.claims: resource claims are not supported",
		},
		{
			name: "etcd resource claims",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.Etcd.Resources = &corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{{Name: "gpu"}}}
			},
			field: "spec.controlPlane.etcd.resources.claims", msg: "resource claims are not supported",
		},
		{name: "certSANs of names, wildcards and addresses", mutate: func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.APIServer.CertSANs = []string{"api.acme.example.com", "*.acme.example.com", "API.Acme.Example.com", "203.0.113.7", "2001:db8::7"}
		}},
		{
			name: "certSAN with a scheme",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.CertSANs = []string{"ok.example.com", "https://api.example.com"}
			},
			field: "spec.controlPlane.apiServer.certSANs", msg: "spec.controlPlane.apiServer.certSANs: https://api.example.com is neither an IP address nor a DNS name",
		},
		{
			name: "certSAN with a wildcard inside",
			mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.CertSANs = []string{"api.*.example.com"}
			},
			field: "spec.controlPlane.apiServer.certSANs", msg: "api.*.example.com is neither an IP address nor a DNS name",
		},
		{
			name:   "service CIDR too small for the DNS address",
			mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.ServiceCIDR = "10.96.0.0/29" },
			field:  "spec.network.serviceCIDR", msg: "spec.network.serviceCIDR is too small",
		},
		{name: "service CIDR of /28", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.ServiceCIDR = "10.96.0.0/28" }},
		{name: "bring your own CNI", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.CNI = v1alpha1.CNINone }},
		{
			name:   "an unknown CNI",
			mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.CNI = "calico" },
			field:  "spec.network.cni", msg: `Unsupported value: "calico": supported values: "flannel", "none"`,
		},
		{
			name:   "cloud subnet not a UUID",
			mutate: withCloud("customer-subnet", ""),
			field:  "spec.cloud.subnetID", msg: "spec.cloud.subnetID must be a Neutron ID",
		},
		{
			name:   "cloud floating network in upper case",
			mutate: withCloud(subnet1, "0F4D2C7E-8A1B-4E3C-B6D5-9C8F7E6A5B40"),
			field:  "spec.cloud.floatingNetworkID", msg: "spec.cloud.floatingNetworkID must be a Neutron ID",
		},
		{
			name:   "octavia subnet without dashes",
			mutate: all(withCloud("", ""), octaviaFrom(v1alpha1.OctaviaEndpointSpec{SubnetID: "6b8e3f1c3c4b4a529a432d9e6a5b7c01"})),
			field:  "spec.endpoint.octavia.subnetID", msg: "spec.endpoint.octavia.subnetID must be a Neutron ID",
		},
		{
			name:   "octavia floating network by name",
			mutate: all(withCloud(subnet1, ""), octaviaFrom(v1alpha1.OctaviaEndpointSpec{FloatingNetworkID: "public"})),
			field:  "spec.endpoint.octavia.floatingNetworkID", msg: "spec.endpoint.octavia.floatingNetworkID must be a Neutron ID",
		},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := k8sClient.Create(context.Background(), tenant(ns, fmt.Sprintf("adm-%d", i), tt.mutate))
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

func TestAdmissionEtcdStorageUpdates(t *testing.T) {
	ns := newNamespace(t)
	size := func(q string) func(*v1alpha1.TenantCluster) {
		return func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.Etcd.Storage.Size = ptr.To(resource.MustParse(q))
		}
	}
	class := func(c *string) func(*v1alpha1.TenantCluster) {
		return func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.Etcd.Storage.StorageClassName = c }
	}
	const classField = "spec.controlPlane.etcd.storage.storageClassName"
	cases := []updateCase{
		{name: "size grows", update: size("16Gi")},
		{name: "size grows from an explicit value", start: size("2Gi"), update: size("2049Mi")},
		{name: "same size in other units", start: size("2Gi"), update: size("2048Mi")},
		{
			name: "size shrinks", update: size("4Gi"),
			field: "spec.controlPlane.etcd.storage.size", msg: "spec.controlPlane.etcd.storage.size may only grow: shrinking a volume is not supported",
		},
		{
			name: "size shrinks by a byte", start: size("2Gi"), update: size("2147483647"),
			field: "spec.controlPlane.etcd.storage.size", msg: "may only grow",
		},
		{name: "class kept", start: class(ptr.To("fast")), update: size("9Gi")},
		{
			name: "class changed", start: class(ptr.To("fast")), update: class(ptr.To("slow")),
			field: classField, msg: classField + " is immutable",
		},
		{
			name: "class added", update: class(ptr.To("fast")),
			field: classField, msg: classField + " may not be added or removed after creation",
		},
		{
			name: "class removed", start: class(ptr.To("fast")), update: class(nil),
			field: classField, msg: classField + " may not be added or removed after creation",
		},
	}
	checkUpdates(t, ns, "storage", cases)
}

func TestAdmissionWorkerPoolIDs(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name   string
		mutate func(*v1alpha1.WorkerPool)
		field  string // empty: must be accepted
		msg    string
	}{
		{name: "network and subnet IDs", mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.SubnetID = subnet1 }},
		{name: "flavor and image by name", mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.Flavor, wp.Spec.Image = "m1.small", "ubuntu-24.04" }},
		{
			name:   "network by name",
			mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.NetworkID = "customer-net" },
			field:  "spec.networkID", msg: "spec.networkID must be a Neutron ID",
		},
		{
			name:   "subnet in braces",
			mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.SubnetID = "{" + subnet1 + "}" },
			field:  "spec.subnetID", msg: "spec.subnetID must be a Neutron ID",
		},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := k8sClient.Create(context.Background(), pool(ns, fmt.Sprintf("ids-%d", i), tt.mutate))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused a valid WorkerPool: %v", err)
				}
				return
			}
			expectRefusal(t, err, tt.field, tt.msg)
		})
	}
}
