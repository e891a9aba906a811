package openstack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCloud is an httptest server that answers like Keystone (a token with a catalog that
// points back at itself), with the version documents of Nova and Octavia. Tests add the
// handlers of the calls they make. Shapes follow the OpenStack API reference and
// gophercloud's own fixtures (openstack/identity/v3/tokens/testing, openstack/utils/testing).
type testCloud struct {
	t   *testing.T
	srv *httptest.Server
	mux *http.ServeMux

	mu sync.Mutex
	// novaVersion is the "version" (max microversion) Nova's v2.1 document advertises.
	novaVersion string
	// endpoints overrides catalog URLs by service type; "" drops the service.
	endpoints map[string]string
	// tokenBody replaces the token document (trust or application credential scopes).
	tokenBody string
	// authBodies records the bodies POSTed to /v3/auth/tokens.
	authBodies []string
	// refuseAuth makes Keystone answer 401 to every authentication.
	refuseAuth bool
	requests   atomic.Int32
}

const testProject = "a99e9b4e620e4db09a2dfb6e42a01e66"

func newTestCloud(t *testing.T) *testCloud {
	t.Helper()
	c := &testCloud{t: t, mux: http.NewServeMux(), novaVersion: "2.93", endpoints: map[string]string{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		c.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	c.mux.HandleFunc("POST /identity/v3/auth/tokens", c.issueToken)
	c.mux.HandleFunc("GET /compute/v2.1/{$}", func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		v := c.novaVersion
		c.mu.Unlock()
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"version": {"id": "v2.1", "status": "CURRENT", "version": %q, "min_version": "2.1",
			"updated": "2013-07-23T11:33:21Z", "links": [{"rel": "self", "href": "%s/compute/v2.1/"}]}}`, v, c.srv.URL))
	})
	c.mux.HandleFunc("GET /load-balancer/{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"versions": [
			{"id": "v2.0", "status": "SUPPORTED", "updated": "2016-12-11T00:00:00Z", "links": [{"href": "%[1]s/load-balancer/v2", "rel": "self"}]},
			{"id": "v2.25", "status": "SUPPORTED", "updated": "2022-07-04T00:00:00Z", "links": [{"href": "%[1]s/load-balancer/v2", "rel": "self"}]},
			{"id": "v2.26", "status": "CURRENT", "updated": "2022-08-29T00:00:00Z", "links": [{"href": "%[1]s/load-balancer/v2", "rel": "self"}]}]}`, c.srv.URL))
	})
	// gophercloud finds each unversioned endpoint's versions before using it.
	c.mux.HandleFunc("GET /network/{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"href": "%s/network/v2.0/", "rel": "self"}]}]}`, c.srv.URL))
	})
	c.mux.HandleFunc("GET /image/{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"versions": [
			{"id": "v2.9", "status": "CURRENT", "links": [{"rel": "self", "href": "%[1]s/image/v2/"}]},
			{"id": "v2.0", "status": "SUPPORTED", "links": [{"rel": "self", "href": "%[1]s/image/v2/"}]}]}`, c.srv.URL))
	})
	return c
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Openstack-Request-Id", "req-5d2d3f10-6c55-4b3a-9c2a-0c1e2d3f4a5b")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (c *testCloud) authBody(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i >= len(c.authBodies) {
		return ""
	}
	return c.authBodies[i]
}

func (c *testCloud) handle(pattern string, h http.HandlerFunc) { c.mux.HandleFunc(pattern, h) }

// respond registers a handler that always answers status and body.
func (c *testCloud) respond(pattern string, status int, body string) {
	c.handle(pattern, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, status, body) })
}

func (c *testCloud) endpoint(service, def string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.endpoints[service]; ok {
		return u
	}
	return c.srv.URL + def
}

func (c *testCloud) issueToken(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.authBodies = append(c.authBodies, string(b))
	body, refuse := c.tokenBody, c.refuseAuth
	c.mu.Unlock()
	if refuse {
		writeJSON(w, http.StatusUnauthorized, keystone401)
		return
	}
	if body == "" {
		body = `"project": {"domain": {"id": "default", "name": "Default"}, "id": "` + testProject + `", "name": "customer"}`
	}
	var catalog []string
	for _, s := range []struct{ typ, name, path string }{
		{"compute", "nova", "/compute/v2.1/" + testProject},
		{"network", "neutron", "/network"},
		{"load-balancer", "octavia", "/load-balancer"},
		{"image", "glance", "/image"},
	} {
		u := c.endpoint(s.typ, s.path)
		if u == "" {
			continue
		}
		catalog = append(catalog, fmt.Sprintf(`{"type": %q, "name": %q, "id": "%s-id", "endpoints": [
			{"url": %q, "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "id": "%s-public"},
			{"url": %q, "interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "id": "%s-internal"}]}`,
			s.typ, s.name, s.name, u, s.name, u, s.name))
	}
	w.Header().Set("X-Subject-Token", "gAAAAABkYJ1ZtestToken")
	writeJSON(w, http.StatusCreated, fmt.Sprintf(`{"token": {"is_domain": false, "methods": ["password"],
		"roles": [{"id": "434426788d5a451faf763b0e6db5aefb", "name": "member"}],
		"expires_at": %q, "issued_at": "2017-06-03T01:19:49.000000Z",
		%s,
		"catalog": [%s],
		"user": {"domain": {"id": "default", "name": "Default"}, "id": "0fe36e73809d46aeae6705c39077b1b3", "name": "kubeseed"},
		"audit_ids": ["ysSI0bEWR0Gmrp4LHL9LFw"]}}`,
		time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z"), body, strings.Join(catalog, ",")))
}

// cloudsYAML is a clouds.yaml with a password cloud "customer" pointing at the test cloud.
func (c *testCloud) cloudsYAML() []byte {
	return []byte(`clouds:
  customer:
    auth:
      auth_url: ` + c.srv.URL + `/identity/v3
      username: kubeseed
      password: s3cr3t-Passw0rd
      user_domain_name: Default
      project_id: ` + testProject + `
    region_name: RegionOne
    interface: public
`)
}

// fastBackoff retries quickly so that tests of retries take milliseconds.
var fastBackoff = Backoff{Initial: time.Millisecond, Factor: 2, Max: 4 * time.Millisecond, Retries: 3}

func (c *testCloud) clients(opts Options) *Clients {
	c.t.Helper()
	if opts.Backoff == nil {
		b := fastBackoff
		opts.Backoff = &b
	}
	cl, err := NewFromCloudsYAML(context.Background(), c.cloudsYAML(), "customer", opts)
	if err != nil {
		c.t.Fatalf("NewFromCloudsYAML: %v", err)
	}
	c.requests.Store(0)
	return cl
}

// countRequests registers a handler that answers from the list of responses in turn
// (the last one for ever after) and counts the calls.
func (c *testCloud) sequence(pattern string, responses ...response) *atomic.Int32 {
	var n atomic.Int32
	c.handle(pattern, func(w http.ResponseWriter, _ *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(responses) {
			i = len(responses) - 1
		}
		writeJSON(w, responses[i].status, responses[i].body)
	})
	return &n
}

type response struct {
	status int
	body   string
}

// Bodies of real responses, from the API references and the services' exception classes.
const (
	novaServerBody = `{"server": {"id": "9e5476bd-a4ec-4653-93d6-72c93aa682ba", "name": "acme-pool-a-0", "status": "ACTIVE",
		"tags": ["kubeseed.io:pool-uid=5c0b3f2e-1b8e-4a59-8f0e-7e3a1c2d4b6f"], "metadata": {"kubeseed.io-pool": "acme-pool-a"},
		"addresses": {"private": [{"OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:9e:89:be", "version": 4, "addr": "10.0.0.31", "OS-EXT-IPS:type": "fixed"}]},
		"OS-EXT-AZ:availability_zone": "nova", "created": "2014-09-25T13:04:41Z", "flavor": {"original_name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20}}}`
	novaNotFound     = `{"itemNotFound": {"code": 404, "message": "Instance 9e5476bd-a4ec-4653-93d6-72c93aa682ba could not be found."}}`
	novaQuotaBody    = `{"forbidden": {"code": 403, "message": "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"}}`
	novaComputeFault = `{"computeFault": {"code": 500, "message": "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class 'oslo_db.exception.DBConnectionError'>"}}`
	neutronNotFound  = `{"NeutronError": {"type": "PortNotFound", "message": "Port 65c0ee9f-d634-4522-8954-51021b570b0d could not be found.", "detail": ""}}`
	neutronQuotaBody = `{"NeutronError": {"type": "OverQuota", "message": "Quota exceeded for resources: ['port'].", "detail": ""}}`
	octaviaImmutable = `{"faultcode": "Client", "faultstring": "Load Balancer 607226db-27ef-4d41-ae89-f2a800e9c2db is immutable and cannot be updated.", "debuginfo": null}`
	octaviaQuotaBody = `{"faultcode": "Client", "faultstring": "Quota has been met for resources: Load Balancer", "debuginfo": null}`
	keystone401      = `{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}`
)
