package cloud

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

func TestClassify(t *testing.T) {
	notFound := openstack.NewError(openstack.ErrNotFound, "no flavor m1.huge")
	for _, c := range []struct {
		name     string
		err      error
		reason   string
		contains string
		customer bool
		retErr   bool
	}{
		{"quota named", fmt.Errorf("create server p-2: %w", openstack.NewQuotaError("instances")), v1alpha1.QuotaExceededReason, "out of its instances quota: raise it or free some", true, false},
		{"quota unnamed", openstack.NewQuotaError(""), v1alpha1.QuotaExceededReason, "(unnamed) quota", true, false},
		{"spec field", InvalidSpec("spec.flavor", notFound), v1alpha1.InvalidSpecReason, "spec.flavor: ", true, false},
		{"spec error naming itself", InvalidSpec("", errors.New("spec.endpoint.octavia.subnetID: no such subnet")), v1alpha1.InvalidSpecReason, "op: spec.endpoint.octavia.subnetID", true, false},
		{"lookup not found", AsInvalidSpec("spec.image", notFound), v1alpha1.InvalidSpecReason, "spec.image", true, false},
		{"refused as invalid", openstack.NewError(openstack.ErrInvalidInput, "Availability zone az9 is invalid"), v1alpha1.InvalidSpecReason, "az9", true, false},
		{"refused credentials", openstack.NewError(openstack.ErrUnauthorized, "requires authentication"), v1alpha1.CloudCredentialsInvalidReason, "authentication", true, false},
		{"policy", openstack.NewError(openstack.ErrForbidden, "Policy doesn't allow"), v1alpha1.CloudCredentialsInvalidReason, "Policy", true, false},
		{"malformed Secret", fmt.Errorf("%w: no clouds.yaml", openstack.ErrCredentialsSecret), v1alpha1.CloudCredentialsInvalidReason, "clouds.yaml", true, false},
		{"service missing from the catalog", fmt.Errorf("octavia: %w", openstack.ErrNoEndpoint), v1alpha1.CloudCredentialsInvalidReason, "catalog", true, false},
		{"provisioning failed", fmt.Errorf("lb: %w", openstack.ErrProvisioningFailed), v1alpha1.ProvisioningFailedReason, "provisioning failed", false, true},
		{"cloud down", openstack.TimeoutError(), v1alpha1.CloudUnavailableReason, "timeout", false, true},
		{"anything else", errors.New("boom"), v1alpha1.CloudUnavailableReason, "boom", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := Classify(c.err, "op")
			if v.Reason != c.reason || !strings.HasPrefix(v.Message, "op: ") || !strings.Contains(v.Message, c.contains) {
				t.Errorf("verdict %+v, want %s with a message containing %q", v, c.reason, c.contains)
			}
			if v.Customer != c.customer || (v.Err != nil) != c.retErr {
				t.Errorf("customer %v, error %v; want %v, an error %v", v.Customer, v.Err, c.customer, c.retErr)
			}
			if v.Err != nil && (!errors.Is(v.Err, c.err) || !strings.HasPrefix(v.Err.Error(), "op: ")) {
				t.Errorf("returned error %v does not wrap %v with its context", v.Err, c.err)
			}
		})
	}
	if v := Classify(errors.New("boom"), ""); v.Message != "boom" || v.Err.Error() != "boom" {
		t.Errorf("without what: %+v", v)
	}
	// A lookup failing for the cloud's own reasons is no invalid spec.
	if err := AsInvalidSpec("spec.flavor", openstack.TimeoutError()); errors.As(err, new(*SpecError)) {
		t.Errorf("a timeout became an invalid spec")
	}
	if (Verdict{}).IsZero() != true || Unsupported("WorkerPools").IsZero() {
		t.Errorf("IsZero is wrong")
	}
}
