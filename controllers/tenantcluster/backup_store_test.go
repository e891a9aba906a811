package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// TestStoreFailuresSaidToCustomers: what the admin's store answered never reaches the
// customer (it names the admin's cloud); a failure of the tenant's own (its etcd, a
// snapshot that does not verify) does, and so does anything of the customer's own store.
func TestStoreFailuresSaidToCustomers(t *testing.T) {
	api := fmt.Errorf("store snapshot: %w", &openstack.APIError{Kind: openstack.ErrForbidden, StatusCode: 403, Method: "PUT", Path: "/v1/AUTH_admin/c/o", Message: "quota of AUTH_admin exceeded"})
	transport := fmt.Errorf("store keys: %w", &url.Error{Op: "Put", URL: "http://swift.admin.example:8080/v1/AUTH_admin", Err: errors.New("connection refused")})
	own := fmt.Errorf("store snapshot: %w", backup.ErrSnapshotHash)
	for _, c := range []struct {
		name     string
		operator bool
		err      error
		hidden   bool
	}{
		{"the admin's store refused", true, api, true},
		{"the admin's store did not answer", true, transport, true},
		{"the admin's store missing an object", true, fmt.Errorf("read: %w", openstack.ErrNotFound), true},
		{"the tenant's own snapshot", true, own, false},
		{"the customer's own store refused", false, api, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := storeRef{operator: c.operator}.say(context.Background(), c.err)
			if hidden := got == operatorStoreFailed; hidden != c.hidden {
				t.Errorf("say(%v) = %q: hidden %v, want %v", c.err, got, hidden, c.hidden)
			}
		})
	}
}
