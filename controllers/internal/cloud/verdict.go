// Package cloud is what the controllers that act in a customer's OpenStack project share:
// reading the credentials Secret, holding it with a finalizer while it may be needed,
// building clients from it, releasing it, and telling whose move a failed cloud call is.
// Each controller keeps its own condition type and requeue intervals and maps a Verdict
// onto them; none imports another.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// Verdict is a cloud problem in a condition's terms. The zero Verdict is no problem.
type Verdict struct {
	// Reason is the condition reason: QuotaExceeded, CloudCredentialsInvalid,
	// AuthURLNotAllowed, InvalidSpec, ProvisioningFailed or CloudUnavailable.
	Reason string
	// Message says what failed and why, naming the quota or the field at fault. It is
	// cleaned (openstack.CleanMessage) and at most MaxMessage bytes: the cloud and the
	// customer's clouds.yaml wrote parts of it.
	Message string
	// Customer is true when only the customer can act (quota, credentials, an invalid
	// spec): the controller reports it and looks again in minutes without an error, so no
	// hot loop; a fixed Secret or spec wakes it through its watch.
	Customer bool
	// Err is set when the customer cannot help (CloudUnavailable, ProvisioningFailed): the
	// cloud's failure, wrapped with what was done, to return for controller-runtime's
	// backoff. A controller may instead retry at a pace of its own (a load balancer Octavia
	// put in ERROR is replaced at the next step).
	Err error
}

// IsZero says whether v reports nothing.
func (v Verdict) IsZero() bool { return v.Reason == "" }

// MaxMessage bounds a Verdict's message, well under a condition message's 32768 bytes.
const MaxMessage = 1024

// Classify turns a failed cloud call into a Verdict. what names the operation ("the
// tenant's load balancer", "scaling to 3") and prefixes the message and the error.
func Classify(err error, what string) Verdict {
	v := classify(err, what)
	v.Message = openstack.CleanMessage(v.Message, MaxMessage)
	return v
}

func classify(err error, what string) Verdict {
	say := func(s string) string {
		if what == "" {
			return s
		}
		return what + ": " + s
	}
	var spec *SpecError
	if errors.As(err, &spec) {
		return Verdict{Reason: v1alpha1.InvalidSpecReason, Message: say(err.Error()), Customer: true}
	}
	if errors.Is(err, openstack.ErrAuthURLNotAllowed) {
		return Verdict{Reason: v1alpha1.AuthURLNotAllowedReason, Message: say(err.Error()), Customer: true}
	}
	switch openstack.Classify(err) {
	case openstack.ProblemQuota:
		res, _ := openstack.IsQuota(err)
		if res == "" {
			res = "(unnamed)"
		}
		return Verdict{Reason: v1alpha1.QuotaExceededReason, Message: say(fmt.Sprintf(
			"the customer's project is out of its %s quota: raise it or free some (%v)", res, err)), Customer: true}
	case openstack.ProblemCredentials:
		return Verdict{Reason: v1alpha1.CloudCredentialsInvalidReason, Message: say(err.Error()), Customer: true}
	case openstack.ProblemInvalid:
		// Refused as invalid although every field was looked up: the spec as a whole (an
		// image too big for the flavor, a zone that does not exist...).
		return Verdict{Reason: v1alpha1.InvalidSpecReason, Message: say(err.Error()), Customer: true}
	}
	wrapped := err
	if what != "" {
		wrapped = fmt.Errorf("%s: %w", what, err)
	}
	if openstack.Classify(err) == openstack.ProblemProvisioning {
		return Verdict{Reason: v1alpha1.ProvisioningFailedReason, Message: say(err.Error()), Err: wrapped}
	}
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		// The deadline of the reconcile's cloud work (WithDeadline) or of one request: the
		// DeadlineError in err names the host.
		msg = fmt.Sprintf("the customer's cloud did not answer in time (each request may take %s, a reconcile's cloud work %s): %s",
			openstack.DefaultRequestTimeout, Deadline, msg)
	}
	return Verdict{Reason: v1alpha1.CloudUnavailableReason, Message: say(msg), Err: wrapped}
}

// Deadline bounds the cloud work of one reconcile (building clients included): a customer's
// cloud that hangs holds a worker this long at most, then the reconcile reports
// CloudUnavailable and is retried with backoff.
const Deadline = 30 * time.Second

// WithDeadline is ctx bounded by Deadline, for a reconcile's calls to a customer's cloud.
func WithDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, Deadline)
}

// SpecError is a spec field the cloud cannot realise (a flavor, image, network or subnet
// it does not know): only a changed spec helps.
type SpecError struct {
	// Field is the spec field at fault, "spec.flavor"; empty when Err names it already.
	Field string
	Err   error
}

func (e *SpecError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *SpecError) Unwrap() error { return e.Err }

// InvalidSpec marks err as field's fault.
func InvalidSpec(field string, err error) error { return &SpecError{Field: field, Err: err} }

// AsInvalidSpec makes a lookup's "not found" or "ambiguous name" the fault of field;
// other errors (the cloud failing, credentials) pass unchanged.
func AsInvalidSpec(field string, err error) error {
	if openstack.IsNotFound(err) || openstack.IsInvalidInput(err) {
		return InvalidSpec(field, err)
	}
	return err
}

// Unsupported is the verdict of a manager started without OpenStack support: what
// ("WorkerPools") cannot be served.
func Unsupported(what string) Verdict {
	return Verdict{Reason: v1alpha1.InvalidSpecReason, Customer: true, Message: fmt.Sprintf(
		"this kubeseed manager was started without OpenStack support: %s cannot be served", what)}
}
