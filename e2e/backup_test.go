//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/tenantcluster"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// TestEtcdBackupToSwift is the backup half of the restore drill (docs/backups.md), with a
// tenant without spec.cloud backed up into the operator-wide store beside it: a tenant
// holding 1,000 ConfigMaps and a Secret is backed up into the test cloud's Swift (a real
// Swift 2.30 behind Keystone) with the customer's credentials; the backup, downloaded as the
// customer and opened with the key the admin exports, restores with etcd's own etcdutl
// (revision bumped) into an etcd that serves all 1,000 ConfigMaps and the Secret, still
// encrypted at rest, and its keys are the tenant's CAs. Then kubeseed restores it itself
// (testRestoreIntoANewTenant).
func TestEtcdBackupToSwift(t *testing.T) {
	inLane(t, &laneEtcd)
	cloud := openStackCloud(t)
	bin := filepath.Join(seed.CacheDir(), "etcd", versions.Etcd)
	if _, err := os.Stat(filepath.Join(bin, "etcdutl")); err != nil {
		t.Fatalf("etcdutl is not built: run hack/etcd-bin.sh %s (make test-e2e does): %v", versions.Etcd, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ns := newNamespace(t)
	secret := cloud.customerSecret(t, ctx, ns)
	tc := smallTenant(ns, "saved")
	tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: secret.Name}}
	if err := kube.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	operatorStored, operatorContainer := startOperatorStoreTenant(t, ctx, cloud, ns)
	waitTenantReady(t, ctx, tc)
	cfg := tenantConfig(t, ctx, tc)
	cfg.QPS, cfg.Burst = 200, 400 // client-go's default 5 QPS would make this a 200 s write
	tenant := kubernetes.NewForConfigOrDie(cfg)
	// A worker joins while the drill writes: the backup holds its node, and it must work
	// on against the tenant restored from it.
	const oldWorker = "e2e-source-worker"
	joining := startWorker(t, ctx, tc, tenant, oldWorker)
	checkOperatorStoreBackup(t, ctx, cloud, operatorStored, operatorContainer)

	// 1,000 ConfigMaps and a Secret, as a customer's cluster holds them.
	createNamespaceIn(t, ctx, tenant, "drill")
	const count = 1000
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, count)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < count; i += 8 {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%04d", i)}, Data: map[string]string{"i": fmt.Sprint(i), "pad": strings.Repeat("x", 200)}}
				if err := retryCreate(ctx, func(ctx context.Context) error {
					_, err := tenant.CoreV1().ConfigMaps("drill").Create(ctx, cm, metav1.CreateOptions{})
					return err
				}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write ConfigMaps: %v", err)
	}
	kept, err := tenant.CoreV1().Secrets("drill").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "kept"}, StringData: map[string]string{"password": "s3cret"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1,000 ConfigMaps and a Secret written in %.1fs (last resourceVersion %s)", time.Since(start).Seconds(), kept.ResourceVersion)
	if joining != nil {
		t.Logf("worker %s joined the tenant before its backup: Node Ready %.1fs after its machine started", oldWorker, joining.wait(t).Seconds())
	}

	// Backups configured now: the first is taken at once.
	container := fmt.Sprintf("kubeseed-e2e-%d", time.Now().UnixNano()%1e6)
	if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
		t.Fatal(err)
	}
	tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Every: &metav1.Duration{Duration: time.Hour}, Container: container}
	start = time.Now()
	if err := kube.Update(ctx, tc); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.BackedUpCondition), nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("no backup within 3 minutes: %+v", meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.BackedUpCondition))
	}
	b := tc.Status.Backup
	t.Logf("backup %s of 1,000 ConfigMaps recorded %.1fs after it was configured: revision %d, %d bytes stored", b.LastBackup, time.Since(start).Seconds(), b.Revision, b.SizeBytes)

	// As the customer: the three objects are in the customer's container.
	customer, err := openstack.NewFromCloudsYAML(ctx, cloud.customerCloudsYAML(t), "openstack", openstack.Options{Services: []openstack.Service{openstack.ServiceObjectStore}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) []byte {
		rc, err := customer.ObjectStore.GetObject(ctx, container, b.LastBackup+"/"+name)
		if err != nil {
			t.Fatalf("download %s: %v", name, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	var m backup.Manifest
	if err := json.Unmarshal(get(backup.ManifestObject), &m); err != nil {
		t.Fatal(err)
	}
	// The admin's export of the key (docs/backups.md): a Secret of the manager's namespace.
	keySecret, err := clients.CoreV1().Secrets(controlplane.DefaultManagerNamespace).Get(ctx, tenantcluster.BackupKeySecretName(tc), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.KeyID != keySecret.Name {
		t.Errorf("manifest names key %q, the key is %q", m.KeyID, keySecret.Name)
	}
	r, err := backup.Open(bytes.NewReader(get(backup.SnapshotObject)), keySecret.Data["key"], backup.ObjectAAD(m.TenantUID, m.Name, backup.SnapshotObject))
	if err != nil {
		t.Fatal(err)
	}
	db, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("the snapshot does not open: %v", err)
	}
	if sum := sha256.Sum256(db[:len(db)-sha256.Size]); fmt.Sprintf("%x", sum) != m.SnapshotSHA256 || m.TenantUID != string(tc.UID) {
		t.Fatal("the snapshot's SHA-256 or tenant differs from the manifest's")
	}
	t.Logf("snapshot: %d bytes, %d stored (%.0f%%)", len(db), m.StoredBytes, 100*float64(m.StoredBytes)/float64(len(db)))

	// The keys a restore needs are the tenant's.
	kr, err := backup.Open(bytes.NewReader(get(backup.KeysObject)), keySecret.Data["key"], backup.ObjectAAD(m.TenantUID, m.Name, backup.KeysObject))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]map[string][]byte
	if err := json.NewDecoder(kr).Decode(&keys); err != nil {
		t.Fatal(err)
	}
	ca, err := clients.CoreV1().Secrets(controlplane.NamespaceOf(tc)).Get(ctx, controlplane.CASecret.Name(tc.Name), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(keys[ca.Name]["tls.key"], ca.Data["tls.key"]) || len(keys[controlplane.EncryptionConfigSecret.Name(tc.Name)]) == 0 {
		t.Error("the backup's keys are not the tenant's CA and encryption key")
	}

	// The admin's command gives the same snapshot and keys, from the real Swift.
	list := mustCLI(t, ctx, "backup", "list", tc.Name, "-n", tc.Namespace)
	if !strings.Contains(list, m.Name) {
		t.Errorf("kubeseed backup list does not show backup %s:\n%s", m.Name, list)
	}
	dir := filepath.Join(t.TempDir(), "download")
	mustCLI(t, ctx, "backup", "download", tc.Name, "-n", tc.Namespace, "--dir", dir)
	if got, err := os.ReadFile(filepath.Join(dir, "snapshot.db")); err != nil || !bytes.Equal(got, db) {
		t.Errorf("kubeseed backup download's snapshot.db differs from the backup's snapshot (%d bytes, %v)", len(got), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", ca.Name+".yaml")); err != nil {
		t.Errorf("kubeseed backup download wrote no key Secret %s: %v", ca.Name, err)
	}

	// Restored with etcdutl, as a restore does, into an etcd of our own.
	restored := restoreSnapshot(t, ctx, bin, db)
	defer restored.Close()
	cms, err := restored.Get(ctx, "/registry/configmaps/drill/cm-", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if cms.Count != count {
		t.Errorf("the restored etcd holds %d ConfigMaps of namespace drill, want %d", cms.Count, count)
	}
	sec, err := restored.Get(ctx, "/registry/secrets/drill/kept")
	if err != nil || len(sec.Kvs) != 1 {
		t.Fatalf("the restored etcd lacks Secret drill/kept: %v", err)
	}
	if !bytes.HasPrefix(sec.Kvs[0].Value, []byte("k8s:enc:")) || bytes.Contains(sec.Kvs[0].Value, []byte("s3cret")) {
		t.Error("the restored Secret is not encrypted at rest")
	}
	if rev := cms.Header.Revision; rev <= m.Revision+restoreRevisionBump-1 {
		t.Errorf("restored revision %d is not bumped above the backup's %d", rev, m.Revision)
	}

	testRestoreIntoANewTenant(t, ctx, tc, cfg, kept, m.Name, container, joining)
}

// testRestoreIntoANewTenant is the restore half of the drill (docs/backups.md#restoring-a-
// tenant): the tenant is deleted (its final backup taken), and a TenantCluster of the same
// name with spec.restore naming the backup of the 1,000 ConfigMaps comes up Ready with
// all of them and the Secret (which decrypts: the encryption key came back), its revision
// bumped above any the old tenant handed out, at the old address, the old admin kubeconfig
// working as it was, the worker that joined the old tenant (oldWorker, when one did) serving
// it, and a new worker joins it.
func testRestoreIntoANewTenant(t *testing.T, ctx context.Context, old *v1alpha1.TenantCluster, oldCfg *rest.Config, kept *corev1.Secret, name, container string, oldWorker *joiningWorker) {
	t.Helper()
	deleteTenant(t, old)
	tc := smallTenant(old.Namespace, old.Name)
	tc.Spec.Cloud = old.Spec.Cloud
	tc.Spec.Restore = &v1alpha1.RestoreSpec{Backup: name, Container: container}
	start := time.Now()
	if err := kube.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteTenant(t, tc) })
	waitTenantReady(t, ctx, tc)
	r := tc.Status.Restore
	if r == nil || r.Backup != name || r.TenantUID != string(old.UID) {
		t.Fatalf("status.restore %+v, want backup %s of tenant %s", r, name, old.UID)
	}
	t.Logf("restored from backup %s: etcd's data restored %.1fs after the TenantCluster was created, Ready after %.1fs",
		name, r.CompletedTime.Sub(tc.CreationTimestamp.Time).Seconds(), time.Since(start).Seconds())

	tenant := kubernetes.NewForConfigOrDie(tenantConfig(t, ctx, tc))
	cms, err := tenant.CoreV1().ConfigMaps("drill").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	drill := 0
	for _, cm := range cms.Items {
		if strings.HasPrefix(cm.Name, "cm-") {
			drill++
		}
	}
	if drill != 1000 {
		t.Errorf("the restored tenant has %d of the drill's ConfigMaps, want 1000", drill)
	}
	sec, err := tenant.CoreV1().Secrets("drill").Get(ctx, kept.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the restored tenant lacks Secret drill/%s: %v", kept.Name, err)
	}
	if string(sec.Data["password"]) != "s3cret" {
		t.Errorf("Secret drill/%s holds %q, want what was written", kept.Name, sec.Data["password"])
	}
	// An object keeps its resourceVersion (it did not change); the tenant's revision, what
	// a list or watch starts from, is bumped above any the old tenant handed out.
	var oldRV, listRV int64
	_, _ = fmt.Sscan(kept.ResourceVersion, &oldRV)
	_, _ = fmt.Sscan(cms.ResourceVersion, &listRV)
	if sec.ResourceVersion != kept.ResourceVersion {
		t.Errorf("Secret drill/%s has resourceVersion %s, was %s", kept.Name, sec.ResourceVersion, kept.ResourceVersion)
	}
	if listRV < oldRV+restoreRevisionBump {
		t.Errorf("the restored tenant lists at resourceVersion %d, not bumped above the old tenant's %d: a watch could go back in time", listRV, oldRV)
	}

	// The old admin kubeconfig as it was: the restored tenant asked for the old node port
	// (free again once the old tenant went), so the old address reaches it.
	if tc.Status.Endpoint != old.Status.Endpoint {
		t.Errorf("the restored tenant is at %s, not at the old tenant's address %s", tc.Status.Endpoint, old.Status.Endpoint)
	}
	cfg := rest.CopyConfig(oldCfg)
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().Get(ctx, "drill", metav1.GetOptions{}); err != nil {
		t.Errorf("the old admin kubeconfig does not work against the restored tenant: %v", err)
	}
	testNewWorkerJoinsRestoredTenant(t, ctx, tc, tenant)
	if oldWorker != nil {
		testOldWorkerServesRestoredTenant(t, ctx, tc, tenant, oldWorker.name)
		oldWorker.remove() // the in-place restore needs no worker
	}
	testRestoreInPlace(t, ctx, tc, cfg, container)
}

// restoreRevisionBump is what a restore adds to the revision, so that watchers never see
// it go back (etcd #16028).
const restoreRevisionBump = 1_000_000_000

// restoreSnapshot restores db with etcdutl into a new data directory, starts etcd on it on
// loopback, and returns a client.
func restoreSnapshot(t *testing.T, ctx context.Context, bin string, db []byte) *clientv3.Client {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "snapshot.db")
	if err := os.WriteFile(file, db, 0o600); err != nil {
		t.Fatal(err)
	}
	client, peer := freePort(t), freePort(t)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	data := filepath.Join(dir, "data")
	start := time.Now()
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "etcdutl"), "snapshot", "restore", file,
		"--data-dir", data, "--name", "drill", "--initial-cluster", "drill="+peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster-token", "drill-restored", "--bump-revision", fmt.Sprint(restoreRevisionBump), "--mark-compacted").CombinedOutput()
	if err != nil {
		t.Fatalf("etcdutl snapshot restore: %v\n%s", err, out)
	}
	t.Logf("etcdutl snapshot restore: %.1fs", time.Since(start).Seconds())
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "etcd"), "--data-dir", data, "--name", "drill",
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL, "--listen-peer-urls", peerURL,
		"--initial-cluster", "drill="+peerURL, "--initial-advertise-peer-urls", peerURL)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := cli.Status(sctx, clientURL)
		return err == nil, nil
	}); err != nil {
		t.Fatalf("the restored etcd does not serve:\n%s", logs.String())
	}
	return cli
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// retryCreate retries a create a few times while the tenant's apiserver is busy.
func retryCreate(ctx context.Context, create func(context.Context) error) error {
	var err error
	for range 5 {
		if err = create(ctx); err == nil {
			return nil
		}
		time.Sleep(time.Second)
	}
	return err
}
