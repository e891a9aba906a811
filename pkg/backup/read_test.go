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
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// TestReadConfirmsTheManifest: what Run wrote reads back, and a manifest that claims what
// the encrypted objects do not confirm is refused, naming the object.
func TestReadConfirmsTheManifest(t *testing.T) {
	db := bytes.Repeat([]byte("page"), 50000)
	sum := sha256.Sum256(db)
	for _, tc := range []struct {
		name string
		// edit changes the stored manifest (signed again with the key when resign: a
		// writer holding the key that lied); raw replaces it.
		edit    func(m *backup.Manifest)
		resign  bool
		raw     string
		readErr string // from ReadManifest
		snapErr string // from ReadSnapshot
		keysErr string // from ReadKeys
	}{
		{name: "as written"},
		{name: "another format", edit: func(m *backup.Manifest) { m.Format = 3 }, readErr: "has format 3; this kubeseed reads formats 1 and 2"},
		// An earlier kubeseed's backup still opens with its key, for an admin's download.
		{name: "format 1, unsigned", edit: func(m *backup.Manifest) { m.Format, m.MAC = 1, "" }},
		{name: "another backup's name", edit: func(m *backup.Manifest) { m.Name = "20250101T000000Z" }, readErr: `names backup "20250101T000000Z"`},
		{name: "not JSON", raw: "<html>", readErr: "manifest.json is not a backup manifest"},
		{name: "too large", raw: strings.Repeat(" ", 16<<10+1), readErr: "is larger than 16384 bytes"},
		{
			name: "another tenant's UID, signed", edit: func(m *backup.Manifest) { m.TenantUID = "uid-2" }, resign: true,
			snapErr: "decrypt ns/acme/20261206T040000Z/snapshot.enc: " + backup.ErrCorrupt.Error(),
			keysErr: "decrypt ns/acme/20261206T040000Z/keys.enc: " + backup.ErrCorrupt.Error(),
		},
		{name: "another SHA-256, signed", edit: func(m *backup.Manifest) { m.SnapshotSHA256 = strings.Repeat("0", 64) }, resign: true, snapErr: "snapshot.enc: the database's SHA-256 is "},
		{name: "another size, signed", edit: func(m *backup.Manifest) { m.SnapshotBytes++ }, resign: true, snapErr: "snapshot.enc: 200032 bytes, the manifest says 200033"},
		// The customer can write the manifest but not sign it.
		{name: "a larger size", edit: func(m *backup.Manifest) { m.SnapshotBytes = 1 << 40 }, snapErr: backup.ErrManifestMAC.Error(), keysErr: backup.ErrManifestMAC.Error()},
		{name: "an older Kubernetes", edit: func(m *backup.Manifest) { m.KubernetesVersion = "v1.30.0" }, snapErr: backup.ErrManifestMAC.Error(), keysErr: backup.ErrManifestMAC.Error()},
		{name: "no MAC", edit: func(m *backup.Manifest) { m.MAC = "" }, snapErr: backup.ErrManifestMAC.Error(), keysErr: backup.ErrManifestMAC.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := openstack.NewFake()
			res := backup.Run(ctx, job(f, snap{db: db, rev: 7}, time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)))
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			obj := "ns/acme/" + res.Manifest.Name + "/" + backup.ManifestObject
			if tc.edit != nil || tc.raw != "" {
				m := res.Manifest
				raw := []byte(tc.raw)
				if tc.edit != nil {
					tc.edit(&m)
					if tc.resign {
						if err := m.Sign(key); err != nil {
							t.Fatal(err)
						}
					}
					raw, _ = json.Marshal(m)
				}
				if _, err := f.PutObject(ctx, "b", obj, bytes.NewReader(raw), openstack.PutOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			m, err := backup.ReadManifest(ctx, f, "b", "ns/acme/", res.Manifest.Name)
			if !matches(err, tc.readErr) {
				t.Fatalf("ReadManifest: %v, want %q", err, tc.readErr)
			}
			if err != nil {
				return
			}
			var out bytes.Buffer
			n, err := backup.ReadSnapshot(ctx, f, "b", "ns/acme/", m, key, &out)
			if !matches(err, tc.snapErr) {
				t.Errorf("ReadSnapshot: %v, want %q", err, tc.snapErr)
			}
			if err == nil && (n != int64(out.Len()) || !bytes.Equal(out.Bytes(), append(append([]byte{}, db...), sum[:]...))) {
				t.Errorf("ReadSnapshot gave %d bytes (%d said), not the database and its trailer", out.Len(), n)
			}
			keys, err := backup.ReadKeys(ctx, f, "b", "ns/acme/", m, key)
			if !matches(err, tc.keysErr) {
				t.Errorf("ReadKeys: %v, want %q", err, tc.keysErr)
			}
			if err == nil && string(keys["acme-ca"]["tls.key"]) != "secret" {
				t.Errorf("keys %v", keys)
			}
		})
	}
}

// matches says err is nil when want is empty, else that it contains want.
func matches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

func TestOpenSaysAWrongKeyOnce(t *testing.T) {
	var buf bytes.Buffer
	w, _ := backup.NewEncryptWriter(&buf, key, aad)
	_, _ = io.WriteString(w, "not even gzip")
	_ = w.Close()
	_, err := backup.Open(&buf, bytes.Repeat([]byte{2}, backup.KeySize), aad)
	if !errors.Is(err, backup.ErrCorrupt) || strings.Count(err.Error(), "wrong key") != 1 {
		t.Errorf("got %v", err)
	}
}
