package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

var key = bytes.Repeat([]byte{1}, backup.KeySize)

var aad = backup.ObjectAAD("uid-1", "20261206T040000Z", backup.SnapshotObject)

func seal(t *testing.T, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := backup.NewEncryptWriter(&buf, key, aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func unseal(sealed, k []byte) ([]byte, error) {
	return unsealFor(sealed, k, aad)
}

func unsealFor(sealed, k, aad []byte) ([]byte, error) {
	r, err := backup.NewDecryptReader(bytes.NewReader(sealed), k, aad)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestEncryptionRoundTripsAndRefusesTampering(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16*3+5) // three chunks and a bit
	for _, tc := range []struct {
		name  string
		plain []byte
	}{
		{"empty", nil},
		{"short", []byte("hello")},
		{"exactly one chunk", bytes.Repeat([]byte{9}, 64<<10)},
		{"several chunks", big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed := seal(t, tc.plain)
			got, err := unseal(sealed, key)
			if err != nil || !bytes.Equal(got, tc.plain) {
				t.Fatalf("round trip: %v (len %d, want %d)", err, len(got), len(tc.plain))
			}
			if len(tc.plain) > 0 && bytes.Contains(sealed, tc.plain) {
				t.Error("plaintext visible in the sealed stream")
			}
		})
	}
	sealed := seal(t, big)
	for _, bad := range []struct {
		name string
		data []byte
		key  []byte
	}{
		{"wrong key", sealed, bytes.Repeat([]byte{2}, backup.KeySize)},
		{"flipped bit", flip(sealed, len(sealed)/2), key},
		{"cut at a chunk boundary", sealed[:len(sealed)-(len(big)%(64<<10))-16-5], key},
		{"cut in a chunk", sealed[:len(sealed)-7], key},
		{"trailing garbage", append(append([]byte{}, sealed...), 0), key},
		{"no header", []byte("nope"), key},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if _, err := unseal(bad.data, bad.key); !errors.Is(err, backup.ErrCorrupt) {
				t.Errorf("got %v, want ErrCorrupt", err)
			}
		})
	}
	for _, other := range [][]byte{
		backup.ObjectAAD("uid-2", "20261206T040000Z", backup.SnapshotObject),
		backup.ObjectAAD("uid-1", "20261206T050000Z", backup.SnapshotObject),
		backup.ObjectAAD("uid-1", "20261206T040000Z", backup.KeysObject),
	} {
		if _, err := unsealFor(sealed, key, other); !errors.Is(err, backup.ErrCorrupt) {
			t.Errorf("opens as %q: %v", other, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte{}, b...)
	out[i] ^= 0x10
	return out
}

// snap streams db with etcd's trailer, or a wrong one.
type snap struct {
	db      []byte
	badHash bool
	rev     int64
}

func (s snap) Snapshot(context.Context) (io.ReadCloser, etcd.SnapshotInfo, error) {
	sum := sha256.Sum256(s.db)
	if s.badHash {
		sum[0] ^= 1
	}
	return io.NopCloser(bytes.NewReader(append(append([]byte{}, s.db...), sum[:]...))), etcd.SnapshotInfo{Revision: s.rev, Version: "3.6.16"}, nil
}

func job(store openstack.ObjectStore, s backup.Snapshotter, at time.Time) backup.Job {
	return backup.Job{
		Etcd: s, Store: store, Container: "b", Prefix: "ns/acme/", Key: key, KeyID: "backup-key-ns-acme",
		Keys: map[string]map[string][]byte{"acme-ca": {"tls.key": []byte("secret")}}, Tenant: "ns/acme", TenantUID: "uid-1",
		KubernetesVersion: "v1.36.3", Keep: 2, Now: func() time.Time { return at },
	}
}

func TestRunWritesAVerifiedBackupAndPrunes(t *testing.T) {
	ctx := context.Background()
	f := openstack.NewFake()
	db := bytes.Repeat([]byte("page"), 100000)
	t0 := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	var names []string
	for i := range 3 {
		res := backup.Run(ctx, job(f, snap{db: db, rev: int64(100 + i)}, t0.Add(time.Duration(i)*time.Hour)))
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		names = append(names, res.Manifest.Name)
		m := res.Manifest
		if m.Revision != int64(100+i) || m.SnapshotBytes != int64(len(db)+sha256.Size) || m.StoredBytes == 0 || m.StoredBytes >= int64(len(db)) {
			t.Errorf("manifest %+v", m)
		}
	}
	if names[0] != "20261206T040000Z" {
		t.Errorf("backup name %s", names[0])
	}
	all, err := backup.List(ctx, f, "b", "ns/acme/")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != names[1] || all[1].Name != names[2] || !all[0].Complete {
		t.Errorf("kept %+v, want the newest 2 of %v", all, names)
	}
	rc, err := f.GetObject(ctx, "b", "ns/acme/"+names[2]+"/"+backup.SnapshotObject)
	if err != nil {
		t.Fatal(err)
	}
	r, err := backup.Open(rc, key, backup.ObjectAAD("uid-1", names[2], backup.SnapshotObject))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	sum := sha256.Sum256(db)
	if err != nil || !bytes.Equal(got, append(append([]byte{}, db...), sum[:]...)) {
		t.Fatalf("snapshot reads back %d bytes, %v; want the database and its trailer", len(got), err)
	}
	mrc, _ := f.GetObject(ctx, "b", "ns/acme/"+names[2]+"/"+backup.ManifestObject)
	var m backup.Manifest
	if err := json.NewDecoder(mrc).Decode(&m); err != nil || m.KeyID != "backup-key-ns-acme" || m.KubernetesVersion != "v1.36.3" {
		t.Errorf("stored manifest %+v, %v", m, err)
	}
}

func TestRunRefusesASnapshotThatFailsItsHash(t *testing.T) {
	ctx := context.Background()
	f := openstack.NewFake()
	res := backup.Run(ctx, job(f, snap{db: []byte("data"), badHash: true}, time.Now()))
	if !errors.Is(res.Err, backup.ErrSnapshotHash) {
		t.Fatalf("got %v, want ErrSnapshotHash", res.Err)
	}
	all, _ := backup.List(ctx, f, "b", "ns/acme/")
	for _, b := range all {
		if b.Complete {
			t.Errorf("a backup of a damaged snapshot is complete: %+v", b)
		}
	}
}

func TestRunFailsWhenTheStoreFails(t *testing.T) {
	ctx := context.Background()
	f := openstack.NewFake()
	f.Inject("PutObject", openstack.NewError(openstack.ErrTransient, "Swift is down"), 0)
	res := backup.Run(ctx, job(f, snap{db: []byte("data")}, time.Now()))
	if res.Err == nil || !strings.Contains(res.Err.Error(), "Swift is down") {
		t.Fatalf("got %v", res.Err)
	}
}

func TestPruneDropsIncompleteOlderBackups(t *testing.T) {
	ctx := context.Background()
	f := openstack.NewFake()
	_ = f.EnsureContainer(ctx, "b")
	put := func(name string) {
		if _, err := f.PutObject(ctx, "b", name, strings.NewReader("x"), openstack.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("ns/acme/20260101T000000Z/snapshot.enc") // incomplete, older
	put("ns/acme/20260102T000000Z/snapshot.enc")
	put("ns/acme/20260102T000000Z/manifest.json")
	put("ns/acme/20260104T000000Z/snapshot.enc")   // incomplete, newer: in progress elsewhere
	put("ns/acmex/20260101T000000Z/manifest.json") // another tenant
	gone, err := backup.Prune(ctx, f, "b", "ns/acme/", 5, "20260102T000000Z")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gone, ",") != "20260101T000000Z" {
		t.Errorf("pruned %v", gone)
	}
	left, _ := f.ListObjects(ctx, "b", "", 100)
	if len(left) != 4 {
		t.Errorf("left %v", left)
	}
}

// TestPruneSparesAProtectedBackup: the backup a restore reads is never pruned, however old.
func TestPruneSparesAProtectedBackup(t *testing.T) {
	ctx := context.Background()
	f := openstack.NewFake()
	_ = f.EnsureContainer(ctx, "b")
	for _, name := range []string{"20260101T000000Z", "20260102T000000Z", "20260103T000000Z"} {
		for _, o := range []string{"snapshot.enc", "manifest.json"} {
			if _, err := f.PutObject(ctx, "b", "ns/acme/"+name+"/"+o, strings.NewReader("x"), openstack.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	gone, err := backup.Prune(ctx, f, "b", "ns/acme/", 1, "20260103T000000Z", "20260101T000000Z")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gone, ",") != "20260102T000000Z" {
		t.Errorf("pruned %v, want the unprotected older backup only", gone)
	}
}
