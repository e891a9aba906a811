//go:build envtest

package v1alpha1_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// newNamespace creates a namespace of its own for one test, so tests never see each
// other's objects.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	return ns.Name
}

// expectRefusal asserts that err is an Invalid refusal whose causes name field and carry a
// message containing msg, the way `kubectl apply` shows it to a user.
func expectRefusal(t *testing.T, err error, field, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want refusal naming %s", field)
	}
	var status *apierrors.StatusError
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid refusal naming %s, got: %v", field, err)
	}
	if !strings.Contains(err.Error(), field) {
		t.Errorf("refusal does not name %s: %v", field, err)
	}
	for _, c := range status.ErrStatus.Details.Causes {
		// Rules on the object's root (metadata.name) carry no field path: their message names it.
		named := c.Field == field || (c.Field == "<nil>" && strings.Contains(c.Message, field))
		if named && strings.Contains(c.Message, msg) {
			return
		}
	}
	t.Errorf("no cause on field %s containing %q; causes: %+v", field, msg, status.ErrStatus.Details.Causes)
}

// updateCase creates a TenantCluster with start applied, then updates it with update:
// refused naming field with msg, or accepted when field is empty.
type updateCase struct {
	name          string
	start, update func(*v1alpha1.TenantCluster)
	field, msg    string
}

func checkUpdates(t *testing.T, ns, prefix string, cases []updateCase) {
	t.Helper()
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			tc := tenant(ns, fmt.Sprintf("%s-%d", prefix, i), tt.start)
			if err := k8sClient.Create(ctx, tc); err != nil {
				t.Fatalf("create the starting TenantCluster: %v", err)
			}
			tt.update(tc)
			err := k8sClient.Update(ctx, tc)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused a valid update: %v", err)
				}
				return
			}
			expectRefusal(t, err, tt.field, tt.msg)
		})
	}
}

func tenant(ns, name string, mutate func(*v1alpha1.TenantCluster)) *v1alpha1.TenantCluster {
	tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if mutate != nil {
		mutate(tc)
	}
	return tc
}

func TestTenantClusterDefaults(t *testing.T) {
	ns := newNamespace(t)
	tc := tenant(ns, "defaults", nil)
	if err := k8sClient.Create(context.Background(), tc); err != nil {
		t.Fatalf("create an empty TenantCluster: %v", err)
	}
	s := tc.Spec
	checks := []struct {
		what      string
		got, want any
	}{
		{"spec.version", s.Version, versions.Default},
		{"spec.controlPlane.apiServer.replicas", ptr.Deref(s.ControlPlane.APIServer.Replicas, 0), int32(2)},
		{"spec.controlPlane.controllerManager.replicas", ptr.Deref(s.ControlPlane.ControllerManager.Replicas, 0), int32(2)},
		{"spec.controlPlane.scheduler.replicas", ptr.Deref(s.ControlPlane.Scheduler.Replicas, 0), int32(2)},
		{"spec.controlPlane.etcd.replicas", ptr.Deref(s.ControlPlane.Etcd.Replicas, 0), int32(3)},
		{"spec.controlPlane.etcd.storage.size", s.ControlPlane.Etcd.Storage.Size.String(), "8Gi"},
		{"spec.network.serviceCIDR", s.Network.ServiceCIDR, "10.96.0.0/12"},
		{"spec.network.podCIDR", s.Network.PodCIDR, "10.244.0.0/16"},
		{"spec.network.dnsDomain", s.Network.DNSDomain, "cluster.local"},
		{"spec.endpoint.type", s.Endpoint.Type, v1alpha1.EndpointLoadBalancer},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s defaulted to %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestTenantClusterCreateValidation(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name   string
		mutate func(*v1alpha1.TenantCluster)
		field  string // empty: must be accepted
		msg    string
	}{
		{name: "every supported version", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = versions.Supported[0] }},
		{name: "single replica control plane", mutate: func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](1)
			tc.Spec.ControlPlane.APIServer.Replicas = ptr.To[int32](1)
		}},
		{name: "five etcd members", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](5) }},
		{name: "IPv6 ranges", mutate: func(tc *v1alpha1.TenantCluster) {
			tc.Spec.Network.ServiceCIDR = "fd00:10:96::/112"
			tc.Spec.Network.PodCIDR = "fd00:10:244::/56"
		}},
		{name: "octavia endpoint", mutate: func(tc *v1alpha1.TenantCluster) {
			tc.Spec.Endpoint = v1alpha1.EndpointSpec{Type: v1alpha1.EndpointOctavia, Octavia: &v1alpha1.OctaviaEndpointSpec{
				CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}, SubnetID: subnet1,
				AllowedCIDRs: []string{"192.0.2.0/24"},
			}}
		}},
		{name: "etcd backups to the customer's Swift", mutate: func(tc *v1alpha1.TenantCluster) {
			tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
			tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Every: &metav1.Duration{Duration: time.Hour}, MaxAge: &metav1.Duration{Duration: 720 * time.Hour}}
		}},
		{name: "etcd backups to the operator-wide store", mutate: func(tc *v1alpha1.TenantCluster) {
			tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Every: &metav1.Duration{Duration: time.Hour}}
		}},
		{
			name: "etcd backups into a container without a cloud", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Container: "mine"}
			},
			field: "spec.controlPlane.etcd.backup.container", msg: "operator-wide store",
		},
		{
			name: "etcd backups every few seconds", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
				tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Every: &metav1.Duration{Duration: 10 * time.Second}}
			},
			field: "spec.controlPlane.etcd.backup.every", msg: "at least 1m",
		},
		{
			name: "etcd backups into a container path", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
				tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Container: "a/b"}
			},
			field: "spec.controlPlane.etcd.backup.container", msg: "must not contain '/'",
		},
		{name: "restored from a backup", mutate: func(tc *v1alpha1.TenantCluster) {
			tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
			tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z", Container: "old-backups"}
		}},
		{name: "restored from the operator-wide store", mutate: func(tc *v1alpha1.TenantCluster) {
			tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z"}
		}},
		{
			name: "restored from a container without a cloud", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z", Container: "old-backups"}
			},
			field: "spec.restore.container", msg: "operator-wide store",
		},
		{
			name: "restored from a backup that is not a backup's name", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "latest"}
			},
			field: "spec.restore.backup", msg: "must be a backup's name",
		},
		{
			name: "restored from a container path", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z", Container: "a/b"}
			},
			field: "spec.restore.container", msg: "without /",
		},
		{
			name: "version without v", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "1.36.3" },
			field: "spec.version", msg: "must look like vX.Y.Z",
		},
		{
			name: "unsupported version", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.33.7" },
			field: "spec.version", msg: "must be one of the supported versions",
		},
		{
			name: "even etcd members", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](2) },
			field: "spec.controlPlane.etcd.replicas", msg: "must be 1, 3 or 5",
		},
		{
			name: "seven etcd members", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](7) },
			field: "spec.controlPlane.etcd.replicas", msg: "must be 1, 3 or 5",
		},
		{
			name: "tiny etcd volume", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.Etcd.Storage.Size = ptr.To(resource.MustParse("100Mi"))
			},
			field: "spec.controlPlane.etcd.storage.size", msg: "at least 1Gi",
		},
		{
			name: "no apiserver", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.APIServer.Replicas = ptr.To[int32](0) },
			field: "spec.controlPlane.apiServer.replicas", msg: "greater than or equal to 1",
		},
		{
			name: "service CIDR not a CIDR", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.ServiceCIDR = "10.96.0.0" },
			field: "spec.network.serviceCIDR", msg: "must be a network address in CIDR notation",
		},
		{
			name: "service CIDR with host bits", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.ServiceCIDR = "10.96.0.1/12" },
			field: "spec.network.serviceCIDR", msg: "must be a network address in CIDR notation",
		},
		{
			name: "service CIDR too large", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.ServiceCIDR = "10.0.0.0/8" },
			field: "spec.network.serviceCIDR", msg: "too large",
		},
		{
			name: "pod CIDR not a CIDR", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.PodCIDR = "pods" },
			field: "spec.network.podCIDR", msg: "must be a network address in CIDR notation",
		},
		{
			name: "pod CIDR inside service CIDR", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.PodCIDR = "10.100.0.0/16" },
			field: "spec.network.podCIDR", msg: "must not overlap spec.network.serviceCIDR",
		},
		{
			name: "service CIDR inside pod CIDR", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Network.PodCIDR = "10.0.0.0/8"
				tc.Spec.Network.ServiceCIDR = "10.96.0.0/16"
			},
			field: "spec.network.podCIDR", msg: "must not overlap spec.network.serviceCIDR",
		},
		{
			name: "upper-case DNS domain", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.DNSDomain = "Cluster.Local" },
			field: "spec.network.dnsDomain", msg: "must be a DNS domain",
		},
		{
			name: "unknown endpoint type", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Endpoint.Type = "Ingress" },
			field: "spec.endpoint.type", msg: "Unsupported value",
		},
		{
			name: "octavia endpoint without octavia settings", mutate: func(tc *v1alpha1.TenantCluster) { tc.Spec.Endpoint.Type = v1alpha1.EndpointOctavia },
			field: "spec.endpoint.octavia", msg: "must be set when spec.endpoint.type is Octavia",
		},
		{
			name: "octavia settings on a NodePort endpoint", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Endpoint = v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort, Octavia: &v1alpha1.OctaviaEndpointSpec{
					CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}, SubnetID: subnet1,
				}}
			},
			field: "spec.endpoint.octavia", msg: "only then",
		},
		{
			name: "octavia allowed CIDR not a CIDR", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Endpoint = v1alpha1.EndpointSpec{Type: v1alpha1.EndpointOctavia, Octavia: &v1alpha1.OctaviaEndpointSpec{
					CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}, SubnetID: subnet1,
					AllowedCIDRs: []string{"everyone"},
				}}
			},
			field: "spec.endpoint.octavia.allowedCIDRs", msg: "must hold network addresses in CIDR notation",
		},
		{
			name: "octavia allowed CIDR with host bits", mutate: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Endpoint = v1alpha1.EndpointSpec{Type: v1alpha1.EndpointOctavia, Octavia: &v1alpha1.OctaviaEndpointSpec{
					CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}, SubnetID: subnet1,
					AllowedCIDRs: []string{"192.0.2.7/24"},
				}}
			},
			field: "spec.endpoint.octavia.allowedCIDRs", msg: "must hold network addresses in CIDR notation",
		},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			tc := tenant(ns, fmt.Sprintf("case-%d", i), tt.mutate)
			err := k8sClient.Create(context.Background(), tc)
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

func TestTenantClusterUpdateValidation(t *testing.T) {
	ns := newNamespace(t)
	cases := []updateCase{
		{
			name:   "patch upgrade is the same minor",
			start:  func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.35.4" },
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.36.3" },
		},
		{
			name:   "one minor up",
			start:  func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.34.4" },
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.35.4" },
		},
		{
			name:   "downgrade",
			start:  func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.36.3" },
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.35.4" },
			field:  "spec.version", msg: "may not be lowered",
		},
		{
			name:   "skipped minor",
			start:  func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.34.4" },
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.36.3" },
			field:  "spec.version", msg: "may not skip a minor",
		},
		{
			name: "a restore added later",
			start: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
			},
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z"} },
			field:  "spec.restore", msg: "only with spec.restore.inPlace: true",
		},
		{
			name: "a restore pointed at another backup",
			start: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z"}
			},
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Restore.Backup = "20261207T041500Z" },
			field:  "spec.restore", msg: "only with spec.restore.inPlace: true",
		},
		{
			name: "a restore made with the tenant removed",
			start: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z"}
			},
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Restore = nil },
			field:  "spec.restore", msg: "once set it is never removed",
		},
		{
			name: "an in-place restore, confirmed",
			start: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
			},
			update: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z", InPlace: true}
			},
		},
		{
			name: "another in-place restore, confirmed",
			start: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z"}
			},
			update: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261207T041500Z", InPlace: true}
			},
		},
		{
			name: "an in-place restore's field removed",
			start: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z", InPlace: true}
			},
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Restore = nil },
			field:  "spec.restore", msg: "once set it is never removed",
		},
		{
			name: "an in-place restore as the tenant wakes",
			start: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
				tc.Spec.Hibernated = true
			},
			update: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Hibernated = false
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z", InPlace: true}
			},
			field: "spec.restore", msg: "cannot change while the tenant hibernates",
		},
		{
			name: "an in-place restore while hibernated",
			start: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}}
				tc.Spec.Hibernated = true
			},
			update: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20261206T041500Z", InPlace: true}
			},
			field: "spec.restore", msg: "cannot change while the tenant hibernates",
		},
		{
			name:   "a provided CA added later",
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.CertificateAuthorities = byoCA("magnum-ca") },
			field:  "spec.certificateAuthorities", msg: "may not be added or removed",
		},
		{
			name:   "a provided CA swapped",
			start:  func(tc *v1alpha1.TenantCluster) { tc.Spec.CertificateAuthorities = byoCA("magnum-ca") },
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.CertificateAuthorities = byoCA("other-ca") },
			field:  "spec.certificateAuthorities", msg: "is immutable",
		},
		{
			name:  "provided CAs naming none",
			start: func(tc *v1alpha1.TenantCluster) { tc.Spec.CertificateAuthorities = byoCA("magnum-ca") },
			update: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.CertificateAuthorities = &v1alpha1.CertificateAuthoritiesSpec{}
			},
			field: "spec.certificateAuthorities", msg: "must name at least one",
		},
		{
			name:   "etcd grows from 1 to 3",
			start:  func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](1) },
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](3) },
		},
		{
			name:   "etcd shrinks",
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.ControlPlane.Etcd.Replicas = ptr.To[int32](1) },
			field:  "spec.controlPlane.etcd.replicas", msg: "may not be lowered",
		},
		{
			name:   "service CIDR changed",
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.ServiceCIDR = "10.112.0.0/12" },
			field:  "spec.network.serviceCIDR", msg: "immutable",
		},
		{
			name:   "pod CIDR changed",
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.PodCIDR = "10.245.0.0/16" },
			field:  "spec.network.podCIDR", msg: "immutable",
		},
		{
			name:   "DNS domain changed",
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.DNSDomain = "tenant.local" },
			field:  "spec.network.dnsDomain", msg: "immutable",
		},
		{
			name:   "cni changed",
			start:  func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.CNI = v1alpha1.CNIFlannel },
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.CNI = v1alpha1.CNINone },
			field:  "spec.network.cni", msg: "spec.network.cni is immutable",
		},
		{
			// A tenant from before kubeseed had a pod network opts in.
			name:   "cni set where it was unset",
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Network.CNI = v1alpha1.CNIFlannel },
		},
		{
			name:   "endpoint type changed",
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Endpoint.Type = v1alpha1.EndpointNodePort },
			field:  "spec.endpoint.type", msg: "immutable",
		},
		{
			name:   "octavia credentials Secret swapped",
			start:  octaviaEndpoint,
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Endpoint.Octavia.CredentialsSecretRef.Name = "other-project" },
			field:  "spec.endpoint.octavia.credentialsSecretRef", msg: "immutable",
		},
		{
			name:   "octavia floating IP added later",
			start:  octaviaEndpoint,
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Endpoint.Octavia.FloatingNetworkID = publicNet },
			field:  "spec.endpoint.octavia.floatingNetworkID", msg: "immutable",
		},
		{
			name:   "octavia allowed CIDRs may change",
			start:  octaviaEndpoint,
			update: func(tc *v1alpha1.TenantCluster) { tc.Spec.Endpoint.Octavia.AllowedCIDRs = []string{"10.0.0.0/8"} },
		},
		{
			name: "replicas and extra args may change",
			update: func(tc *v1alpha1.TenantCluster) {
				tc.Spec.ControlPlane.APIServer.Replicas = ptr.To[int32](3)
				tc.Spec.ControlPlane.APIServer.ExtraArgs = map[string]string{"v": "4"}
				tc.Spec.Paused = true
			},
		},
	}
	checkUpdates(t, ns, "case", cases)
}

func pool(ns, name string, mutate func(*v1alpha1.WorkerPool)) *v1alpha1.WorkerPool {
	wp := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.WorkerPoolSpec{
			ClusterName:          "acme",
			Flavor:               "m1.large",
			Image:                "ubuntu-24.04-kube-v1.36",
			NetworkID:            net1,
			CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"},
		},
	}
	if mutate != nil {
		mutate(wp)
	}
	return wp
}

func TestWorkerPoolValidation(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name   string
		mutate func(*v1alpha1.WorkerPool)
		field  string
		msg    string
	}{
		{name: "minimal"},
		{name: "autoscaling with replicas inside", mutate: func(wp *v1alpha1.WorkerPool) {
			wp.Spec.Replicas = ptr.To[int32](2)
			wp.Spec.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: 0, MaxReplicas: 5}
		}},
		{name: "kubelet overrides", mutate: func(wp *v1alpha1.WorkerPool) {
			wp.Spec.Kubelet = v1alpha1.KubeletSpec{
				KubeReserved:   map[string]resource.Quantity{"cpu": resource.MustParse("1"), "memory": resource.MustParse("2Gi")},
				SystemReserved: map[string]resource.Quantity{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("1Gi")},
				EvictionHard:   map[string]v1alpha1.EvictionThreshold{"memory.available": "500Mi", "nodefs.available": "10%"},
			}
		}},
		{
			name: "no cluster", mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.ClusterName = "" },
			field: "spec.clusterName", msg: "at least 1 chars long",
		},
		{
			name: "cluster name not a name", mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.ClusterName = "Acme_1" },
			field: "spec.clusterName", msg: "must be the name of a TenantCluster",
		},
		{
			name: "no flavor", mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.Flavor = "" },
			field: "spec.flavor", msg: "at least 1 chars long",
		},
		{
			name: "negative replicas", mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.Replicas = ptr.To[int32](-1) },
			field: "spec.replicas", msg: "greater than or equal to 0",
		},
		{
			name: "autoscaling bounds inverted", mutate: func(wp *v1alpha1.WorkerPool) {
				wp.Spec.Replicas = ptr.To[int32](3)
				wp.Spec.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: 5, MaxReplicas: 2}
			},
			field: "spec.autoscaling.minReplicas", msg: "must not exceed spec.autoscaling.maxReplicas",
		},
		{
			name: "replicas outside autoscaling bounds", mutate: func(wp *v1alpha1.WorkerPool) {
				wp.Spec.Replicas = ptr.To[int32](10)
				wp.Spec.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 3}
			},
			field: "spec.replicas", msg: "must lie within spec.autoscaling",
		},
		{
			name: "unknown server group policy", mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.ServerGroupPolicy = "spread" },
			field: "spec.serverGroupPolicy", msg: "Unsupported value",
		},
		{
			name: "unknown eviction signal", mutate: func(wp *v1alpha1.WorkerPool) {
				wp.Spec.Kubelet.EvictionHard = map[string]v1alpha1.EvictionThreshold{"memory.free": "1Gi"}
			},
			field: "spec.kubelet.evictionHard", msg: "must be kubelet eviction signals",
		},
		{
			name: "eviction threshold not a quantity", mutate: func(wp *v1alpha1.WorkerPool) {
				wp.Spec.Kubelet.EvictionHard = map[string]v1alpha1.EvictionThreshold{"memory.available": "half"}
			},
			field: "spec.kubelet.evictionHard[memory.available]", msg: "must be a quantity",
		},
		{name: "node labels and taints", mutate: func(wp *v1alpha1.WorkerPool) {
			wp.Spec.NodeLabels = map[string]v1alpha1.NodeLabelValue{"tier": "web", "example.com/team": "a-1"}
			wp.Spec.NodeTaints = []v1alpha1.NodeTaint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}},
		{
			name: "node label of the kubernetes.io namespace", mutate: func(wp *v1alpha1.WorkerPool) {
				wp.Spec.NodeLabels = map[string]v1alpha1.NodeLabelValue{"node-role.kubernetes.io/worker": ""}
			},
			field: "spec.nodeLabels", msg: "may not use the kubernetes.io, k8s.io or kubeseed.io namespaces",
		},
		{
			name: "node label of kubeseed's", mutate: func(wp *v1alpha1.WorkerPool) {
				wp.Spec.NodeLabels = map[string]v1alpha1.NodeLabelValue{"kubeseed.io/worker-pool": "other"}
			},
			field: "spec.nodeLabels", msg: "may not use the kubernetes.io, k8s.io or kubeseed.io namespaces",
		},
		{
			name: "node label value not a value", mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.NodeLabels = map[string]v1alpha1.NodeLabelValue{"tier": "a b"} },
			field: "spec.nodeLabels.tier", msg: "should match",
		},
		{
			name: "taint effect unknown", mutate: func(wp *v1alpha1.WorkerPool) {
				wp.Spec.NodeTaints = []v1alpha1.NodeTaint{{Key: "dedicated", Effect: "Sometimes"}}
			},
			field: "spec.nodeTaints[0].effect", msg: "Unsupported value",
		},
		{
			name: "unsupported version", mutate: func(wp *v1alpha1.WorkerPool) { wp.Spec.Version = "v1.30.0" },
			field: "spec.version", msg: "must be one of the supported versions",
		},
		{
			name: "strategy that can replace nothing", mutate: func(wp *v1alpha1.WorkerPool) {
				wp.Spec.Strategy = v1alpha1.RolloutStrategy{MaxSurge: ptr.To[int32](0), MaxUnavailable: ptr.To[int32](0)}
			},
			field: "spec.strategy", msg: "may not both be 0",
		},
		{
			name: "unknown reserved resource", mutate: func(wp *v1alpha1.WorkerPool) {
				wp.Spec.Kubelet.KubeReserved = map[string]resource.Quantity{"gpu": resource.MustParse("1")}
			},
			field: "spec.kubelet.kubeReserved", msg: "keys must be cpu, memory",
		},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			wp := pool(ns, fmt.Sprintf("case-%d", i), tt.mutate)
			err := k8sClient.Create(context.Background(), wp)
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

func TestWorkerPoolDefaultsAndImmutability(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	wp := pool(ns, "pool", nil)
	if err := k8sClient.Create(ctx, wp); err != nil {
		t.Fatalf("create WorkerPool: %v", err)
	}
	if got := ptr.Deref(wp.Spec.Replicas, -1); got != 1 {
		t.Errorf("spec.replicas defaulted to %d, want 1", got)
	}
	if wp.Spec.ServerGroupPolicy != "soft-anti-affinity" {
		t.Errorf("spec.serverGroupPolicy defaulted to %q, want soft-anti-affinity", wp.Spec.ServerGroupPolicy)
	}
	if s := wp.Spec.Strategy; ptr.Deref(s.MaxSurge, -1) != 1 || ptr.Deref(s.MaxUnavailable, -1) != 0 {
		t.Errorf("spec.strategy defaulted to %+v, want maxSurge 1, maxUnavailable 0", s)
	}

	versioned := wp.DeepCopy()
	versioned.Spec.Version = "v1.36.3"
	if err := k8sClient.Update(ctx, versioned); err != nil {
		t.Fatalf("set spec.version: %v", err)
	}
	lowered := versioned.DeepCopy()
	lowered.Spec.Version = "v1.35.4"
	expectRefusal(t, k8sClient.Update(ctx, lowered), "spec.version", "may not be lowered")
	wp = versioned

	// Unset, then lowered below what the pool runs: refused against status.version.
	running := pool(ns, "running", nil)
	if err := k8sClient.Create(ctx, running); err != nil {
		t.Fatal(err)
	}
	running.Status.Version = "v1.36.3"
	if err := k8sClient.Status().Update(ctx, running); err != nil {
		t.Fatalf("write status.version: %v", err)
	}
	below := running.DeepCopy()
	below.Spec.Version = "v1.35.4"
	expectRefusal(t, k8sClient.Update(ctx, below), "spec.version", "may not be lower than the version the pool runs")

	moved := wp.DeepCopy()
	moved.Spec.ClusterName = "other"
	expectRefusal(t, k8sClient.Update(ctx, moved), "spec.clusterName", "immutable")

	policy := wp.DeepCopy()
	policy.Spec.ServerGroupPolicy = "anti-affinity"
	expectRefusal(t, k8sClient.Update(ctx, policy), "spec.serverGroupPolicy", "immutable")

	creds := wp.DeepCopy()
	creds.Spec.CredentialsSecretRef.Name = "other-project"
	expectRefusal(t, k8sClient.Update(ctx, creds), "spec.credentialsSecretRef", "immutable")
}

// TestWorkerPoolScaleSubresource scales a pool the way `kubectl scale wp` and autoscalers do.
func TestWorkerPoolScaleSubresource(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	wp := pool(ns, "scaled", nil)
	if err := k8sClient.Create(ctx, wp); err != nil {
		t.Fatalf("create WorkerPool: %v", err)
	}
	scale := &autoscalingv1.Scale{}
	if err := k8sClient.SubResource("scale").Get(ctx, wp, scale); err != nil {
		t.Fatalf("get scale: %v", err)
	}
	if scale.Spec.Replicas != 1 {
		t.Fatalf("scale reports %d desired replicas, want 1", scale.Spec.Replicas)
	}
	scale.Spec.Replicas = 4
	if err := k8sClient.SubResource("scale").Update(ctx, wp, client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("update scale: %v", err)
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(wp), wp); err != nil {
		t.Fatalf("get WorkerPool: %v", err)
	}
	if got := ptr.Deref(wp.Spec.Replicas, -1); got != 4 {
		t.Errorf("spec.replicas is %d after scaling to 4", got)
	}
}

// octaviaEndpoint starts a TenantCluster published through Octavia.
func octaviaEndpoint(tc *v1alpha1.TenantCluster) {
	tc.Spec.Endpoint = v1alpha1.EndpointSpec{Type: v1alpha1.EndpointOctavia, Octavia: &v1alpha1.OctaviaEndpointSpec{
		CredentialsSecretRef: corev1.LocalObjectReference{Name: "acme-openstack"}, SubnetID: subnet1,
	}}
}

// TestSpecVersionStaysWithinAMinorOfStatus: a second upgrade may not start before the
// running one has finished: spec.version one minor above status.version at most, so the
// apiservers never span two minors.
func TestSpecVersionStaysWithinAMinorOfStatus(t *testing.T) {
	ctx := context.Background()
	tc := tenant(newNamespace(t), "upgrading", func(tc *v1alpha1.TenantCluster) { tc.Spec.Version = "v1.34.4" })
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	tc.Status.Version = "v1.34.4"
	if err := k8sClient.Status().Update(ctx, tc); err != nil {
		t.Fatalf("status.version: %v", err)
	}
	tc.Spec.Version = "v1.35.4"
	if err := k8sClient.Update(ctx, tc); err != nil {
		t.Fatalf("one minor above status.version: %v", err)
	}
	tc.Spec.Version = "v1.36.3" // one minor above the spec, two above what runs
	expectRefusal(t, k8sClient.Update(ctx, tc), "spec.version", "at most one minor above the version the control plane runs")
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	tc.Status.Version = "v1.35.4" // the upgrade finished
	if err := k8sClient.Status().Update(ctx, tc); err != nil {
		t.Fatal(err)
	}
	tc.Spec.Version = "v1.36.3"
	if err := k8sClient.Update(ctx, tc); err != nil {
		t.Fatalf("next minor once the upgrade finished: %v", err)
	}
}

func byoCA(name string) *v1alpha1.CertificateAuthoritiesSpec {
	return &v1alpha1.CertificateAuthoritiesSpec{Cluster: &v1alpha1.CASecretReference{Name: name}}
}
