//go:build envtest

package tenantcluster_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// envtest runs no etcd pods: snapshots come from fakeSnapshotter, a database of fixed
// bytes with etcd's SHA-256 trailer. pkg/backup's tests stream real etcd snapshots, and
// e2e/backup_test.go restores one taken from a running tenant.
var (
	fakeSnapshotDB   = bytes.Repeat([]byte("etcd-backend-page "), 20000)
	fakeSnapshotRevs atomic.Int64
)

// snapshotGates holds, by etcd client URL, a channel a tenant's snapshots wait on until it
// is closed: a test sees what happens while a backup is being taken.
var snapshotGates sync.Map

type fakeSnapshotter struct{ endpoint string }

func (f fakeSnapshotter) Snapshot(ctx context.Context) (io.ReadCloser, etcd.SnapshotInfo, error) {
	if gate, ok := snapshotGates.Load(f.endpoint); ok {
		select {
		case <-gate.(chan struct{}):
		case <-ctx.Done():
			return nil, etcd.SnapshotInfo{}, ctx.Err()
		}
	}
	sum := sha256.Sum256(fakeSnapshotDB)
	body := append(append([]byte{}, fakeSnapshotDB...), sum[:]...)
	return io.NopCloser(bytes.NewReader(body)), etcd.SnapshotInfo{Revision: 1000 + fakeSnapshotRevs.Add(1), Version: "3.6.16"}, nil
}

func snapshotFake(cfg etcd.Config) backup.Snapshotter {
	return fakeSnapshotter{endpoint: cfg.Endpoints[0]}
}

// backupTenant is a TenantCluster with spec.cloud on a fake cloud and backups every hour,
// its etcd made ready.
func backupTenant(t *testing.T, name string) (*v1alpha1.TenantCluster, *openstack.Fake) {
	t.Helper()
	return backupTenantWith(t, name, nil)
}

// customerCloudSecret makes the customer's cloud credentials Secret "customer-cloud" in
// ns; fakeClouds says which fake cloud it opens.
func customerCloudSecret(t *testing.T, ns string) {
	t.Helper()
	if err := k8sClient.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "customer-cloud"},
		Data:       map[string][]byte{openstack.SecretKeyCloudsYAML: []byte("clouds: {openstack: {}}")},
	}); err != nil {
		t.Fatal(err)
	}
}

// backupTenantWith lets prepare set the fake cloud up before the tenant exists.
func backupTenantWith(t *testing.T, name string, prepare func(*openstack.Fake), mutate ...func(*v1alpha1.TenantCluster)) (*v1alpha1.TenantCluster, *openstack.Fake) {
	t.Helper()
	ctx := context.Background()
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlplane.DefaultManagerNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	ns := newNamespace(t)
	f := openstack.NewFake()
	customerCloudSecret(t, ns)
	if prepare != nil {
		prepare(f)
	}
	fakeClouds.Register(ns, "customer-cloud", f)
	tc := small(ns, name)
	tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "customer-cloud"}}
	tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Every: &metav1.Duration{Duration: time.Hour}, Container: "backups"}
	for _, m := range mutate {
		m(tc)
	}
	if err := k8sClient.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "kubeconfig published", func(tc *v1alpha1.TenantCluster) bool { return tc.Status.KubeconfigSecretRef != nil })
	setEtcdReady(t, controlplane.NamespaceOf(tc), tc.Name)
	return tc, f
}

// TestBackupIsWrittenEncryptedWithItsKeys: a tenant with backups gets one as soon as etcd
// is available: three objects in the customer's container, the snapshot and keys readable
// only with the tenant's key from the manager's namespace, status and BackedUp saying so.
func TestBackupIsWrittenEncryptedWithItsKeys(t *testing.T) {
	ctx := context.Background()
	tc, f := backupTenant(t, "saved")
	waitFor(t, tc, "first backup recorded", func(tc *v1alpha1.TenantCluster) bool {
		return tc.Status.Backup != nil && tc.Status.Backup.LastSuccessfulTime != nil
	})
	c := condition(tc, v1alpha1.BackedUpCondition)
	if c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.BackupSucceededReason {
		t.Errorf("BackedUp %+v, want True/BackupSucceeded", c)
	}
	b := tc.Status.Backup
	if !strings.HasPrefix(b.LastBackup, tc.Namespace+"/saved/") || b.Revision <= 1000 || b.SizeBytes == 0 {
		t.Errorf("status.backup %+v", b)
	}

	objs, err := f.ListObjects(ctx, "backups", b.LastBackup+"/", 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, strings.TrimPrefix(o.Name, b.LastBackup+"/"))
	}
	if strings.Join(names, ",") != "keys.enc,manifest.json,snapshot.enc" {
		t.Fatalf("backup objects %v", names)
	}
	read := func(name string) []byte {
		rc, err := f.GetObject(ctx, "backups", b.LastBackup+"/"+name)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	var m backup.Manifest
	if err := json.Unmarshal(read(backup.ManifestObject), &m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(fakeSnapshotDB)
	if m.Revision != b.Revision || m.SnapshotBytes != int64(len(fakeSnapshotDB)+sha256.Size) || m.SnapshotSHA256 != hexOf(sum[:]) || m.TenantUID != string(tc.UID) {
		t.Errorf("manifest %+v", m)
	}
	if m.KeyID != tenantcluster.BackupKeySecretName(tc) {
		t.Errorf("manifest key %q", m.KeyID)
	}
	stored := read(backup.SnapshotObject)
	if bytes.Contains(stored, []byte("etcd-backend-page")) {
		t.Error("the snapshot is stored in the clear")
	}
	keySecret := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: controlplane.DefaultManagerNamespace, Name: m.KeyID}, keySecret); err != nil {
		t.Fatal(err)
	}
	open := func(data, key []byte, object string) ([]byte, error) {
		r, err := backup.Open(bytes.NewReader(data), key, backup.ObjectAAD(string(tc.UID), m.Name, object))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	}
	db, err := open(stored, keySecret.Data["key"], backup.SnapshotObject)
	if err != nil || !bytes.Equal(db, append(append([]byte{}, fakeSnapshotDB...), sum[:]...)) {
		t.Fatalf("snapshot does not open to the database and its trailer: %v", err)
	}
	if _, err := open(stored, bytes.Repeat([]byte{7}, backup.KeySize), backup.SnapshotObject); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("another key opens the snapshot: %v", err)
	}
	if _, err := open(stored, keySecret.Data["key"], backup.KeysObject); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("the snapshot opens as the keys object: %v", err)
	}
	keysJSON, err := open(read(backup.KeysObject), keySecret.Data["key"], backup.KeysObject)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]map[string][]byte
	if err := json.Unmarshal(keysJSON, &keys); err != nil {
		t.Fatal(err)
	}
	ca := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: controlplane.CASecret.Name(tc.Name)}, ca); err != nil {
		t.Fatal(err)
	}
	for _, s := range []controlplane.Secret{controlplane.CASecret, controlplane.EtcdCASecret, controlplane.FrontProxyCASecret, controlplane.ServiceAccountSecret, controlplane.EncryptionConfigSecret} {
		if len(keys[s.Name(tc.Name)]) == 0 {
			t.Errorf("the backup's keys lack %s", s.Name(tc.Name))
		}
	}
	if !bytes.Equal(keys[ca.Name]["tls.key"], ca.Data["tls.key"]) {
		t.Error("the backup's cluster CA key differs from the tenant's")
	}

	// Settled: a reconcile writes nothing until the next backup is due.
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	status := tc.Status.DeepCopy()
	before := resourceVersionsIn(t, controlplane.NamespaceOf(tc))
	poke(t, tc) // an annotation: a reconcile, nothing else
	time.Sleep(2 * time.Second)
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	if after := resourceVersionsIn(t, controlplane.NamespaceOf(tc)); !equalMaps(before, after) {
		t.Errorf("a settled tenant with backups writes its control plane: %v -> %v", before, after)
	}
	if !equality.Semantic.DeepEqual(status, &tc.Status) {
		t.Errorf("a settled tenant with backups writes its status: %+v -> %+v", status, tc.Status)
	}
	// One backup, told once: a repeated event would be a Series on it.
	evs := &eventsv1.EventList{}
	if err := k8sClient.List(ctx, evs, client.InNamespace(tc.Namespace)); err != nil {
		t.Fatal(err)
	}
	written := 0
	for _, e := range evs.Items {
		if e.Reason == "BackupWritten" && e.Regarding.Name == tc.Name {
			written++
			if e.Series != nil {
				t.Errorf("BackupWritten told %d times for one backup", e.Series.Count)
			}
		}
	}
	if written != 1 {
		t.Errorf("%d BackupWritten events, want 1", written)
	}
	if calls := countCalls(f, "PutObject"); calls != 3 {
		t.Errorf("%d objects put, want the 3 of one backup", calls)
	}

	// Deleting the tenant takes a final backup first; the key stays for it.
	if err := k8sClient.Delete(ctx, tc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TenantCluster gone", time.Minute, func(ctx context.Context) bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), &v1alpha1.TenantCluster{}))
	})
	all, err := backup.List(ctx, f, "backups", tc.Namespace+"/saved/")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || !all[1].Complete || all[1].Name <= all[0].Name {
		t.Errorf("backups after deletion %+v, want the first and a final one", all)
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(keySecret), &corev1.Secret{}); err != nil {
		t.Errorf("the backup key went with the tenant: %v", err)
	}
}

// TestBackupFailureIsReported: a cloud that refuses the upload turns BackedUp False with
// the cloud's words, and nothing is recorded as written.
func TestBackupFailureIsReported(t *testing.T) {
	tc, _ := backupTenantWith(t, "refused", func(f *openstack.Fake) {
		f.Inject("PutObject", openstack.NewError(openstack.ErrForbidden, "Swift: the container is read-only"), 0)
	})
	waitFor(t, tc, "BackedUp False", func(tc *v1alpha1.TenantCluster) bool {
		return condition(tc, v1alpha1.BackedUpCondition).Reason == v1alpha1.BackupFailedReason
	})
	if c := condition(tc, v1alpha1.BackedUpCondition); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "the container is read-only") {
		t.Errorf("BackedUp %+v", c)
	}
	if tc.Status.Backup != nil {
		t.Errorf("a failed backup recorded as written: %+v", tc.Status.Backup)
	}
	// Not Ready's business: Ready lists what keeps the control plane from serving only.
	if c := condition(tc, v1alpha1.ReadyCondition); strings.Contains(c.Message, v1alpha1.BackedUpCondition) {
		t.Errorf("Ready counts backups: %s", c.Message)
	}

	// The final backup cannot be taken either: deletion waits and says why, until the
	// annotation lets it go without.
	if err := k8sClient.Delete(context.Background(), tc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "deletion held for the final backup", func(tc *v1alpha1.TenantCluster) bool {
		return strings.Contains(condition(tc, v1alpha1.ReadyCondition).Message, "final backup")
	})
	if c := condition(tc, v1alpha1.ReadyCondition); !strings.Contains(c.Message, tenantcluster.SkipFinalBackupAnnotation) {
		t.Errorf("Ready while held %+v does not say how to go on", c)
	}
	patch := client.MergeFrom(tc.DeepCopy())
	tc.Annotations = map[string]string{tenantcluster.SkipFinalBackupAnnotation: "true"}
	if err := k8sClient.Patch(context.Background(), tc, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TenantCluster gone", time.Minute, func(ctx context.Context) bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(tc), &v1alpha1.TenantCluster{}))
	})
}

func countCalls(f *openstack.Fake, op string) int {
	n := 0
	for _, c := range f.Calls() {
		if c == op {
			n++
		}
	}
	return n
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }
