package openstack

import "errors"

// Problem says whose move a failed call is: what a controller reports and how soon it
// looks again.
type Problem int

// Problems, in the order Classify tells them apart.
const (
	// ProblemCloud: the cloud failed or did not answer (after the client's retries); retry
	// with backoff.
	ProblemCloud Problem = iota
	// ProblemQuota: a quota of the customer's project is exhausted (IsQuota names it).
	ProblemQuota
	// ProblemCredentials: the credentials Secret is missing what it must hold, or names a
	// Keystone the seed's operator does not allow (ErrAuthURLNotAllowed), or the cloud
	// refused the credentials, or its catalog lacks a service they need.
	ProblemCredentials
	// ProblemInvalid: the cloud refused the request as invalid; only a changed spec helps.
	ProblemInvalid
	// ProblemProvisioning: an asynchronous create or update ended in ERROR.
	ProblemProvisioning
)

// Classify tells whose move err is. Credentials come before invalid input: a clouds.yaml
// that does not parse is the Secret's fault, not the spec's.
func Classify(err error) Problem {
	if _, ok := IsQuota(err); ok {
		return ProblemQuota
	}
	switch {
	case errors.Is(err, ErrCredentialsSecret), errors.Is(err, ErrAuthURLNotAllowed), IsUnauthorized(err), IsForbidden(err), errors.Is(err, ErrNoEndpoint):
		return ProblemCredentials
	case IsProvisioningFailed(err):
		return ProblemProvisioning
	case IsInvalidInput(err):
		return ProblemInvalid
	default:
		return ProblemCloud
	}
}
