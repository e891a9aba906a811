//go:build envtest

package tenantcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// volumeTenant is one TenantCluster of TestEtcdVolumesGrow with its single member's claim.
type volumeTenant struct {
	tc        *v1alpha1.TenantCluster
	cpns      string
	sts, pvc  client.ObjectKey
	class     string
	expanding bool
}

// TestEtcdVolumesGrow raises spec.controlPlane.etcd.storage.size of two running one-member
// tenants from 1Gi to 2Gi. envtest runs neither the StatefulSet controller nor a volume
// resizer, so the test creates the member's claim as the StatefulSet controller would, marks
// the StatefulSet ready, and reports the claim's capacity as the resizer would. With a
// StorageClass that allows expansion the claim's request becomes 2Gi while the StatefulSet
// keeps its 1Gi claim template and is still applied (etcd's quota follows once the volume has
// grown); with one that does not, the claim is left alone and EtcdAvailable says why.
func TestEtcdVolumesGrow(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	classes := map[string]*bool{ns + "-expandable": ptr.To(true), ns + "-fixed": nil}
	for name, allow := range classes {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/none", AllowVolumeExpansion: allow}
		if err := k8sClient.Create(ctx, sc); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), sc) })
	}
	tenants := []*volumeTenant{
		{tc: small(ns, "vol-grow"), class: ns + "-expandable", expanding: true},
		{tc: small(ns, "vol-fixed"), class: ns + "-fixed"},
	}
	for _, v := range tenants {
		v.tc.Spec.ControlPlane.Etcd.Storage = v1alpha1.EtcdStorageSpec{Size: ptr.To(resource.MustParse("1Gi")), StorageClassName: ptr.To(v.class)}
		if err := k8sClient.Create(ctx, v.tc); err != nil {
			t.Fatalf("create: %v", err)
		}
		v.cpns = controlplane.NamespaceOf(v.tc)
		v.sts = client.ObjectKey{Namespace: v.cpns, Name: controlplane.Etcd.ObjectName(v.tc.Name)}
		v.pvc = client.ObjectKey{Namespace: v.cpns, Name: controlplane.EtcdDataClaimTemplate + "-" + v.sts.Name + "-0"}
	}
	for _, v := range tenants {
		eventually(t, v.tc.Name+": the etcd StatefulSet applied", time.Minute, func(ctx context.Context) bool {
			return k8sClient.Get(ctx, v.sts, &appsv1.StatefulSet{}) == nil
		})
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: v.cpns, Name: v.pvc.Name}}
		pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
		pvc.Spec.StorageClassName = ptr.To(v.class)
		pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
		if err := k8sClient.Create(ctx, pvc); err != nil {
			t.Fatal(err)
		}
		setClaimCapacity(t, ctx, v.pvc, "1Gi")
		waitFor(t, v.tc, v.tc.Name+": certificates issued", func(tc *v1alpha1.TenantCluster) bool {
			return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.CertificatesReadyCondition)
		})
		etcdAvailable(t, v, v1alpha1.AvailableReason)
	}

	for _, v := range tenants {
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(v.tc), v.tc); err != nil {
				return err
			}
			v.tc.Spec.ControlPlane.Etcd.Storage.Size = ptr.To(resource.MustParse("2Gi"))
			return k8sClient.Update(ctx, v.tc)
		}); err != nil {
			t.Fatalf("raise the size: %v", err)
		}
	}

	grow, fixed := tenants[0], tenants[1]
	eventually(t, "the expandable claim requests 2Gi", time.Minute, func(ctx context.Context) bool {
		return claimRequest(ctx, grow.pvc) == "2Gi"
	})
	etcdAvailable(t, grow, v1alpha1.VolumeExpandingReason, "expanding the etcd volumes to 2Gi: "+grow.pvc.Name)
	etcdAvailable(t, fixed, v1alpha1.VolumeExpansionNotSupportedReason,
		"spec.controlPlane.etcd.storage.size 2Gi: StorageClass "+fixed.class+" does not allow volume expansion (allowVolumeExpansion is not true); the members keep 1Gi")
	if got := claimRequest(ctx, fixed.pvc); got != "1Gi" {
		t.Errorf("the claim of a class without expansion requests %s, want 1Gi untouched", got)
	}
	eventually(t, "a Warning event VolumeExpansionNotSupported", 30*time.Second, func(ctx context.Context) bool {
		return volumeEvents(ctx, fixed.tc, v1alpha1.VolumeExpansionNotSupportedReason) > 0
	})

	// The resizer finishes: etcd's quota follows the grown volume, which proves the
	// StatefulSet is still applied after the size changed; its claim template is the old one.
	setClaimCapacity(t, ctx, grow.pvc, "2Gi")
	const quota2Gi = "--quota-backend-bytes=805306368" // (2Gi-512Mi)/2
	eventually(t, "etcd's quota follows the grown volume", 90*time.Second, func(ctx context.Context) bool {
		return strings.Contains(strings.Join(etcdArgs(ctx, grow.sts), " "), quota2Gi)
	})
	etcdAvailable(t, grow, v1alpha1.AvailableReason)
	for _, v := range tenants {
		sts := &appsv1.StatefulSet{}
		if err := k8sClient.Get(ctx, v.sts, sts); err != nil {
			t.Fatal(err)
		}
		tmpl := sts.Spec.VolumeClaimTemplates[0].Spec
		if got := tmpl.Resources.Requests[corev1.ResourceStorage]; got.String() != "1Gi" || ptr.Deref(tmpl.StorageClassName, "") != v.class {
			t.Errorf("%s: claim template %s %q, want the 1Gi %q it was created with", v.tc.Name, got.String(), ptr.Deref(tmpl.StorageClassName, ""), v.class)
		}
	}
	if strings.Contains(strings.Join(etcdArgs(ctx, fixed.sts), " "), quota2Gi) {
		t.Errorf("etcd of %s got the quota of a 2Gi volume its 1Gi volume cannot hold", fixed.tc.Name)
	}

	// At size: reconciles write nothing to the claims.
	before := map[string]string{}
	for _, v := range tenants {
		pvc := &corev1.PersistentVolumeClaim{}
		if err := k8sClient.Get(ctx, v.pvc, pvc); err != nil {
			t.Fatal(err)
		}
		before[v.pvc.Name] = pvc.ResourceVersion
		setStatefulSetReady(t, ctx, v.sts) // wakes a reconcile
	}
	time.Sleep(3 * time.Second)
	for _, v := range tenants {
		pvc := &corev1.PersistentVolumeClaim{}
		if err := k8sClient.Get(ctx, v.pvc, pvc); err != nil {
			t.Fatal(err)
		}
		if pvc.ResourceVersion != before[v.pvc.Name] {
			t.Errorf("%s was written again by a reconcile with nothing to do", v.pvc.Name)
		}
	}
}

// etcdAvailable waits for EtcdAvailable True with reason and a message that contains
// message, marking the StatefulSet ready whenever the reconciler changed it (the pki
// checksum as certificates are issued, the quota).
func etcdAvailable(t *testing.T, v *volumeTenant, reason string, message ...string) {
	t.Helper()
	eventually(t, v.tc.Name+": EtcdAvailable "+reason, 90*time.Second, func(ctx context.Context) bool {
		sts := &appsv1.StatefulSet{}
		if err := k8sClient.Get(ctx, v.sts, sts); err != nil {
			return false
		}
		if sts.Status.ObservedGeneration != sts.Generation || sts.Status.ReadyReplicas != ptr.Deref(sts.Spec.Replicas, 1) {
			setStatefulSetReady(t, ctx, v.sts)
		}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(v.tc), v.tc); err != nil {
			return false
		}
		c := condition(v.tc, v1alpha1.EtcdAvailableCondition)
		return c.Status == metav1.ConditionTrue && c.Reason == reason && strings.Contains(c.Message, strings.Join(message, ""))
	})
}

// setClaimCapacity reports the claim's volume as bound with the given capacity, as the PV
// controller and a resizer would.
func setClaimCapacity(t *testing.T, ctx context.Context, key client.ObjectKey, capacity string) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pvc := &corev1.PersistentVolumeClaim{}
		if err := k8sClient.Get(ctx, key, pvc); err != nil {
			return err
		}
		pvc.Status.Phase = corev1.ClaimBound
		pvc.Status.AccessModes = pvc.Spec.AccessModes
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)}
		return k8sClient.Status().Update(ctx, pvc)
	}); err != nil {
		t.Fatalf("claim %s capacity %s: %v", key.Name, capacity, err)
	}
}

// setStatefulSetReady writes the status the StatefulSet controller would with every member ready.
func setStatefulSetReady(t *testing.T, ctx context.Context, key client.ObjectKey) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sts := &appsv1.StatefulSet{}
		if err := k8sClient.Get(ctx, key, sts); err != nil {
			return err
		}
		n := ptr.Deref(sts.Spec.Replicas, 1)
		sts.Status = appsv1.StatefulSetStatus{
			ObservedGeneration: sts.Generation, Replicas: n, ReadyReplicas: n, AvailableReplicas: n, CurrentReplicas: n, UpdatedReplicas: n,
		}
		return k8sClient.Status().Update(ctx, sts)
	}); err != nil {
		t.Fatalf("StatefulSet %s ready: %v", key.Name, err)
	}
}

func claimRequest(ctx context.Context, key client.ObjectKey) string {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := k8sClient.Get(ctx, key, pvc); err != nil {
		return ""
	}
	q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	return q.String()
}

func etcdArgs(ctx context.Context, key client.ObjectKey) []string {
	sts := &appsv1.StatefulSet{}
	if err := k8sClient.Get(ctx, key, sts); err != nil || len(sts.Spec.Template.Spec.Containers) == 0 {
		return nil
	}
	return sts.Spec.Template.Spec.Containers[0].Args
}

// volumeEvents counts the events with reason recorded about the TenantCluster.
func volumeEvents(ctx context.Context, tc *v1alpha1.TenantCluster, reason string) int {
	list := &eventsv1.EventList{}
	if err := k8sClient.List(ctx, list, client.InNamespace(tc.Namespace)); err != nil {
		return 0
	}
	n := 0
	for _, e := range list.Items {
		if e.Reason == reason && e.Regarding.UID == tc.UID && e.Type == corev1.EventTypeWarning {
			n++
		}
	}
	return n
}
