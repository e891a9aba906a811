package openstack

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

const testServerID = "9e5476bd-a4ec-4653-93d6-72c93aa682ba"

var testServerPath = "/compute/v2.1/" + testProject + "/servers/" + testServerID

func TestRetryTransientThenSuccess(t *testing.T) {
	c := newTestCloud(t)
	n := c.sequence("GET "+testServerPath,
		response{503, novaComputeFault}, response{502, "<html>502 Bad Gateway</html>"}, response{200, novaServerBody})
	s, err := c.clients(Options{}).Compute.GetServer(context.Background(), testServerID)
	if err != nil {
		t.Fatalf("GetServer after two transient failures: %v", err)
	}
	if s.Status != "ACTIVE" || n.Load() != 3 {
		t.Errorf("status %q after %d requests, want ACTIVE after 3", s.Status, n.Load())
	}
}

func TestRetryGivesUp(t *testing.T) {
	c := newTestCloud(t)
	n := c.sequence("GET "+testServerPath, response{500, novaComputeFault})
	_, err := c.clients(Options{}).Compute.GetServer(context.Background(), testServerID)
	if !IsTransient(err) {
		t.Fatalf("err = %v, want ErrTransient", err)
	}
	if want := int32(fastBackoff.Retries + 1); n.Load() != want {
		t.Errorf("%d requests, want %d (one and %d retries)", n.Load(), want, fastBackoff.Retries)
	}
}

func TestNoRetryOfNonTransient(t *testing.T) {
	for _, r := range []response{{404, novaNotFound}, {400, `{"badRequest": {"code": 400, "message": "bad"}}`}, {403, novaQuotaBody}, {401, keystone401}} {
		c := newTestCloud(t)
		// A 401 makes gophercloud re-authenticate once and try again: count that out.
		n := c.sequence("GET "+testServerPath, r)
		_, err := c.clients(Options{}).Compute.GetServer(context.Background(), testServerID)
		if err == nil || IsTransient(err) {
			t.Errorf("%d: err = %v", r.status, err)
		}
		want := int32(1)
		if r.status == 401 {
			want = 2
		}
		if n.Load() != want {
			t.Errorf("%d: %d requests, want %d", r.status, n.Load(), want)
		}
	}
}

// A POST that may have been acted on (500, timeout) is not sent again; one the cloud
// certainly refused (503, Octavia's immutable 409) is.
func TestRetryOfCreates(t *testing.T) {
	servers := "POST /compute/v2.1/" + testProject + "/servers"
	spec := ServerSpec{Name: "acme-pool-a-0", FlavorID: "1", ImageID: "i", Networks: []ServerNetwork{{NetworkID: "n"}}}
	created := `{"server": {"id": "` + testServerID + `", "links": [], "OS-DCF:diskConfig": "MANUAL", "adminPass": "x"}}`

	t.Run("500 is not retried", func(t *testing.T) {
		c := newTestCloud(t)
		n := c.sequence(servers, response{500, novaComputeFault}, response{202, created})
		_, err := c.clients(Options{}).Compute.CreateServer(context.Background(), spec)
		if !IsTransient(err) || n.Load() != 1 {
			t.Errorf("err = %v after %d requests, want ErrTransient after 1", err, n.Load())
		}
	})
	t.Run("503 is retried", func(t *testing.T) {
		c := newTestCloud(t)
		n := c.sequence(servers, response{503, "Service Unavailable"}, response{202, created})
		s, err := c.clients(Options{}).Compute.CreateServer(context.Background(), spec)
		if err != nil || s.ID != testServerID || n.Load() != 2 {
			t.Errorf("server %v, err %v after %d requests", s, err, n.Load())
		}
	})
	t.Run("octavia immutable is retried", func(t *testing.T) {
		c := newTestCloud(t)
		n := c.sequence("POST /load-balancer/v2.0/lbaas/listeners", response{409, octaviaImmutable}, response{409, octaviaImmutable},
			response{201, `{"listener": {"id": "023f2e34-7806-443b-bfae-16c324569a3d", "name": "apiserver", "protocol": "TCP", "protocol_port": 6443,
				"provisioning_status": "PENDING_CREATE", "operating_status": "OFFLINE", "loadbalancers": [{"id": "607226db-27ef-4d41-ae89-f2a800e9c2db"}], "tags": []}}`})
		l, err := c.clients(Options{}).LoadBalancer.CreateListener(context.Background(),
			ListenerSpec{Name: "apiserver", LoadBalancerID: "607226db-27ef-4d41-ae89-f2a800e9c2db", Protocol: "TCP", Port: 6443})
		if err != nil || l.Port != 6443 || n.Load() != 3 {
			t.Errorf("listener %v, err %v after %d requests", l, err, n.Load())
		}
	})
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	c := newTestCloud(t)
	n := c.sequence("GET "+testServerPath, response{503, novaComputeFault})
	slow := Backoff{Initial: time.Minute, Factor: 2, Max: time.Hour, Retries: 10}
	cl := c.clients(Options{Backoff: &slow})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cl.Compute.GetServer(ctx, testServerID)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("GetServer took %v: the backoff ignored the context", took)
	}
	if err == nil || n.Load() != 1 {
		t.Errorf("err = %v after %d requests, want an error after 1", err, n.Load())
	}

	// Cancelled before the call: nothing is sent.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = cl.Compute.GetServer(ctx, testServerID)
	if !errors.Is(err, context.Canceled) || IsTransient(err) {
		t.Errorf("cancelled call: err = %v, want context.Canceled and not transient", err)
	}
	if n.Load() != 1 {
		t.Errorf("a cancelled call was sent")
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 500 * time.Millisecond, Factor: 2, Max: 8 * time.Second}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := b.delay(uint(i + 1)); got != w {
			t.Errorf("delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	b.Jitter = 0.5
	for range 100 {
		if d := b.delay(2); d < time.Second || d > 1500*time.Millisecond {
			t.Fatalf("jittered delay %v outside [1s, 1.5s]", d)
		}
	}
}

func TestShouldRetry(t *testing.T) {
	resp := func(status int, body string) error {
		return gophercloud.ErrUnexpectedResponseCode{Actual: status, Body: []byte(body)}
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := []struct {
		method string
		err    error
		want   bool
	}{
		{http.MethodGet, resp(500, novaComputeFault), true},
		{http.MethodDelete, resp(504, "gateway timeout"), true},
		{http.MethodPut, resp(503, ""), true},
		{http.MethodGet, resp(404, novaNotFound), false},
		{http.MethodGet, resp(409, `{"NeutronError": {"type": "NetworkInUse", "message": "in use", "detail": ""}}`), false},
		{http.MethodPost, resp(500, novaComputeFault), false},
		{http.MethodPost, resp(502, "bad gateway"), false},
		{http.MethodPost, resp(503, ""), true},
		{http.MethodPost, resp(429, ""), true},
		{http.MethodPost, resp(409, octaviaImmutable), true},
		{http.MethodPost, resp(403, octaviaQuotaBody), false},
		{http.MethodPost, refused, true},
		{http.MethodPost, reset, false},
		{http.MethodGet, reset, true},
		{http.MethodGet, context.DeadlineExceeded, true},
		{http.MethodPost, context.DeadlineExceeded, false},
		{http.MethodGet, context.Canceled, false},
	}
	for _, tt := range tests {
		if got := shouldRetry(tt.method, tt.err); got != tt.want {
			t.Errorf("shouldRetry(%s, %v) = %v, want %v", tt.method, tt.err, got, tt.want)
		}
	}
}

// When the token is refused and so are the credentials, the error is Keystone's 401.
func TestReauthenticationFails(t *testing.T) {
	c := newTestCloud(t)
	c.respond("GET "+testServerPath, 401, keystone401)
	cl := c.clients(Options{})
	c.mu.Lock()
	c.refuseAuth = true
	c.mu.Unlock()
	_, err := cl.Compute.GetServer(context.Background(), testServerID)
	if !IsUnauthorized(err) || !strings.Contains(err.Error(), "/identity/v3/auth/tokens") {
		t.Errorf("err = %v, want Keystone's ErrUnauthorized", err)
	}
}
