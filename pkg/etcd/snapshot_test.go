package etcd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// TestBackupOfARealMember streams a snapshot of a real TLS etcd through backup.Run (into
// an in-memory Swift: none runs in this tier; e2e.TestEtcdBackupToSwift uses the test
// cloud's): etcd's SHA-256 trailer verifies, the revision covers every write, and the
// stored snapshot opens to a database of the size the manifest says.
func TestBackupOfARealMember(t *testing.T) {
	bin := etcdBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	m := &testMember{name: "etcd-0", client: freePort(t), peer: freePort(t), metrics: freePort(t)}
	if err := m.start(bin, dir, pki, m.name+"="+m.peerURL(), "new"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.stop(t) })
	cfg := etcd.Config{Endpoints: []string{m.clientURL()}, CA: pki.ca, Cert: pki.clientCert, Key: pki.clientKey}
	cli, err := etcd.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	waitUntil(t, ctx, "the member is ready", func() bool { return m.ready() })
	var rev int64
	for i := range 200 {
		resp, err := cli.KV().Put(ctx, fmt.Sprintf("/registry/configmaps/drill/cm-%03d", i), "value")
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}

	f := openstack.NewFake()
	key := bytes.Repeat([]byte{3}, backup.KeySize)
	res := backup.Run(ctx, backup.Job{Etcd: etcd.Snapshotter{Config: cfg}, Store: f, Container: "b", Prefix: "ns/acme/", Key: key, KeyID: "k", Keep: 1, TenantUID: "uid"})
	if res.Err != nil {
		t.Fatalf("backup of a real member: %v", res.Err)
	}
	mf := res.Manifest
	if mf.Revision < rev || mf.EtcdVersion == "" || mf.SnapshotBytes < 4096 {
		t.Errorf("manifest %+v, want revision >= %d", mf, rev)
	}
	rc, err := f.GetObject(ctx, "b", "ns/acme/"+mf.Name+"/"+backup.SnapshotObject)
	if err != nil {
		t.Fatal(err)
	}
	r, err := backup.Open(rc, key, backup.ObjectAAD(mf.TenantUID, mf.Name, backup.SnapshotObject))
	if err != nil {
		t.Fatal(err)
	}
	db, err := io.ReadAll(r)
	if err != nil || int64(len(db)) != mf.SnapshotBytes {
		t.Fatalf("stored snapshot opens to %d bytes (%v), manifest says %d", len(db), err, mf.SnapshotBytes)
	}
	// etcd's trailer is kept, as etcdutl snapshot restore checks it.
	if sum := sha256.Sum256(db[:len(db)-sha256.Size]); !bytes.Equal(sum[:], db[len(db)-sha256.Size:]) || fmt.Sprintf("%x", sum) != mf.SnapshotSHA256 {
		t.Error("the stored snapshot does not end in its database's SHA-256")
	}
	t.Logf("snapshot of 200 keys: %d bytes, %d stored, in %s", mf.SnapshotBytes, mf.StoredBytes, res.Duration)
}
