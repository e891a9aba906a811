package openstack

import (
	"fmt"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want Problem
	}{
		{"quota", NewQuotaError("instances"), ProblemQuota},
		{"refused credentials", NewError(ErrUnauthorized, "The request you have made requires authentication."), ProblemCredentials},
		{"policy", NewError(ErrForbidden, "Policy does not allow"), ProblemCredentials},
		{"bad Secret", fmt.Errorf("%w: cloud %q: %w", ErrCredentialsSecret, "openstack", NewError(ErrInvalidInput, "no auth_url")), ProblemCredentials},
		{"no endpoint", fmt.Errorf("cloud: %w", ErrNoEndpoint), ProblemCredentials},
		{"ERROR status", &APIError{Kind: ErrProvisioningFailed}, ProblemProvisioning},
		{"invalid", NewError(ErrInvalidInput, "Validation failure"), ProblemInvalid},
		{"timeout", TimeoutError(), ProblemCloud},
		{"5xx", NewError(ErrTransient, "Service Unavailable"), ProblemCloud},
		{"unknown", fmt.Errorf("something else"), ProblemCloud},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("%s: Classify = %d, want %d", c.name, got, c.want)
		}
	}
}
