//go:build envtest

package tenantcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestRestoreInPlaceReplacesARunningTenantsData: a running tenant with backups is refused
// spec.restore without inPlace, and a backup of its predecessor (other keys) with it, with
// nothing stopped; its own backup in place: a backup of the data it replaces is written first
// (etcd has a quorum), then etcd's StatefulSet goes and every other component is held at
// zero; the restore pod waits while a claim etcd's StatefulSet owned is left (envtest runs
// no garbage collector: the test deletes it as the collector would), then the restore goes
// on as a new tenant's does; a spec naming another backup mid-restore is the restore from
// then on, in a new pod. status.restore records it, the CAs' Certificates stay
// (cert-manager made them and owns their Secrets) and etcd comes back with one member.
func TestRestoreInPlaceReplacesARunningTenantsData(t *testing.T) {
	ctx := context.Background()
	// A predecessor of the same name, backed up and deleted: its backup is not this tenant's.
	old, _, f, predecessors := backedUpAndDeleted(t, "lazarus")
	tc := small(old.Namespace, old.Name)
	tc.Spec.Cloud, tc.Spec.ControlPlane.Etcd.Backup = old.Spec.Cloud, old.Spec.ControlPlane.Etcd.Backup
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), tc) })
	waitFor(t, tc, "kubeconfig published", func(tc *v1alpha1.TenantCluster) bool { return tc.Status.KubeconfigSecretRef != nil })
	setEtcdReady(t, controlplane.NamespaceOf(tc), tc.Name)
	waitFor(t, tc, "first backup recorded", func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.Backup != nil && tc.Status.Backup.LastSuccessfulTime != nil
	})
	first := tc.Status.Backup.LastBackup[strings.LastIndex(tc.Status.Backup.LastBackup, "/")+1:]
	cpns := controlplane.NamespaceOf(tc)
	cas := caCertificates(t, ctx, cpns)
	if len(cas) == 0 {
		t.Fatal("no CA Certificate: the tenant's CAs are cert-manager's")
	}
	sts := &appsv1.StatefulSet{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: controlplane.Etcd.ObjectName(tc.Name)}, sts); err != nil {
		t.Fatal(err)
	}
	// The StatefulSet controller's claim of member 0, owned by the StatefulSet (whenDeleted: Delete).
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: cpns, Name: controlplane.EtcdDataClaimName(tc.Name, 0), Labels: controlplane.Labels(tc.Name, controlplane.Etcd),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name, UID: sts.UID}}},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	}
	if err := k8sClient.Create(ctx, claim); err != nil {
		t.Fatal(err)
	}

	// Drill (c): without the confirmation, the API refuses and nothing happens.
	setRestore := func(backup string, inPlace bool) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
				return err
			}
			tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: backup, Container: "backups", InPlace: inPlace}
			return k8sClient.Update(ctx, tc)
		})
	}
	if err := setRestore(first, false); err == nil || !strings.Contains(err.Error(), "spec.restore.inPlace: true") {
		t.Fatalf("spec.restore set on a running tenant without inPlace: %v, want a refusal naming spec.restore.inPlace", err)
	}
	// The predecessor's backup was taken with other keys: refused, and nothing stops.
	if err := setRestore(predecessors, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "a backup of another tenant refused", func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.EtcdAvailableCondition)
		return c.Reason == v1alpha1.RestoreFailedReason && strings.Contains(c.Message, "only a tenant's own backups are restored in place")
	})
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(sts), &appsv1.StatefulSet{}); err != nil {
		t.Fatalf("etcd's StatefulSet after a refused in-place restore: %v", err)
	}
	if api := apiServerReplicas(t, ctx, tc); api == 0 {
		t.Error("the kube-apiserver was stopped for a refused in-place restore")
	}
	if err := setRestore(first, true); err != nil {
		t.Fatal(err)
	}
	generation := tc.Generation
	defer func() {
		if t.Failed() {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc)
			for _, c := range tc.Status.Conditions {
				t.Logf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
			}
		}
	}()
	waitFor(t, tc, "a backup of the data it replaces", func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.Backup != nil && tc.Status.Backup.Generation >= generation && !strings.HasSuffix(tc.Status.Backup.LastBackup, "/"+first)
	})
	replaced := tc.Status.Backup.LastBackup[strings.LastIndex(tc.Status.Backup.LastBackup, "/")+1:]
	manifests, err := f.ListObjects(ctx, "backups", tc.Namespace+"/"+tc.Name+"/", 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range manifests {
		if strings.HasSuffix(o.Name, "/manifest.json") {
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d backups in the container, want the first and the one before the restore", n)
	}
	eventually(t, "etcd's StatefulSet gone", time.Minute, func(ctx context.Context) bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(sts), &appsv1.StatefulSet{}))
	})
	eventually(t, "the kube-apiserver held at zero", time.Minute, func(ctx context.Context) bool { return apiServerReplicas(t, ctx, tc) == 0 })
	waitFor(t, tc, "EtcdAvailable names the claim left", func(tc *v1alpha1.TenantCluster) bool {
		c := condition(tc, v1alpha1.EtcdAvailableCondition)
		return c.Reason == v1alpha1.RestoringReason && strings.Contains(c.Message, "claim "+claim.Name)
	})
	pod := &corev1.Pod{}
	podKey := client.ObjectKey{Namespace: cpns, Name: controlplane.EtcdRestorePodName(tc.Name)}
	if err := k8sClient.Get(ctx, podKey, pod); !apierrors.IsNotFound(err) {
		t.Fatalf("the restore pod was made while the old member's claim is left: %v", err)
	}
	// The garbage collector deletes the claim of the StatefulSet gone.
	if err := k8sClient.Delete(ctx, claim); err != nil {
		t.Fatal(err)
	}
	_ = k8sClient.Patch(ctx, claim, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
	// runs the restore pod of backup as the kubelet would, to its success.
	runs := func(backup string) {
		t.Helper()
		eventually(t, "restore pod of "+backup+" made", time.Minute, func(ctx context.Context) bool {
			return k8sClient.Get(ctx, podKey, pod) == nil && pod.DeletionTimestamp.IsZero() && pod.Annotations[controlplane.EtcdRestoreBackupAnnotation] == backup
		})
		execCalls.Delete(cpns + "/" + pod.Name)
		setPodStatus(t, ctx, pod, corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
			{Name: controlplane.EtcdRestoreReceiver, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}},
		}})
		eventually(t, "snapshot streamed", time.Minute, func(context.Context) bool {
			_, ok := execCalls.Load(cpns + "/" + pod.Name)
			return ok
		})
		setPodStatus(t, ctx, pod, corev1.PodStatus{Phase: corev1.PodSucceeded})
	}
	eventually(t, "restore pod made", time.Minute, func(ctx context.Context) bool { return k8sClient.Get(ctx, podKey, pod) == nil })
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	if r := tc.Status.Restoring; r == nil || r.Backup != first {
		t.Fatalf("status.restoring %+v while the restore runs, want backup %s", r, first)
	}
	// The spec changes its mind mid-restore, the first pod's receiver running: the spec's
	// backup is the restore now, in a pod made anew (the first one's is not its).
	setPodStatus(t, ctx, pod, corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
		{Name: controlplane.EtcdRestoreReceiver, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}},
	}})
	if err := setRestore(replaced, true); err != nil {
		t.Fatal(err)
	}
	runs(replaced)
	waitFor(t, tc, "the spec's restore recorded", func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.Restore != nil && tc.Status.Restore.Backup == replaced && tc.Status.Restoring == nil
	})
	if r := tc.Status.Restore; r.TenantUID != string(tc.UID) || tc.Status.CAsFromBackup == nil || *tc.Status.CAsFromBackup {
		t.Errorf("status.restore %+v, casFromBackup %v: want the tenant's own backup, CAs cert-manager's", r, tc.Status.CAsFromBackup)
	}
	eventually(t, "etcd's StatefulSet made again with the restored member", time.Minute, func(ctx context.Context) bool {
		return k8sClient.Get(ctx, client.ObjectKeyFromObject(sts), sts) == nil && ptr.Deref(sts.Spec.Replicas, 0) == 1
	})
	if got := caCertificates(t, ctx, cpns); strings.Join(got, ",") != strings.Join(cas, ",") {
		t.Errorf("CA Certificates and their Secrets %v after the restore, want %v kept", got, cas)
	}
	// etcd serves again, and the deletion's final backup can be taken (the fuzz corpus,
	// which runs after, waits for every tenant left to go).
	setEtcdReady(t, cpns, tc.Name)
	waitFor(t, tc, "etcd available again", func(tc *v1alpha1.TenantCluster) bool {
		return condition(tc, v1alpha1.EtcdAvailableCondition).Status == metav1.ConditionTrue
	})
}

func caCertificates(t *testing.T, ctx context.Context, ns string) []string {
	t.Helper()
	certs := &cmv1.CertificateList{}
	if err := k8sClient.List(ctx, certs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range certs.Items {
		if !c.Spec.IsCA {
			continue
		}
		// By UID: a Certificate pruned and made again (its Secret with it) is not the same.
		sec := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.Spec.SecretName}, sec); err != nil {
			t.Fatalf("CA Secret %s: %v", c.Spec.SecretName, err)
		}
		out = append(out, c.Name+"/"+string(c.UID)+"/"+string(sec.UID))
	}
	return out
}
