package openstack

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gcos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
)

// TestIntegrationSwift checks object storage as the customer, against the cloud the
// integration test uses (KUBESEED_OPENSTACK_CLOUDS, cloud "customer"): the catalog's
// object-store endpoint is the customer project's account, and the customer's role lets it
// create a container, put an object that expires (X-Delete-After), read it back with its
// expiry, list it and delete both. The test cloud's Swift: docs/test-cloud.md, section Swift.
func TestIntegrationSwift(t *testing.T) {
	path := os.Getenv(cloudsEnv)
	if path == "" {
		t.Skipf("%s is not set: no real cloud to test against (set it to a clouds.yaml with a cloud \"customer\")", cloudsEnv)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", cloudsEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg, err := ParseCloudsYAML(data, "customer")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := Authenticate(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := gcos.NewObjectStorageV1(pc, gophercloud.EndpointOpts{Region: cfg.Region(), Availability: cfg.Availability()})
	if err != nil {
		t.Fatalf("object-store endpoint: %v", err)
	}
	t.Logf("object-store endpoint %s", sc.Endpoint)
	// The test cloud's openstack.env names the customer project: the endpoint is its account.
	if project := os.Getenv("KUBESEED_OPENSTACK_CUSTOMER_PROJECT"); project != "" && !strings.Contains(sc.Endpoint, "/AUTH_"+project) {
		t.Errorf("object-store endpoint %s is not the account AUTH_%s of the customer project", sc.Endpoint, project)
	}

	uid := randomUID(t)
	container := "kubeseed-it-" + uid[:8]
	const object = "dir/hello.txt"
	body := "hello from kubeseed " + uid
	notFound := func(err error) bool { return gophercloud.ResponseCodeIs(err, http.StatusNotFound) }
	cleanup := func(what string, del func(context.Context) error) {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := del(ctx); err != nil && !notFound(err) {
				t.Errorf("delete %s: %v", what, err)
			}
		})
	}

	if err := containers.Create(ctx, sc, container, containers.CreateOpts{Metadata: map[string]string{"Kubeseed-Test": uid}}).Err; err != nil {
		t.Fatalf("create container %s: %v", container, err)
	}
	cleanup("container "+container, func(ctx context.Context) error { return containers.Delete(ctx, sc, container).Err })

	const deleteAfter = time.Hour
	put := time.Now()
	if err := objects.Create(ctx, sc, container, object, objects.CreateOpts{
		Content:     strings.NewReader(body),
		ContentType: "text/plain",
		DeleteAfter: int64(deleteAfter / time.Second),
	}).Err; err != nil {
		t.Fatalf("put object %s/%s: %v", container, object, err)
	}
	cleanup("object "+container+"/"+object, func(ctx context.Context) error {
		return objects.Delete(ctx, sc, container, object, nil).Err
	})

	// Read back: the content, and the expiry Swift computed from X-Delete-After (within a
	// few minutes of ours: the cloud's clock may differ a little from this machine's).
	dl := objects.Download(ctx, sc, container, object, nil)
	got, err := dl.ExtractContent()
	if err != nil {
		t.Fatalf("get object %s/%s: %v", container, object, err)
	}
	if string(got) != body {
		t.Errorf("object %s/%s holds %q, want %q", container, object, got, body)
	}
	hdr, err := objects.Get(ctx, sc, container, object, nil).Extract()
	if err != nil {
		t.Fatalf("head object %s/%s: %v", container, object, err)
	}
	if want := put.Add(deleteAfter); hdr.DeleteAt.IsZero() || hdr.DeleteAt.Sub(want).Abs() > 5*time.Minute {
		t.Errorf("object %s/%s: X-Delete-At %v, want about %v (X-Delete-After %v)", container, object, hdr.DeleteAt, want, deleteAfter)
	}
	if hdr.ContentLength != int64(len(body)) || hdr.ContentType != "text/plain" {
		t.Errorf("object %s/%s: Content-Length %d, Content-Type %q; want %d, text/plain", container, object, hdr.ContentLength, hdr.ContentType, len(body))
	}

	// List: the one object, with its size; the container among the account's.
	pages, err := objects.List(sc, container, objects.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list container %s: %v", container, err)
	}
	list, err := objects.ExtractInfo(pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != object || list[0].Bytes != int64(len(body)) {
		t.Errorf("container %s lists %+v, want one object %s of %d bytes", container, list, object, len(body))
	}
	cpages, err := containers.List(sc, containers.ListOpts{Prefix: container}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	names, err := containers.ExtractNames(cpages)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != container {
		t.Errorf("the account lists containers %q with prefix %s, want [%s]", names, container, container)
	}
	meta, err := containers.Get(ctx, sc, container, nil).ExtractMetadata()
	if err != nil {
		t.Fatalf("head container %s: %v", container, err)
	}
	if meta["Kubeseed-Test"] != uid {
		t.Errorf("container %s: metadata %v, want Kubeseed-Test: %s", container, meta, uid)
	}

	// Delete: the object is gone, then the (now empty) container.
	if err := objects.Delete(ctx, sc, container, object, nil).Err; err != nil {
		t.Fatalf("delete object %s/%s: %v", container, object, err)
	}
	if err := objects.Get(ctx, sc, container, object, nil).Err; !notFound(err) {
		t.Errorf("object %s/%s after its deletion: %v, want 404", container, object, err)
	}
	if err := containers.Delete(ctx, sc, container).Err; err != nil {
		t.Fatalf("delete container %s: %v", container, err)
	}
	if err := containers.Get(ctx, sc, container, nil).Err; !notFound(err) {
		t.Errorf("container %s after its deletion: %v, want 404", container, err)
	}
}
