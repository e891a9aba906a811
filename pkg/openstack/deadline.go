package openstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// DefaultRequestTimeout bounds one HTTP request to a customer's cloud, body included: a
// cloud that accepts connections and never answers holds a worker this long per request
// at most. The caller's context bounds the whole call (retries included).
const DefaultRequestTimeout = 10 * time.Second

// DeadlineError is a request the cloud did not answer in time. It names the host (the
// customer's own cloud) and the time waited, so that a condition says which endpoint hangs.
type DeadlineError struct {
	Host string
	// After is how long the request waited; 0 when the caller's deadline ended it.
	After time.Duration
	cause error
}

func (e *DeadlineError) Error() string {
	if e.After == 0 {
		return fmt.Sprintf("no answer from %s before the deadline", e.Host)
	}
	return fmt.Sprintf("no answer from %s within %s", e.Host, e.After)
}

// Timeout makes it a net.Error that timed out: transient, for classify.
func (e *DeadlineError) Timeout() bool { return true }

// Temporary completes net.Error: a deadline is always worth another try later.
func (e *DeadlineError) Temporary() bool { return true }

// Unwrap gives context.DeadlineExceeded when a deadline ended the request.
func (e *DeadlineError) Unwrap() error { return e.cause }

// deadlineTransport bounds every request by the per-request timeout and, while clients
// are being built, by the builder's context: gophercloud discovers the versions of
// unversioned catalog endpoints with a context of its own, which the caller's deadline
// would not reach.
type deadlineTransport struct {
	next    http.RoundTripper
	timeout time.Duration

	mu    sync.Mutex
	bound context.Context // nil outside NewFromCloudsYAML
}

// bind makes ctx bound every request until the returned function is called.
func (t *deadlineTransport) bind(ctx context.Context) func() {
	t.mu.Lock()
	t.bound = ctx
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		t.bound = nil
		t.mu.Unlock()
	}
}

// boundCtx is the bound context; without one, a context that never ends.
func (t *deadlineTransport) boundCtx() context.Context {
	if t == nil {
		return context.Background()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bound == nil {
		return context.Background()
	}
	return t.bound
}

func (t *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	bound := t.bound
	t.mu.Unlock()
	parent := req.Context()
	if bound != nil && bound.Err() != nil {
		if errors.Is(bound.Err(), context.Canceled) {
			return nil, context.Canceled
		}
		return nil, t.timeoutError(req, parent, bound)
	}
	timeout := t.timeout
	if d, ok := parent.Value(requestTimeoutKey{}).(time.Duration); ok {
		timeout = d
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	stop := func() bool { return false }
	if bound != nil {
		stop = context.AfterFunc(bound, cancel)
	}
	release := func() { stop(); cancel() }
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		ended := ctx.Err() // before release cancels it
		release()
		if ended != nil && !errors.Is(parent.Err(), context.Canceled) && (bound == nil || !errors.Is(bound.Err(), context.Canceled)) {
			return nil, t.timeoutError(req, parent, bound)
		}
		return nil, err
	}
	left := int64(MaxResponseBytes)
	if n, ok := parent.Value(responseLimitKey{}).(int64); ok {
		left = n
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, left: left, release: release, ctx: ctx,
		timeout: func() error { return t.timeoutError(req, parent, bound) }}
	return resp, nil
}

type (
	requestTimeoutKey struct{}
	responseLimitKey  struct{}
)

// WithRequestTimeout gives the requests made with ctx timeout d each instead of the client's
// request timeout: object transfers stream bodies far larger than an API answer.
func WithRequestTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, requestTimeoutKey{}, d)
}

// withResponseLimit bounds response bodies of requests made with ctx by n bytes; a
// negative n lifts the bound (an object download the caller streams, not buffers).
func withResponseLimit(ctx context.Context, n int64) context.Context {
	if n < 0 {
		n = 1<<63 - 1
	}
	return context.WithValue(ctx, responseLimitKey{}, n)
}

// MaxResponseBytes bounds one response body: a cloud that streams without end would
// otherwise fill the manager's memory, which every customer shares. Nova's and Neutron's
// largest lists of one project stay far below it.
const MaxResponseBytes = 16 << 20

// ErrResponseTooLarge is a body longer than MaxResponseBytes.
var ErrResponseTooLarge = errors.New("response body larger than 16 MiB: refused")

// timeoutError says which deadline ended a request to req's host.
func (t *deadlineTransport) timeoutError(req *http.Request, parent, bound context.Context) error {
	e := &DeadlineError{Host: CleanMessage(req.URL.Host, 128), After: t.timeout, cause: context.DeadlineExceeded}
	if parent.Err() != nil || (bound != nil && bound.Err() != nil) {
		e.After = 0 // the caller's deadline, shorter than the request's
	}
	return e
}

// releasingBody ends the request's context once the body is read and closed, and reports a
// read cut short by the deadline as a DeadlineError.
type releasingBody struct {
	io.ReadCloser
	left    int64 // bytes the body may still hold
	release func()
	ctx     context.Context
	timeout func() error
	once    sync.Once
}

func (b *releasingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more than allowed tells a body of exactly the limit from a longer one.
		var probe [1]byte
		n, err := b.ReadCloser.Read(probe[:])
		if n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF && errors.Is(b.ctx.Err(), context.DeadlineExceeded) {
		return n, b.timeout()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
