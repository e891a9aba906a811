package tenantcluster

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// claim is a member's PersistentVolumeClaim: its request, its class ("" none) and the
// capacity its volume reports ("" none).
func claim(name, request, class, capacity string, mutate ...func(*corev1.PersistentVolumeClaim)) corev1.PersistentVolumeClaim {
	pvc := corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}}
	pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(request)}
	if class != "" {
		pvc.Spec.StorageClassName = ptr.To(class)
	}
	if capacity != "" {
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)}
	}
	for _, m := range mutate {
		m(&pvc)
	}
	return pvc
}

func storageClass(name string, expandable *bool) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, AllowVolumeExpansion: expandable}
}

func TestPlanEtcdVolumes(t *testing.T) {
	classes := map[string]*storagev1.StorageClass{
		"ceph":       storageClass("ceph", ptr.To(true)),
		"local-path": storageClass("local-path", nil),
		"frozen":     storageClass("frozen", ptr.To(false)),
	}
	withCondition := func(typ corev1.PersistentVolumeClaimConditionType) func(*corev1.PersistentVolumeClaim) {
		return func(p *corev1.PersistentVolumeClaim) {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PersistentVolumeClaimCondition{Type: typ, Status: corev1.ConditionTrue})
		}
	}
	for _, c := range []struct {
		name         string
		want         string
		claims       []corev1.PersistentVolumeClaim
		wantPatches  []string // claim names, each to want
		wantReason   string
		wantMessage  string
		wantCapacity string
	}{
		{
			name: "at size: nothing to do", want: "8Gi",
			claims:       []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "8Gi", "ceph", "8Gi"), claim("data-a-etcd-1", "8Gi", "ceph", "10Gi")},
			wantCapacity: "8Gi",
		},
		{
			name: "no claims yet", want: "8Gi",
		},
		{
			name: "larger than the spec (never shrunk)", want: "8Gi",
			claims:       []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "16Gi", "local-path", "16Gi")},
			wantCapacity: "16Gi",
		},
		{
			name: "grown, expandable class: every smaller claim patched", want: "16Gi",
			claims:      []corev1.PersistentVolumeClaim{claim("data-a-etcd-1", "8Gi", "ceph", "8Gi"), claim("data-a-etcd-0", "8Gi", "ceph", "8Gi"), claim("data-a-etcd-2", "16Gi", "ceph", "16Gi")},
			wantPatches: []string{"data-a-etcd-0", "data-a-etcd-1"},
			wantReason:  v1alpha1.VolumeExpandingReason,
			wantMessage: "expanding the etcd volumes to 16Gi: data-a-etcd-0 (capacity 8Gi, requested), data-a-etcd-1 (capacity 8Gi, requested)", wantCapacity: "8Gi",
		},
		{
			name: "requested, the volume still small", want: "16Gi",
			claims:      []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "16Gi", "ceph", "8Gi")},
			wantReason:  v1alpha1.VolumeExpandingReason,
			wantMessage: "expanding the etcd volumes to 16Gi: data-a-etcd-0 (capacity 8Gi)", wantCapacity: "8Gi",
		},
		{
			name: "file system resize pending", want: "16Gi",
			claims:      []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "16Gi", "ceph", "16Gi", withCondition(corev1.PersistentVolumeClaimFileSystemResizePending))},
			wantReason:  v1alpha1.VolumeExpandingReason,
			wantMessage: "expanding the etcd volumes to 16Gi: data-a-etcd-0 (capacity 16Gi, FileSystemResizePending)", wantCapacity: "16Gi",
		},
		{
			name: "a new member's claim at the template's size", want: "16Gi",
			claims:      []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "16Gi", "ceph", "16Gi"), claim("data-a-etcd-1", "8Gi", "ceph", "")},
			wantPatches: []string{"data-a-etcd-1"},
			wantReason:  v1alpha1.VolumeExpandingReason,
			wantMessage: "expanding the etcd volumes to 16Gi: data-a-etcd-1 (requested)", wantCapacity: "16Gi",
		},
		{
			name: "class does not allow expansion: no patch", want: "16Gi",
			claims:      []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "8Gi", "local-path", "8Gi"), claim("data-a-etcd-1", "8Gi", "local-path", "8Gi")},
			wantReason:  v1alpha1.VolumeExpansionNotSupportedReason,
			wantMessage: "spec.controlPlane.etcd.storage.size 16Gi: StorageClass local-path does not allow volume expansion (allowVolumeExpansion is not true); the members keep 8Gi", wantCapacity: "8Gi",
		},
		{
			name: "allowVolumeExpansion false", want: "16Gi",
			claims:      []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "8Gi", "frozen", "8Gi")},
			wantReason:  v1alpha1.VolumeExpansionNotSupportedReason,
			wantMessage: "spec.controlPlane.etcd.storage.size 16Gi: StorageClass frozen does not allow volume expansion (allowVolumeExpansion is not true); the members keep 8Gi", wantCapacity: "8Gi",
		},
		{
			name: "no class, missing class", want: "16Gi",
			claims:      []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "8Gi", "", "8Gi"), claim("data-a-etcd-1", "8Gi", "gone", "8Gi")},
			wantReason:  v1alpha1.VolumeExpansionNotSupportedReason,
			wantMessage: "spec.controlPlane.etcd.storage.size 16Gi: PersistentVolumeClaim data-a-etcd-0 has no StorageClass, so it cannot be expanded; StorageClass gone of PersistentVolumeClaim data-a-etcd-1 does not exist, so it cannot be expanded; the members keep 8Gi", wantCapacity: "8Gi",
		},
		{
			name: "the seed refused a resize", want: "16Gi",
			claims: []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "16Gi", "ceph", "8Gi", func(p *corev1.PersistentVolumeClaim) {
				p.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{corev1.ResourceStorage: corev1.PersistentVolumeClaimControllerResizeInfeasible}
				p.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimControllerResizeError, Status: corev1.ConditionTrue, Message: "pool full"}}
			})},
			wantReason:  v1alpha1.VolumeExpansionFailedReason,
			wantMessage: "PersistentVolumeClaim data-a-etcd-0 cannot be expanded to 16Gi: ControllerResizeInfeasible: pool full", wantCapacity: "8Gi",
		},
		{
			name: "not supported wins over expanding; the expandable one is still patched", want: "16Gi",
			claims:      []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "8Gi", "ceph", "8Gi"), claim("data-a-etcd-1", "8Gi", "local-path", "8Gi")},
			wantPatches: []string{"data-a-etcd-0"},
			wantReason:  v1alpha1.VolumeExpansionNotSupportedReason,
			wantMessage: "spec.controlPlane.etcd.storage.size 16Gi: StorageClass local-path does not allow volume expansion (allowVolumeExpansion is not true); the members keep 8Gi", wantCapacity: "8Gi",
		},
		{
			name: "a claim being deleted is left alone", want: "16Gi",
			claims: []corev1.PersistentVolumeClaim{claim("data-a-etcd-0", "8Gi", "ceph", "8Gi", func(p *corev1.PersistentVolumeClaim) {
				p.DeletionTimestamp = ptr.To(metav1.Now())
			})},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			patches, v := planEtcdVolumes(resource.MustParse(c.want), c.claims, classes)
			var names []string
			for _, p := range patches {
				names = append(names, p.claim)
				if p.size.String() != c.want {
					t.Errorf("patch %s to %s, want %s", p.claim, p.size.String(), c.want)
				}
			}
			if !reflect.DeepEqual(names, c.wantPatches) {
				t.Errorf("patches %v, want %v", names, c.wantPatches)
			}
			if v.reason != c.wantReason || v.message != c.wantMessage {
				t.Errorf("verdict %s %q,\nwant    %s %q", v.reason, v.message, c.wantReason, c.wantMessage)
			}
			gotCapacity := ""
			if v.capacity != nil {
				gotCapacity = v.capacity.String()
			}
			if gotCapacity != c.wantCapacity {
				t.Errorf("capacity %q, want %q", gotCapacity, c.wantCapacity)
			}
		})
	}
}

func TestVolumesCheck(t *testing.T) {
	v := etcdVolumes{reason: v1alpha1.VolumeExpansionNotSupportedReason, message: "no expansion"}
	if got := volumesCheck(check{ok: true, reason: v1alpha1.AvailableReason, message: "1 of 1 ready"}, v); !got.ok || got.reason != v.reason || got.message != "no expansion; 1 of 1 ready" {
		t.Errorf("serving etcd: %+v", got)
	}
	if got := volumesCheck(check{reason: v1alpha1.ProgressingReason, message: "0 of 1 ready"}, v); got.ok || got.reason != v1alpha1.ProgressingReason || got.message != "0 of 1 ready; no expansion" {
		t.Errorf("etcd not serving: %+v", got)
	}
	if got := volumesCheck(check{ok: true, reason: v1alpha1.AvailableReason, message: "m"}, etcdVolumes{}); got.reason != v1alpha1.AvailableReason || got.message != "m" {
		t.Errorf("volumes at size: %+v", got)
	}
}

func TestClaimTemplateAndMembers(t *testing.T) {
	if claimTemplateOf(nil) != nil {
		t.Errorf("a claim template without a StatefulSet")
	}
	sts := &appsv1.StatefulSet{}
	sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{claim("data", "8Gi", "fast", "")}
	if got := claimTemplateOf(sts); got == nil || got.Size.String() != "8Gi" || got.StorageClassName != "fast" {
		t.Errorf("claim template %+v, want 8Gi fast", got)
	}
	for name, want := range map[string]bool{
		"data-acme-etcd-0": true, "data-acme-etcd-12": true, "data-acme-etcd-": false, "data-acme-etcd-x": false,
		"data-acme-etcd-events-0": false, "other-acme-etcd-0": false,
	} {
		if got := isMemberClaim(name, controlplane.Etcd.ObjectName("acme")); got != want {
			t.Errorf("isMemberClaim(%s) = %t, want %t", name, got, want)
		}
	}
}
