package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// A tenant's backup key is the Secret KeySecretName(tenant UID) in the manager's namespace,
// holding KeySize bytes in KeyField. The controller makes it; an admin reads it to decrypt.
const (
	// KeyLabel marks every backup key Secret, so an admin can export them all.
	KeyLabel = "kubeseed.io/backup-key"
	// KeyField is the key's field in its Secret.
	KeyField = "key"
	// KeyTenantAnnotation names the tenant, namespace/name; KeyTenantUIDAnnotation its
	// UID, which is what binds the key to the tenant (names are reused).
	KeyTenantAnnotation    = "kubeseed.io/tenant"
	KeyTenantUIDAnnotation = "kubeseed.io/tenant-uid"
	// KeyNamespaceUIDAnnotation is the UID of the tenant's namespace: a namespace deleted
	// and made again under the same name (for another customer) is not the same one.
	KeyNamespaceUIDAnnotation = "kubeseed.io/tenant-namespace-uid"
)

// DefaultContainer is the Swift container of spec.controlPlane.etcd.backup.container when
// it is not set.
const DefaultContainer = "kubeseed-backups"

// The operator-wide store, where tenants without spec.cloud keep their backups, is the
// Swift of the credentials Secret StoreSecretName in the manager's namespace (keys
// clouds.yaml, cloud and cacert, as a customer's; StoreContainerKey names its container,
// default DefaultContainer). The admin makes it; without it such tenants take no backup.
const (
	StoreSecretName   = "kubeseed-backup-store"
	StoreContainerKey = "container"
)

// KeySecretName names a tenant's backup key Secret: by UID, which no two tenants share.
func KeySecretName(tenantUID string) string { return "backup-key-" + tenantUID }

// maxManifest bounds a manifest read: it lives in the customer's container. The
// controller's are under 1 KiB.
const maxManifest = 16 << 10

// IsBackupName says whether name is one the controller gives a backup (the UTC time it
// started): anything else in the container was not written by kubeseed.
func IsBackupName(name string) bool {
	_, err := time.Parse(nameLayout, name)
	return err == nil
}

// ReadManifest reads and checks the manifest of backup name below prefix. It is the
// backup's claim until Manifest.Verify confirms it with the backup key (ReadKeys and
// ReadSnapshot verify it before they read).
func ReadManifest(ctx context.Context, store openstack.ObjectStore, container, prefix, name string) (Manifest, error) {
	obj := prefix + name + "/" + ManifestObject
	var m Manifest
	rc, err := store.GetObject(ctx, container, obj)
	if err != nil {
		return m, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifest+1))
	if err != nil {
		return m, fmt.Errorf("read %s: %w", obj, err)
	}
	if len(data) > maxManifest {
		return m, fmt.Errorf("%s is larger than %d bytes: not a manifest kubeseed wrote", obj, maxManifest)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s is not a backup manifest: %w", obj, err)
	}
	switch {
	case m.Format != FormatVersion && m.Format != unsignedFormat:
		return m, fmt.Errorf("%s has format %d; this kubeseed reads formats %d and %d", obj, m.Format, unsignedFormat, FormatVersion)
	case m.Name != name:
		return m, fmt.Errorf("%s names backup %q, not %q", obj, m.Name, name)
	case m.TenantUID == "":
		return m, fmt.Errorf("%s names no tenant UID", obj)
	}
	return m, nil
}

// ReadKeys downloads and decrypts the keys of the backup m describes, below prefix.
func ReadKeys(ctx context.Context, store openstack.ObjectStore, container, prefix string, m Manifest, key []byte) (map[string]map[string][]byte, error) {
	obj := prefix + m.Name + "/" + KeysObject
	r, closer, err := openObject(ctx, store, container, obj, m, KeysObject, key)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	var keys map[string]map[string][]byte
	if err := json.NewDecoder(r).Decode(&keys); err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", obj, err)
	}
	// Decode stops at the JSON's end: read on, so the stream's last chunk is authenticated.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", obj, err)
	}
	return keys, nil
}

// ReadSnapshot downloads and decrypts the snapshot of the backup m describes into w, the
// way etcdutl reads it (etcd's SHA-256 trailer kept), and verifies it: the trailer matches
// the database, and both the trailer and the size match the manifest. On an error, what w
// received is not a snapshot to use.
func ReadSnapshot(ctx context.Context, store openstack.ObjectStore, container, prefix string, m Manifest, key []byte, w io.Writer) (int64, error) {
	obj := prefix + m.Name + "/" + SnapshotObject
	r, closer, err := openObject(ctx, store, container, obj, m, SnapshotObject, key)
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	v := newVerifier(r)
	n, err := io.Copy(w, v)
	switch {
	case errors.Is(err, ErrSnapshotHash):
		return n, fmt.Errorf("%s: %w", obj, err)
	case err != nil:
		return n, fmt.Errorf("decrypt %s: %w", obj, err)
	case fmt.Sprintf("%x", v.Sum) != m.SnapshotSHA256:
		return n, fmt.Errorf("%s: the database's SHA-256 is %x, the manifest says %s", obj, v.Sum, m.SnapshotSHA256)
	case n != m.SnapshotBytes:
		return n, fmt.Errorf("%s: %d bytes, the manifest says %d", obj, n, m.SnapshotBytes)
	}
	return n, nil
}

// openObject opens an encrypted object of a backup; a wrong key fails here, naming obj.
func openObject(ctx context.Context, store openstack.ObjectStore, container, obj string, m Manifest, name string, key []byte) (io.Reader, io.Closer, error) {
	// An earlier kubeseed's unsigned manifest is not verified: its objects still open only
	// with the key and its sizes are checked against the stream, but a restore does not act
	// on it (Manifest.Signed).
	if m.Signed() {
		if err := m.Verify(key); err != nil {
			return nil, nil, fmt.Errorf("backup %s: %w", m.Name, err)
		}
	}
	rc, err := store.GetObject(ctx, container, obj)
	if err != nil {
		return nil, nil, err
	}
	r, err := Open(rc, key, ObjectAAD(m.TenantUID, m.Name, name))
	if err != nil {
		_ = rc.Close()
		return nil, nil, fmt.Errorf("decrypt %s: %w", obj, err)
	}
	return r, rc, nil
}
