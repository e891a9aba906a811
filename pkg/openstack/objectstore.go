package openstack

import (
	"context"
	"crypto/md5" //nolint:gosec // Swift's ETag is an MD5: it checks transfer, not authenticity
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// ObjectStore is what kubeseed needs from Swift: etcd backups of a tenant, in a container of
// the customer's project.
type ObjectStore interface {
	// EnsureContainer creates the container when it does not exist (Swift's PUT is
	// idempotent).
	EnsureContainer(ctx context.Context, container string) error
	// PutObject streams body into container/name. The object exists only once the whole
	// body is stored and Swift's checksum of it matches the one computed while sending;
	// it returns the stored size.
	PutObject(ctx context.Context, container, name string, body io.Reader, opts PutOptions) (int64, error)
	// GetObject opens container/name for reading; the caller closes it.
	GetObject(ctx context.Context, container, name string) (io.ReadCloser, error)
	// ListObjects lists the objects whose names start with prefix, in name order, at most
	// limit of them.
	ListObjects(ctx context.Context, container, prefix string, limit int) ([]ObjectInfo, error)
	// DeleteObject deletes container/name; a missing object is no error.
	DeleteObject(ctx context.Context, container, name string) error
}

// PutOptions tune PutObject.
type PutOptions struct {
	// DeleteAt has Swift delete the object at that time; zero keeps it.
	DeleteAt time.Time
	// ContentType of the object; application/octet-stream when empty.
	ContentType string
}

// ObjectInfo is one object of a listing.
type ObjectInfo struct {
	Name  string
	Bytes int64
}

// ServiceObjectStore is Swift. It is optional in the default set of services: a cloud
// without it gets clients without an ObjectStore.
const ServiceObjectStore Service = "object-store"

// TransferTimeout bounds one object transfer, body included, in place of
// DefaultRequestTimeout: a snapshot of a large etcd takes minutes to stream.
const TransferTimeout = 15 * time.Minute

type objectStore struct {
	s  *session
	sc *gophercloud.ServiceClient
}

func (o *objectStore) EnsureContainer(ctx context.Context, container string) error {
	_, err := containers.Create(ctx, o.sc, container, containers.CreateOpts{}).Extract()
	return o.s.wrap(err, "create container %s", container)
}

// md5Reader hashes what the HTTP client reads, to compare with the ETag Swift answers.
type md5Reader struct {
	r io.Reader
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (m *md5Reader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.h.Write(p[:n]) //nolint:errcheck // a hash never fails
	m.n += int64(n)
	return n, err
}

func (o *objectStore) PutObject(ctx context.Context, container, name string, body io.Reader, opts PutOptions) (int64, error) {
	ctx = WithRequestTimeout(ctx, TransferTimeout)
	sent := &md5Reader{r: body, h: md5.New()} //nolint:gosec // see the import
	co := objects.CreateOpts{Content: sent, NoETag: true, ContentType: opts.ContentType}
	if co.ContentType == "" {
		co.ContentType = "application/octet-stream"
	}
	if !opts.DeleteAt.IsZero() {
		co.DeleteAt = opts.DeleteAt.Unix()
	}
	h, err := objects.Create(ctx, o.sc, container, name, co).Extract()
	if err != nil {
		return 0, o.s.wrap(err, "put object %s/%s", container, name)
	}
	// A retried request whose body was already read in part stores something else: the
	// checksum tells, and a failed put is retried whole by the caller.
	if want := hex.EncodeToString(sent.h.Sum(nil)); !strings.EqualFold(strings.Trim(h.ETag, `"`), want) {
		return 0, fmt.Errorf("put object %s/%s: Swift stored a body with checksum %s, %s was sent: %w", container, name, CleanMessage(h.ETag, 64), want, ErrTransient)
	}
	return sent.n, nil
}

func (o *objectStore) GetObject(ctx context.Context, container, name string) (io.ReadCloser, error) {
	ctx = WithRequestTimeout(ctx, TransferTimeout)
	ctx = withResponseLimit(ctx, -1)
	res := objects.Download(ctx, o.sc, container, name, objects.DownloadOpts{})
	if res.Err != nil {
		return nil, o.s.wrap(res.Err, "get object %s/%s", container, name)
	}
	return res.Body, nil
}

func (o *objectStore) ListObjects(ctx context.Context, container, prefix string, limit int) ([]ObjectInfo, error) {
	var out []ObjectInfo
	err := objects.List(o.sc, container, objects.ListOpts{Prefix: prefix, Limit: min(limit, 1000)}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		objs, err := objects.ExtractInfo(p)
		if err != nil {
			return false, err
		}
		for _, obj := range objs {
			out = append(out, ObjectInfo{Name: obj.Name, Bytes: obj.Bytes})
		}
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, o.s.wrap(err, "list objects %s/%s*", container, prefix)
	}
	return out, nil
}

func (o *objectStore) DeleteObject(ctx context.Context, container, name string) error {
	_, err := objects.Delete(ctx, o.sc, container, name, nil).Extract()
	if err = o.s.classify(err); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete object %s/%s: %w", container, name, err)
	}
	return nil
}
