//go:build envtest

package tenantcluster_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// execCall is what the fake exec received: envtest runs no kubelet, so a restore's stream
// into its pod is recorded here, whole, by namespace/pod. e2e/backup_test.go streams into a
// real pod and restores with the real etcdutl.
type execCall struct {
	container string
	command   []string
	stdin     []byte
}

var execCalls sync.Map

func fakeExec(_ context.Context, namespace, pod, container string, command []string, stdin io.Reader) error {
	data, err := io.ReadAll(stdin)
	execCalls.Store(namespace+"/"+pod, execCall{container: container, command: command, stdin: data})
	return err
}

// TestRestoreMakesANewTenantFromABackup: a TenantCluster with spec.restore, made after the
// tenant of its name was deleted, gets the old tenant's CAs, service-account key and
// encryption key from the backup (no CA is made anew), no etcd until its first member's
// volume is restored: a claim and a restore pod whose receiver gets exactly the backup's
// snapshot, and etcdutl's arguments with the new tenant's token; once the pod succeeded,
// status.restore says so, the pod goes, and etcd starts with that one member, "existing".
func TestRestoreMakesANewTenantFromABackup(t *testing.T) {
	ctx := context.Background()
	old, oldKeys, _, last := backedUpAndDeleted(t, "phoenix")
	cpns := controlplane.NamespaceOf(old)
	tc := restoreOf(t, old, last)

	pod := &corev1.Pod{}
	eventually(t, "restore pod made", 2*time.Minute, func(ctx context.Context) bool {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: controlplane.EtcdRestorePodName(tc.Name)}, pod) == nil
	})
	// The old tenant's node port, free again, is asked for: its address is published again.
	eventually(t, "the old endpoint published again", time.Minute, func(ctx context.Context) bool {
		return k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc) == nil && tc.Status.Endpoint == old.Status.Endpoint
	})
	for name, data := range oldKeys {
		sec := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: name}, sec); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"tls.key", controlplane.EncryptionConfigKey} {
			if !bytes.Equal(sec.Data[k], data[k]) {
				t.Errorf("Secret %s: %s is not the old tenant's", name, k)
			}
		}
	}
	certs := &cmv1.CertificateList{}
	if err := k8sClient.List(ctx, certs, client.InNamespace(cpns)); err != nil {
		t.Fatal(err)
	}
	for _, c := range certs.Items {
		if c.Spec.IsCA {
			t.Errorf("Certificate %s makes a CA: a restored tenant's CAs are its backup's", c.Name)
		}
	}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: controlplane.Etcd.ObjectName(tc.Name)}, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Fatalf("etcd's StatefulSet exists before its data is restored: %v", err)
	}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: controlplane.EtcdDataClaimName(tc.Name, 0)}, &corev1.PersistentVolumeClaim{}); err != nil {
		t.Fatalf("the first member's claim: %v", err)
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pod.Spec.Containers[0].Args, "--initial-cluster-token="+string(tc.UID)+"-"+last) {
		t.Errorf("etcdutl args %q lack the new tenant's token", pod.Spec.Containers[0].Args)
	}
	if api := apiServerReplicas(t, ctx, tc); api != 0 {
		t.Errorf("the kube-apiserver has %d replicas while etcd is restored, want 0", api)
	}

	// The kubelet starts the receiver: the manager streams the snapshot into it.
	setPodStatus(t, ctx, pod, corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
		{Name: controlplane.EtcdRestoreReceiver, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}},
	}})
	var call execCall
	eventually(t, "snapshot streamed", time.Minute, func(context.Context) bool {
		v, ok := execCalls.Load(cpns + "/" + pod.Name)
		if ok {
			call = v.(execCall)
		}
		return ok
	})
	sum := sha256.Sum256(fakeSnapshotDB)
	want := append(bytes.Clone(fakeSnapshotDB), sum[:]...)
	if call.container != controlplane.EtcdRestoreReceiver || !bytes.Equal(call.stdin, want) ||
		!slices.Equal(call.command, controlplane.EtcdRestoreReceiveCommand(int64(len(want)), hexOf(sum[:]))) {
		t.Fatalf("exec into %s %q with %d bytes: want the backup's snapshot (%d bytes) into %s", call.container, call.command, len(call.stdin), len(want), controlplane.EtcdRestoreReceiver)
	}

	// etcdutl succeeded: recorded, the pod goes, etcd starts on member 0's data.
	setPodStatus(t, ctx, pod, corev1.PodStatus{Phase: corev1.PodSucceeded})
	waitFor(t, tc, "restore recorded", func(tc *v1alpha1.TenantCluster) bool { return tc.Status.Restore != nil })
	if r := tc.Status.Restore; r.Backup != last || r.TenantUID != string(old.UID) || r.Revision <= 1000 || r.CompletedTime == nil {
		t.Errorf("status.restore %+v, want backup %s of tenant %s", r, last, old.UID)
	}
	// Held at no replica until its certificates are issued, as any new etcd; then the one
	// restored member.
	sts := &appsv1.StatefulSet{}
	defer func() {
		if t.Failed() {
			p := &corev1.Pod{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), p); err == nil {
				t.Logf("restore pod %s uid %s made %s, deleted %v, phase %s, annotations %v", p.Name, p.UID, p.CreationTimestamp, p.DeletionTimestamp, p.Status.Phase, p.Annotations)
			}
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc)
			t.Logf("status.restoring %+v, status.restore %+v", tc.Status.Restoring, tc.Status.Restore)
			for _, c := range tc.Status.Conditions {
				t.Logf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
			}
		}
	}()
	eventually(t, "etcd StatefulSet made with the restored member", time.Minute, func(ctx context.Context) bool {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: controlplane.Etcd.ObjectName(tc.Name)}, sts) == nil &&
			ptr.Deref(sts.Spec.Replicas, 0) == 1
	})
	cm := &corev1.ConfigMap{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: controlplane.EtcdClusterConfigMapName(tc.Name)}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data[controlplane.EtcdInitialClusterStateKey] != controlplane.EtcdClusterStateExisting || strings.Count(cm.Data[controlplane.EtcdInitialClusterKey], "=") != 1 {
		t.Errorf("etcd's cluster ConfigMap %v: want member 0 alone, existing", cm.Data)
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("the restore pod is still there once etcd runs: %v", err)
	}
}

// TestRestoreOfATakenNodePortGetsAnother: when a Service of the seed holds the old tenant's
// node port by the time it is made again, the restored tenant gets another (an event says the
// address changed) rather than fail to make its Service.
func TestRestoreOfATakenNodePortGetsAnother(t *testing.T) {
	ctx := context.Background()
	old, _, _, last := backedUpAndDeleted(t, "moved")
	u, err := url.Parse(old.Status.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("old endpoint %q has no node port: %v", old.Status.Endpoint, err)
	}
	squatter := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: newNamespace(t), Name: "squatter"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "x"},
			Ports: []corev1.ServicePort{{Port: 443, NodePort: int32(port)}}},
	}
	if err := k8sClient.Create(ctx, squatter); err != nil {
		t.Fatal(err)
	}
	tc := restoreOf(t, old, last)
	waitFor(t, tc, "another endpoint published", func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.Endpoint != "" && tc.Status.Endpoint != old.Status.Endpoint
	})
	eventually(t, "EndpointAddressChanged told", time.Minute, func(ctx context.Context) bool {
		evs := &eventsv1.EventList{}
		return k8sClient.List(ctx, evs, client.InNamespace(tc.Namespace)) == nil && slices.ContainsFunc(evs.Items, func(e eventsv1.Event) bool {
			return e.Reason == "EndpointAddressChanged" && e.Regarding.UID == tc.UID && strings.Contains(e.Note, fmt.Sprint(port))
		})
	})
}

// TestRestoreOfAMissingBackupSaysSo: spec.restore naming a backup that is not in the
// container stops the tenant before anything is made, Ready naming the backup and how to
// list them; no CA is made meanwhile.
func TestRestoreOfAMissingBackupSaysSo(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	customerCloudSecret(t, ns)
	fakeClouds.Register(ns, "customer-cloud", openstack.NewFake())
	tc := small(ns, "nothing")
	tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "customer-cloud"}}
	tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: "20260101T000000Z"}
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "Ready says the restore failed", func(tc *v1alpha1.TenantCluster) bool {
		return condition(tc, v1alpha1.ReadyCondition).Reason == v1alpha1.RestoreFailedReason
	})
	msg := condition(tc, v1alpha1.ReadyCondition).Message
	for _, want := range []string{"20260101T000000Z", "kubeseed-backups", "kubeseed backup list nothing -n " + ns} {
		if !strings.Contains(msg, want) {
			t.Errorf("Ready says %q, want it to name %q", msg, want)
		}
	}
	secrets := &corev1.SecretList{}
	if err := k8sClient.List(ctx, secrets, client.InNamespace(controlplane.NamespaceOf(tc))); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		if s.Name == controlplane.CASecret.Name(tc.Name) || s.Name == controlplane.EncryptionConfigSecret.Name(tc.Name) {
			t.Errorf("Secret %s was made though the backup to restore it from is missing", s.Name)
		}
	}
}

// backedUpAndDeleted makes a tenant with backups, waits for its first, and deletes it: what
// a restore starts from. It returns the tenant as it was, its key Secrets' data by name, its
// cloud and the backup's name.
func backedUpAndDeleted(t *testing.T, name string) (*v1alpha1.TenantCluster, map[string]map[string][]byte, *openstack.Fake, string) {
	t.Helper()
	ctx := context.Background()
	old, f := backupTenant(t, name)
	waitFor(t, old, "first backup recorded", func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.Backup != nil && tc.Status.Backup.LastSuccessfulTime != nil
	})
	cpns := controlplane.NamespaceOf(old)
	keys := map[string]map[string][]byte{}
	for _, s := range []controlplane.Secret{controlplane.CASecret, controlplane.EtcdCASecret, controlplane.FrontProxyCASecret, controlplane.ServiceAccountSecret, controlplane.EncryptionConfigSecret} {
		sec := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: cpns, Name: s.Name(old.Name)}, sec); err != nil {
			t.Fatal(err)
		}
		keys[sec.Name] = sec.Data
	}
	if err := k8sClient.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	eventually(t, "old tenant gone", time.Minute, func(ctx context.Context) bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(old), &v1alpha1.TenantCluster{}))
	})
	return old, keys, f, old.Status.Backup.LastBackup[strings.LastIndex(old.Status.Backup.LastBackup, "/")+1:]
}

// restoreOf creates the TenantCluster that restores old's backup.
func restoreOf(t *testing.T, old *v1alpha1.TenantCluster, backupName string) *v1alpha1.TenantCluster {
	t.Helper()
	tc := small(old.Namespace, old.Name)
	tc.Spec.Cloud = old.Spec.Cloud
	tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: backupName, Container: "backups"}
	if err := k8sClient.Create(context.Background(), tc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), tc) })
	return tc
}

func apiServerReplicas(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster) int32 {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: controlplane.APIServer.ObjectName(tc.Name)}, d); err != nil {
		return -1
	}
	return ptr.Deref(d.Spec.Replicas, 1)
}

func setPodStatus(t *testing.T, ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		pod.Status = st
		return k8sClient.Status().Update(ctx, pod)
	})
	if err != nil {
		t.Fatal(err)
	}
}
