package backup

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// Object names below a backup's prefix <namespace>/<name>/<backup>/.
const (
	ManifestObject = "manifest.json"
	SnapshotObject = "snapshot.enc"
	KeysObject     = "keys.enc"
	// FormatVersion is the manifest's format. Format 2 added the MAC; format 1 manifests
	// (unsignedFormat) are read for an admin's download, never acted on by a restore.
	FormatVersion  = 2
	unsignedFormat = 1
	// nameLayout names a backup by the time it started, so names sort by age.
	nameLayout = "20060102T150405Z"
)

// Manifest describes one backup. It is written last and in the clear (it holds no secret):
// a backup without one is incomplete and is pruned.
type Manifest struct {
	Format int `json:"format"`
	// Tenant is the TenantCluster the backup was taken of, namespace/name, and its UID.
	Tenant    string    `json:"tenant"`
	TenantUID string    `json:"tenantUID"`
	Name      string    `json:"name"`
	Time      time.Time `json:"time"`
	// Revision is the etcd revision the snapshot holds at least; EtcdVersion the server's.
	Revision          int64  `json:"revision"`
	EtcdVersion       string `json:"etcdVersion"`
	KubernetesVersion string `json:"kubernetesVersion"`
	// SnapshotSHA256 is the SHA-256 of the database (verified against etcd's trailer, which
	// the stored snapshot keeps at its end, as etcdutl expects); SnapshotBytes the size of
	// the snapshot, trailer included; StoredBytes the encrypted object's.
	SnapshotSHA256 string `json:"snapshotSHA256"`
	SnapshotBytes  int64  `json:"snapshotBytes"`
	StoredBytes    int64  `json:"storedBytes"`
	// KeyID names the backup key (a Secret of the manager's namespace) both objects are
	// encrypted with.
	KeyID string `json:"keyID"`
	// Encryption and Compression say how snapshot.enc and keys.enc are made.
	Encryption  string `json:"encryption"`
	Compression string `json:"compression"`
	// Endpoint is where the tenant's kube-apiserver was published; absent in backups of
	// earlier kubeseed releases (the MAC covers it only when present).
	Endpoint *Endpoint `json:"endpoint,omitempty"`
	// MAC authenticates the rest with the backup key (Sign, Verify): the manifest lies in
	// the customer's container, and a restore sizes and checks what it does by it.
	MAC string `json:"mac"`
}

// Endpoint is the tenant's published address when a backup was taken: a tenant made again
// from the backup asks for the same node ports, so that kubeconfigs and workers that
// dialled the old address reach it.
type Endpoint struct {
	URL string `json:"url,omitempty"`
	// Seed identifies the seed (the UID of its kube-system namespace): node ports are
	// asked for again only on the seed that gave them, whose node-port range they are in.
	Seed string `json:"seed,omitempty"`
	// NodePort and TunnelNodePort are the seed's node ports of the kube-apiserver Service's
	// apiserver and tunnel ports; 0 when it had none.
	NodePort       int32 `json:"nodePort,omitempty"`
	TunnelNodePort int32 `json:"tunnelNodePort,omitempty"`
}

// Snapshotter streams a snapshot of a tenant's etcd (*etcd.Conn).
type Snapshotter interface {
	Snapshot(ctx context.Context) (io.ReadCloser, etcd.SnapshotInfo, error)
}

// Job is one backup to take.
type Job struct {
	Etcd      Snapshotter
	Store     openstack.ObjectStore
	Container string
	// Prefix is <namespace>/<name>/: the tenant's backups live below it.
	Prefix string
	// Key encrypts; KeyID names it in the manifest.
	Key   []byte
	KeyID string
	// Keys are the Secrets a restore needs, by name: their data is stored encrypted.
	Keys map[string]map[string][]byte
	// Tenant, TenantUID, KubernetesVersion and Endpoint go into the manifest.
	Tenant, TenantUID, KubernetesVersion string
	Endpoint                             *Endpoint
	// Generation is the owner's generation when the backup was asked for, handed back in
	// Result.
	Generation int64
	// Keep is how many complete backups to keep; DeleteAfter, when set, has Swift expire
	// the backup's objects this long after it started.
	Keep        int
	DeleteAfter time.Duration
	// Protect names backups Prune never deletes: one a restore is reading.
	Protect []string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Result is what one Run did.
type Result struct {
	Manifest Manifest
	// Generation is the Job's.
	Generation int64
	// Started and Duration time the whole backup.
	Started  time.Time
	Duration time.Duration
	// Pruned are the backups deleted after this one was written.
	Pruned []string
	// PruneErr is a failure to prune, which does not fail the backup.
	PruneErr error
	Err      error
}

// Run takes one backup: snapshot → verify → gzip → encrypt → Swift, then the keys, then
// the manifest, then prunes. ctx bounds all of it.
func Run(ctx context.Context, job Job) Result {
	now := time.Now
	if job.Now != nil {
		now = job.Now
	}
	res := Result{Started: now(), Generation: job.Generation}
	m, err := write(ctx, job, res.Started)
	res.Manifest, res.Err = m, err
	if err == nil {
		res.Pruned, res.PruneErr = Prune(ctx, job.Store, job.Container, job.Prefix, job.Keep, m.Name, job.Protect...)
	}
	res.Duration = now().Sub(res.Started)
	return res
}

func write(ctx context.Context, job Job, started time.Time) (Manifest, error) {
	m := Manifest{
		Format: FormatVersion, Tenant: strings.TrimSuffix(job.Prefix, "/"), TenantUID: job.TenantUID,
		Name: started.UTC().Format(nameLayout), Time: started.UTC(), KubernetesVersion: job.KubernetesVersion,
		KeyID: job.KeyID, Encryption: "AES-256-GCM STREAM, 64 KiB chunks", Compression: "gzip",
		Endpoint: job.Endpoint,
	}
	if job.Tenant != "" {
		m.Tenant = job.Tenant
	}
	dir := job.Prefix + m.Name + "/"
	// One expiry for the whole backup, so Swift never keeps a manifest without its snapshot.
	put := openstack.PutOptions{}
	if job.DeleteAfter > 0 {
		put.DeleteAt = started.Add(job.DeleteAfter)
	}
	if err := job.Store.EnsureContainer(ctx, job.Container); err != nil {
		return m, err
	}

	rc, info, err := job.Etcd.Snapshot(ctx)
	if err != nil {
		return m, fmt.Errorf("snapshot etcd: %w", err)
	}
	defer rc.Close()
	m.Revision, m.EtcdVersion = info.Revision, info.Version
	v := newVerifier(rc)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(seal(pw, v, job.Key, ObjectAAD(m.TenantUID, m.Name, SnapshotObject))) }()
	stored, err := job.Store.PutObject(ctx, job.Container, dir+SnapshotObject, pr, put)
	_ = pr.CloseWithError(errors.New("upload ended")) // unblocks the sealer if the put gave up
	if err != nil {
		return m, fmt.Errorf("store snapshot: %w", err)
	}
	if v.Sum == nil {
		return m, fmt.Errorf("store snapshot: %w", ErrSnapshotHash)
	}
	m.SnapshotSHA256, m.SnapshotBytes, m.StoredBytes = fmt.Sprintf("%x", v.Sum), v.n, stored

	keys, err := json.Marshal(job.Keys)
	if err != nil {
		return m, fmt.Errorf("encode keys: %w", err)
	}
	var sealed bytes.Buffer
	if err := seal(&sealed, bytes.NewReader(keys), job.Key, ObjectAAD(m.TenantUID, m.Name, KeysObject)); err != nil {
		return m, fmt.Errorf("encrypt keys: %w", err)
	}
	if _, err := job.Store.PutObject(ctx, job.Container, dir+KeysObject, &sealed, put); err != nil {
		return m, fmt.Errorf("store keys: %w", err)
	}
	if err := m.Sign(job.Key); err != nil {
		return m, err
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	put.ContentType = "application/json"
	if _, err := job.Store.PutObject(ctx, job.Container, dir+ManifestObject, bytes.NewReader(body), put); err != nil {
		return m, fmt.Errorf("store manifest: %w", err)
	}
	return m, nil
}

// seal gzips and encrypts r into w.
func seal(w io.Writer, r io.Reader, key, aad []byte) error {
	ew, err := NewEncryptWriter(w, key, aad)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(ew, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, r); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return ew.Close()
}

// Open decrypts and decompresses an object of a backup: aad is ObjectAAD of the manifest's
// tenant UID and name, and the object's name.
func Open(r io.Reader, key, aad []byte) (io.Reader, error) {
	dr, err := NewDecryptReader(r, key, aad)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(dr)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return nil, err // the first chunk did not decrypt: said once
		}
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return zr, nil
}

// Backup is one backup found in the container.
type Backup struct {
	// Name is the backup's time, e.g. 20261206T041500Z; Complete says a manifest exists.
	Name     string
	Complete bool
	objects  []string
}

// MaxObjects bounds a listing of one tenant's backups: the container is the customer's,
// and the manager's memory every customer's.
const MaxObjects = 10000

// List gives the tenant's backups below prefix, oldest first.
func List(ctx context.Context, store openstack.ObjectStore, container, prefix string) ([]Backup, error) {
	objs, err := store.ListObjects(ctx, container, prefix, MaxObjects+1)
	if err != nil {
		return nil, err
	}
	if len(objs) > MaxObjects {
		return nil, fmt.Errorf("more than %d objects below %s/%s: remove what kubeseed did not write there", MaxObjects, container, prefix)
	}
	byName := map[string]*Backup{}
	for _, o := range objs {
		name, file, ok := strings.Cut(strings.TrimPrefix(o.Name, prefix), "/")
		if !ok || strings.Contains(file, "/") {
			continue // not ours
		}
		b := byName[name]
		if b == nil {
			b = &Backup{Name: name}
			byName[name] = b
		}
		b.objects = append(b.objects, o.Name)
		if file == ManifestObject {
			b.Complete = true
		}
	}
	out := make([]Backup, 0, len(byName))
	for _, b := range byName {
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Prune keeps the newest keep complete backups and deletes the rest, and incomplete backups
// older than current (the one just written; a younger incomplete one may be in progress
// elsewhere), but never a protected one. It returns the deleted backups' names.
func Prune(ctx context.Context, store openstack.ObjectStore, container, prefix string, keep int, current string, protected ...string) ([]string, error) {
	all, err := List(ctx, store, container, prefix)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	complete := 0
	var gone []string
	for i := len(all) - 1; i >= 0; i-- {
		b := all[i]
		drop := false
		switch {
		case b.Complete:
			complete++
			drop = complete > keep
		default:
			drop = b.Name < current
		}
		if !drop || slices.Contains(protected, b.Name) {
			continue
		}
		// The manifest goes first: a backup half deleted is incomplete, never half there.
		sort.Slice(b.objects, func(i, j int) bool {
			return path.Base(b.objects[i]) == ManifestObject && path.Base(b.objects[j]) != ManifestObject
		})
		for _, o := range b.objects {
			if err := store.DeleteObject(ctx, container, o); err != nil {
				return gone, fmt.Errorf("delete backup %s: %w", b.Name, err)
			}
		}
		gone = append(gone, b.Name)
	}
	return gone, nil
}
