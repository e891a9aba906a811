package cloud

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

func cloudsSecret(authURL string) map[string][]byte {
	return map[string][]byte{openstack.SecretKeyCloudsYAML: []byte(`clouds:
  openstack:
    auth:
      auth_url: ` + authURL + `
      application_credential_id: abc
      application_credential_secret: s3cr3t
`)}
}

// A cloud that accepts connections and never answers holds the reconcile for its deadline
// at most, and becomes CloudUnavailable naming the host.
func TestBuildAgainstAHangingCloud(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	s := secret("hangs", cloudsSecret(srv.URL+"/v3"))
	creds := Credentials{Client: world(t, s), Clouds: &openstack.ClientCache{}, Finalizer: finalizer}

	// The reconcile's deadline, shortened: the real one is Deadline (30 s).
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	clients, v := creds.Build(ctx, s, "")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Build took %s against a hanging cloud", took)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	if clients != nil || v.Reason != v1alpha1.CloudUnavailableReason || v.Customer || v.Err == nil ||
		!strings.Contains(v.Message, "did not answer in time") || !strings.Contains(v.Message, host) {
		t.Errorf("verdict %+v, want CloudUnavailable naming %s, retried with backoff", v, host)
	}
	if Deadline > 30*time.Second || openstack.DefaultRequestTimeout > 10*time.Second {
		t.Errorf("deadlines grew: %s per reconcile, %s per request", Deadline, openstack.DefaultRequestTimeout)
	}
	ctx2, cancel2 := WithDeadline(context.Background())
	defer cancel2()
	if dl, ok := ctx2.Deadline(); !ok || time.Until(dl) > Deadline {
		t.Errorf("WithDeadline: %v %v", dl, ok)
	}
}

// An auth_url the operator does not allow is a customer's problem with a reason of its own,
// and the cloud is never dialled.
func TestBuildRefusesAnAuthURLNotAllowed(t *testing.T) {
	var dialled atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { dialled.Store(true) }))
	t.Cleanup(srv.Close)
	list, err := openstack.ParseAuthURLAllowList([]string{"https://keystone.example.com:5000/v3", "https://identity.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	s := secret("elsewhere", cloudsSecret(srv.URL+"/v3"))
	creds := Credentials{Client: world(t, s), Clouds: &openstack.ClientCache{Options: openstack.Options{AllowedAuthURLs: list}}, Finalizer: finalizer}
	clients, v := creds.Build(context.Background(), s, "")
	if clients != nil || v.Reason != v1alpha1.AuthURLNotAllowedReason || !v.Customer || v.Err != nil {
		t.Errorf("verdict %+v, want AuthURLNotAllowed, a customer's problem", v)
	}
	for _, want := range []string{"Secret elsewhere", srv.URL + "/v3", "the seed's operator allows only the clouds at https://keystone.example.com:5000/v3, https://identity.example.org"} {
		if !strings.Contains(v.Message, want) {
			t.Errorf("message %q lacks %q", v.Message, want)
		}
	}
	if dialled.Load() {
		t.Error("the refused cloud was dialled")
	}
}

// Whatever the cloud or clouds.yaml says, a verdict's message is clean and bounded.
func TestVerdictMessageIsBounded(t *testing.T) {
	v := Classify(openstack.NewError(openstack.ErrInvalidInput, strings.Repeat("x\x1b", 40000)), "op")
	if len(v.Message) > MaxMessage || strings.ContainsRune(v.Message, 0x1b) {
		t.Errorf("message of %d bytes", len(v.Message))
	}
}
