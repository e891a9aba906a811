package openstack

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAuthURLAllowList(t *testing.T) {
	list, err := ParseAuthURLAllowList([]string{"https://keystone.example:5000/v3/", " http://Identity.Example.ORG ", "https://k.example/identity"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url   string
		allow bool
	}{
		{"https://keystone.example:5000/v3", true},
		{"https://keystone.example:5000/v3/", true},
		{"https://keystone.example:5000/v3/auth", true},
		{"https://KEYSTONE.Example:5000/v3", true},
		{"https://keystone.example.:5000/v3", true},
		{"HTTPS://keystone.example:5000/v3", true},
		{"https://keystone.example:5000/v3evil", false},
		{"https://keystone.example:5000/", false},
		{"https://keystone.example:5000", false},
		{"https://keystone.example/v3", false},      // 443, not 5000
		{"http://keystone.example:5000/v3", false},  // scheme
		{"https://keystone.example:5001/v3", false}, // port
		{"https://keystone.example.evil.com:5000/v3", false},
		{"https://evil.com/keystone.example:5000/v3", false},
		{"https://user@keystone.example:5000/v3", false},
		{"https://user:pw@keystone.example:5000/v3", false},
		{"https://keystone.example:5000/v3/../admin", false},
		{"https://keystone.example:5000/v3/%2e%2e/admin", false},
		{"https://keystone.example:5000/v3?x=1", false},
		{"https://keystone.example:5000/v3#f", false},
		{"http://identity.example.org/v3", true}, // empty path allows every path
		{"http://identity.example.org:80/", true},
		{"http://identity.example.org:8080/", false},
		{"https://identity.example.org/", false},
		{"https://k.example:443/identity/v3", true},
		{"https://k.example/identityx", false},
		{"https://k.example/", false},
		{"ftp://k.example/identity", false},
		{"//k.example/identity", false},
		{"not a url", false},
		{"", false},
	} {
		if got := list.Allows(c.url); got != c.allow {
			t.Errorf("Allows(%q) = %v, want %v", c.url, got, c.allow)
		}
	}
	if !(AuthURLAllowList{}).Allows("https://anything.example/v3") {
		t.Error("the empty list refuses")
	}
	for _, bad := range []string{"https://user@keystone.example/v3", "keystone.example:5000", "https://keystone.example/v3?x=1", "https://", "https://k.example:99999/"} {
		if _, err := ParseAuthURLAllowList([]string{bad}); err == nil {
			t.Errorf("entry %q accepted", bad)
		}
	}
}

// A refused auth_url is never dialled, and the error names it and the allowed clouds.
func TestAuthURLNotAllowedIsNotDialled(t *testing.T) {
	c := newTestCloud(t)
	list, err := ParseAuthURLAllowList([]string{"https://keystone.example.com:5000/v3"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewFromCloudsYAML(context.Background(), c.cloudsYAML(), "customer", Options{AllowedAuthURLs: list})
	if !errors.Is(err, ErrAuthURLNotAllowed) || Classify(err) != ProblemCredentials ||
		!strings.Contains(err.Error(), c.srv.URL+"/identity/v3") || !strings.Contains(err.Error(), "https://keystone.example.com:5000/v3") {
		t.Errorf("err = %v, want ErrAuthURLNotAllowed naming the auth_url and the allowed list", err)
	}
	if n := c.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the refused cloud", n)
	}
	allowed, _ := ParseAuthURLAllowList([]string{c.srv.URL + "/identity"})
	if _, err := NewFromCloudsYAML(context.Background(), c.cloudsYAML(), "customer", Options{AllowedAuthURLs: allowed, Backoff: &fastBackoff}); err != nil {
		t.Errorf("allowed cloud: %v", err)
	}
}

// clouds.yaml is data: no field of it names a file the manager would read.
func TestCloudsYAMLFileFieldsRefused(t *testing.T) {
	base := `clouds:
  openstack:
    auth:
      auth_url: https://keystone.example:5000/v3
      application_credential_id: abc
      application_credential_secret: s3cr3t
%s`
	for _, c := range []struct{ name, extra, want string }{
		{"cacert path", "    cacert: /etc/kubeseed/ca.pem\n", `cacert names a file on the manager, which kubeseed never reads: remove it and put the PEM bundle itself in the Secret's key "cacert"`},
		{"cacert in auth", "      cacert: /etc/ssl/ca.pem\n", "auth.cacert names a file"},
		{"client cert", "    cert: /var/run/secrets/kubernetes.io/serviceaccount/token\n", "cert names a file"},
		{"client key", "    key: /etc/kubeseed/key.pem\n", "client certificates are not supported"},
		{"any _file", "    token_file: /etc/passwd\n", "token_file names a file"},
		{"userinfo in auth_url", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(base, "%s", c.extra, 1)
			if c.want == "" {
				doc = strings.Replace(doc, "https://keystone.example", "https://admin:pw@keystone.example", 1)
				c.want = "must not carry user info"
			}
			_, err := ParseCloudsYAML([]byte(doc), "openstack")
			if !IsInvalidInput(err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want invalid input containing %q", err, c.want)
			}
		})
	}
	if _, err := ParseCloudsYAML([]byte(strings.Replace(base, "%s", "    identity_api_version: 3\n    verify: true\n", 1)), "openstack"); err != nil {
		t.Errorf("harmless unknown fields: %v", err)
	}
}

func TestCleanMessage(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes
	for _, c := range []struct{ name, in, want string }{
		{"plain", "Quota exceeded", "Quota exceeded"},
		{"whitespace collapsed", "  a\n\n\tb   c  ", "a b c"},
		{"control characters", "a\x00b\x1b[31mc\x7f\u0085d", "a b [31mc d"},
		{"bidi and zero width", "evil\u202Egnp.exe\u200b!", "evil gnp.exe !"},
		{"invalid UTF-8", "a\xffb", "a b"},
		{"empty", "", ""},
	} {
		if got := CleanMessage(c.in, 0); got != c.want {
			t.Errorf("%s: CleanMessage(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
	got := CleanMessage(long, 0)
	if len(got) > MaxMessage || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
		t.Errorf("long message: %d bytes, valid %v, %q...", len(got), utf8.ValidString(got), got[len(got)-10:])
	}
	if got := CleanMessage(strings.Repeat("x", 20), 10); got != "xxxxxxx…" {
		t.Errorf("cut at 10 bytes: %q", got)
	}
	if got := CleanMessage(strings.Repeat("x", 10), 10); got != strings.Repeat("x", 10) {
		t.Errorf("exactly 10 bytes: %q", got)
	}
	// What a hostile cloud answers ends up cleaned in the error.
	body := `{"badRequest": {"code": 400, "message": "` + strings.Repeat("A\\u001b[2J", 5000) + `"}}`
	err := fromResponse("POST", "https://nova/v2.1/servers", 400, []byte(body), http.Header{}, nil)
	if msg := err.Error(); len(msg) > MaxMessage+64 || strings.ContainsRune(msg, 0x1b) {
		t.Errorf("hostile body: %d bytes: %q", len(msg), msg[:40])
	}
}

// hangingServer accepts connections and never answers.
func hangingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv, &n
}

func hangingClouds(url string) []byte {
	return []byte(`clouds:
  openstack:
    auth:
      auth_url: ` + url + `/v3
      application_credential_id: abc
      application_credential_secret: s3cr3t
`)
}

// A cloud that accepts and never answers costs a request's timeout, or the caller's
// deadline, whichever is shorter; the error names the host.
func TestHangingCloud(t *testing.T) {
	srv, _ := hangingServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range []struct {
		name     string
		request  time.Duration
		deadline time.Duration
		want     string
	}{
		{"request timeout", 200 * time.Millisecond, time.Minute, "no answer from " + host + " within 200ms"},
		{"caller's deadline", time.Minute, 300 * time.Millisecond, "no answer from " + host + " before the deadline"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), c.deadline)
			defer cancel()
			start := time.Now()
			_, err := NewFromCloudsYAML(ctx, hangingClouds(srv.URL), "openstack", Options{RequestTimeout: c.request, Backoff: &fastBackoff})
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %s", took)
			}
			if !IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want a transient timeout containing %q", err, c.want)
			}
		})
	}
}

// Endpoint discovery runs with gophercloud's own context: the builder's deadline still
// bounds it, and it is not retried after.
func TestHangingDiscoveryBoundByDeadline(t *testing.T) {
	c := newTestCloud(t)
	srv, hits := hangingServer(t)
	c.endpoints["network"] = srv.URL + "/network" // unversioned: gophercloud discovers it
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	b := DefaultBackoff
	_, err := NewFromCloudsYAML(ctx, c.cloudsYAML(), "customer", Options{Backoff: &b, Services: []Service{ServiceNetwork}})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s, want about the 400ms deadline", took)
	}
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
	if hits.Load() > 2 {
		t.Errorf("the hanging endpoint was asked %d times", hits.Load())
	}
}

// A cloud's redirect is handed back, never followed: it could send the token anywhere.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	cloud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v3/auth/tokens", http.StatusTemporaryRedirect)
	}))
	defer cloud.Close()
	c, err := newHTTPClient(&CloudConfig{Name: "openstack"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, cloud.URL+"/v3/auth/tokens", strings.NewReader("{}"))
	req.Header.Set("X-Auth-Token", "secret")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || elsewhere.Load() != 0 {
		t.Errorf("status %d, %d requests reached the redirect's target: want the 307 back and none", resp.StatusCode, elsewhere.Load())
	}
}

// A body without end is cut at MaxResponseBytes with an error, not read into memory.
func TestResponseBodyIsBounded(t *testing.T) {
	cloud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 1<<20)
		for range MaxResponseBytes>>20 + 2 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer cloud.Close()
	c, err := newHTTPClient(&CloudConfig{Name: "openstack"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(cloud.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if !errors.Is(err, ErrResponseTooLarge) || n > MaxResponseBytes {
		t.Errorf("read %d bytes, err %v: want at most %d and ErrResponseTooLarge", n, err, MaxResponseBytes)
	}
}
