package openstack

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// Backoff bounds the client's retries of transient failures.
type Backoff struct {
	// Initial is the wait before the first retry; each further wait is Factor times the
	// last, capped at Max, with up to Jitter (a fraction) added at random so that many
	// reconcilers do not retry in step.
	Initial time.Duration
	Factor  float64
	Max     time.Duration
	Jitter  float64
	// Retries is how many times one request is sent again; 0 disables retries.
	Retries int
}

// DefaultBackoff retries a request five times over about 15 s (0.5, 1, 2, 4, 8 s): long
// enough to ride out a restarting API or an Octavia load balancer finishing an update,
// short enough that a reconcile still returns and requeues when the cloud is really down.
var DefaultBackoff = Backoff{Initial: 500 * time.Millisecond, Factor: 2, Max: 8 * time.Second, Jitter: 0.1, Retries: 5}

// delay is the wait before retry number n (1-based).
func (b Backoff) delay(n uint) time.Duration {
	d := float64(b.Initial)
	for i := uint(1); i < n; i++ {
		d *= b.Factor
		if b.Max > 0 && d >= float64(b.Max) {
			d = float64(b.Max)
			break
		}
	}
	if b.Jitter > 0 {
		d += d * b.Jitter * rand.Float64() //nolint:gosec // jitter needs no cryptographic randomness
	}
	return time.Duration(d)
}

// shouldRetry decides whether a failed request may be sent again. Transient failures of
// idempotent methods (GET, HEAD, PUT, DELETE) always may; a POST only when the cloud
// certainly did not act on it (no connection, 429, 503, Octavia's "immutable" 409),
// since a POST that timed out or hit a 500 may well have created something already.
func shouldRetry(method string, err error) bool {
	if !errors.Is(classify(err, nil), ErrTransient) {
		return false
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return notApplied(err)
}

// retryFunc is installed as the provider client's RetryFunc: gophercloud calls it after
// every failed request, and sends the request again when it returns nil. Nothing is
// retried once the context, or the build in progress (dt), has ended.
func retryFunc(b Backoff, dt *deadlineTransport) gophercloud.RetryFunc {
	return func(ctx context.Context, method, _ string, _ *gophercloud.RequestOpts, err error, failCount uint) error {
		if ctx.Err() != nil || dt.boundCtx().Err() != nil || failCount > uint(b.Retries) || !shouldRetry(method, err) {
			return err
		}
		t := time.NewTimer(b.delay(failCount))
		defer t.Stop()
		select {
		case <-ctx.Done():
			// Report the cloud's failure, not the cancellation it was waiting out.
			return err
		case <-dt.boundCtx().Done():
			// Report the cloud's failure, not the cancellation it was waiting out.
			return err
		case <-t.C:
			return nil
		}
	}
}
