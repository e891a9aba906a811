package openstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/gophercloud/gophercloud/v2"
)

// Error kinds a controller can act on. Every error this package returns that came from a
// cloud is an *APIError (or a *QuotaExceededError) whose kind errors.Is finds.
var (
	// ErrNotFound: the resource does not exist (404). On delete it means "already gone".
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request clashes with the resource's state (409), for example a
	// network that still has ports, or a duplicate listener port.
	ErrConflict = errors.New("conflict")
	// ErrInvalidInput: the cloud refused the request as malformed or invalid (400, 413),
	// or this package refused it before sending. Retrying the same request cannot help.
	ErrInvalidInput = errors.New("invalid input")
	// ErrTransient: try again later. 5xx (but 501), 429, timeouts, refused or reset
	// connections, and Octavia's 409 for a load balancer in a PENDING_* state ("is
	// immutable and cannot be updated"). The client has already retried these with
	// backoff before returning one.
	ErrTransient = errors.New("transient failure")
	// ErrUnauthorized: the credentials were rejected or have expired (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: authenticated, but policy forbids the call (403 that is not a quota),
	// for example reading user_data without the admin role.
	ErrForbidden = errors.New("forbidden")
	// ErrQuotaExceeded: a project quota is exhausted; the error is a *QuotaExceededError
	// that names the resource.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrProvisioningFailed: an asynchronous create or update ended in ERROR (an Octavia
	// provisioning_status, a Nova server status).
	ErrProvisioningFailed = errors.New("provisioning failed")
	// ErrNoEndpoint: the service catalog has no endpoint for a service this client needs,
	// in the region and interface clouds.yaml names.
	ErrNoEndpoint = errors.New("no endpoint in the service catalog")
)

// APIError is a failed call, classified. Error() carries the service's own message with
// any credential this client knows of redacted; Kind is nil when the failure fits no kind.
type APIError struct {
	Kind error
	// StatusCode is the HTTP status, 0 when no response arrived.
	StatusCode int
	// Method and Path say which call failed (the host is left out: it is the cloud's
	// business, and these messages end up in conditions users read).
	Method, Path string
	// Message is the service's explanation, or the transport error's.
	Message string
	// RequestID is the x-openstack-request-id (or x-compute-request-id) of the response,
	// for the cloud operator's logs.
	RequestID string

	cause error // transport error, for errors.Is(err, syscall.ECONNREFUSED) and the like
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Method != "" {
		fmt.Fprintf(&b, "%s %s: ", e.Method, e.Path)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
		if e.Message != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Message)
	if e.Message == "" && e.StatusCode == 0 && e.Kind != nil {
		b.WriteString(e.Kind.Error())
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request %s)", e.RequestID)
	}
	return b.String()
}

// Unwrap exposes the kind and, for transport errors, the cause.
func (e *APIError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// QuotaExceededError says a project quota stopped a create. Resource is normalised to
// lower case with underscores: Nova's "instances", "cores", "ram", "server_groups",
// Neutron's "port", "floatingip", Octavia's "load_balancer", "listener", "member"...;
// several resources are joined with ",". It is empty when the cloud did not say.
type QuotaExceededError struct {
	Resource string
	Err      *APIError
}

func (e *QuotaExceededError) Error() string {
	if e.Resource == "" {
		return "quota exceeded: " + e.Err.Error()
	}
	return fmt.Sprintf("quota exceeded for %s: %s", e.Resource, e.Err.Error())
}

// Unwrap gives the APIError (whose kind is ErrQuotaExceeded).
func (e *QuotaExceededError) Unwrap() error { return e.Err }

// IsNotFound reports whether err is, or wraps, a 404.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is, or wraps, a 409 that is neither a quota nor transient.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsInvalidInput reports whether err is, or wraps, a refusal that retrying cannot fix.
func IsInvalidInput(err error) bool { return errors.Is(err, ErrInvalidInput) }

// IsTransient reports whether err is worth retrying later.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

// IsUnauthorized reports whether the credentials were rejected.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsForbidden reports whether policy forbade the call.
func IsForbidden(err error) bool { return errors.Is(err, ErrForbidden) }

// IsProvisioningFailed reports whether a resource ended in ERROR.
func IsProvisioningFailed(err error) bool { return errors.Is(err, ErrProvisioningFailed) }

// IsQuota reports whether err is a quota refusal and, if the cloud said, for what.
func IsQuota(err error) (resource string, ok bool) {
	var q *QuotaExceededError
	if errors.As(err, &q) {
		return q.Resource, true
	}
	return "", false
}

// IgnoreNotFound returns nil for a 404 and err otherwise: deletes are idempotent.
func IgnoreNotFound(err error) error {
	if IsNotFound(err) {
		return nil
	}
	return err
}

// redactor replaces the credentials a client holds wherever they might surface in an
// error: a proxy that echoes the request, a service that quotes its input.
type redactor []string

const redacted = "[REDACTED]"

func newRedactor(secrets ...string) redactor {
	var r redactor
	for _, s := range secrets {
		// Very short strings would blank out innocent text; no real secret is that short.
		if len(s) >= 4 {
			r = append(r, s)
		}
	}
	return r
}

func (r redactor) apply(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// classify turns whatever gophercloud or the transport returned into an *APIError or a
// *QuotaExceededError. context.Canceled passes through untouched: the caller gave up.
func classify(err error, r redactor) error {
	if err == nil {
		return nil
	}
	var apiErr *APIError
	var quotaErr *QuotaExceededError
	if errors.As(err, &quotaErr) || errors.As(err, &apiErr) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}

	// A failed re-authentication (gophercloud returns it by pointer) is about the
	// credentials, not the request that found the token expired.
	var reauth *gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &reauth) && reauth.ErrReauth != nil {
		return classify(reauth.ErrReauth, r)
	}
	var resp gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &resp) {
		return fromResponse(resp.Method, resp.URL, resp.Actual, resp.Body, resp.ResponseHeader, r)
	}

	e := &APIError{Message: limit(r.apply(err.Error()))}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		// net/http spells the method "Post".
		e.Method, e.Path = strings.ToUpper(uerr.Op), pathOf(uerr.URL)
		e.Message = limit(r.apply(uerr.Err.Error()))
	}
	switch {
	case isTransportTransient(err):
		e.Kind, e.cause = ErrTransient, err
	case isNoEndpoint(err):
		e.Kind = ErrNoEndpoint
	case isGophercloudInput(err):
		e.Kind = ErrInvalidInput
	}
	return e
}

// gophercloud returns some errors by value and others by pointer: look for both.
func isNoEndpoint(err error) bool {
	var (
		e1 gophercloud.ErrEndpointNotFound
		e2 *gophercloud.ErrEndpointNotFound
		e3 gophercloud.ErrServiceNotFound
		e4 *gophercloud.ErrServiceNotFound
	)
	return errors.As(err, &e1) || errors.As(err, &e2) || errors.As(err, &e3) || errors.As(err, &e4)
}

func isGophercloudInput(err error) bool {
	var (
		e1 gophercloud.ErrMissingInput
		e2 *gophercloud.ErrMissingInput
		e3 gophercloud.ErrInvalidInput
		e4 *gophercloud.ErrInvalidInput
	)
	return errors.As(err, &e1) || errors.As(err, &e2) || errors.As(err, &e3) || errors.As(err, &e4)
}

// isTransportTransient says whether a request failed for want of a working connection
// or in time, rather than because the service said no.
func isTransportTransient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// notApplied says whether a failed request certainly changed nothing, so that even a
// POST can be sent again without creating a second resource.
func notApplied(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var resp gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &resp) {
		return false
	}
	switch resp.Actual {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusConflict:
		return octaviaPending(parseBody(resp.Body).message)
	}
	return false
}

// fromResponse classifies an HTTP error response of Nova, Neutron, Octavia, Glance or
// Keystone by its status and, where the status is ambiguous, its message.
func fromResponse(method, rawURL string, status int, body []byte, header http.Header, r redactor) error {
	b := parseBody(body)
	e := &APIError{
		StatusCode: status,
		Method:     method,
		Path:       pathOf(rawURL),
		// Redact before truncating: a cut could leave half a secret behind.
		Message:   limit(r.apply(b.message)),
		RequestID: requestID(header),
	}
	switch {
	case status == http.StatusBadRequest:
		e.Kind = ErrInvalidInput
	case status == http.StatusUnauthorized:
		e.Kind = ErrUnauthorized
	case status == http.StatusForbidden:
		if res, ok := quotaResource(b); ok {
			return quota(e, res)
		}
		e.Kind = ErrForbidden
	case status == http.StatusNotFound:
		e.Kind = ErrNotFound
	case status == http.StatusConflict:
		if res, ok := quotaResource(b); ok {
			return quota(e, res)
		}
		if octaviaPending(b.message) {
			e.Kind = ErrTransient
		} else {
			e.Kind = ErrConflict
		}
	case status == http.StatusRequestEntityTooLarge:
		// Nova's legacy overLimit for quotas; otherwise the request really is too big
		// (user_data) unless the service asks to come back later.
		if res, ok := quotaResource(b); ok {
			return quota(e, res)
		}
		if header.Get("Retry-After") != "" {
			e.Kind = ErrTransient
		} else {
			e.Kind = ErrInvalidInput
		}
	case status == http.StatusTooManyRequests:
		e.Kind = ErrTransient
	case status >= 500 && status != http.StatusNotImplemented:
		e.Kind = ErrTransient
	}
	return e
}

func quota(e *APIError, resource string) error {
	e.Kind = ErrQuotaExceeded
	return &QuotaExceededError{Resource: resource, Err: e}
}

// requestID and pathOf are cleaned like messages: the cloud chose them.
func requestID(h http.Header) string {
	return CleanMessage(coalesce(h.Get("X-Openstack-Request-Id"), h.Get("X-Compute-Request-Id")), 64)
}

func pathOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Path == "" {
		return CleanMessage(rawURL, 128)
	}
	return CleanMessage(u.Path, 128)
}

// invalidInput is this package's own refusal of a request it will not send.
func invalidInput(format string, args ...any) error {
	return &APIError{Kind: ErrInvalidInput, Message: fmt.Sprintf(format, args...)}
}
