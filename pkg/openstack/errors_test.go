package openstack

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestErrorMapping sends real calls through gophercloud to a server that answers as
// Nova, Neutron, Octavia or Glance do, and checks the kind each answer maps to.
func TestErrorMapping(t *testing.T) {
	const (
		serverPath = "/compute/v2.1/" + testProject + "/servers/9e5476bd-a4ec-4653-93d6-72c93aa682ba"
		portPath   = "/network/v2.0/ports/65c0ee9f-d634-4522-8954-51021b570b0d"
		netPath    = "/network/v2.0/networks/4e8e5957-649f-477b-9e5b-f1f75b21c03c"
		lbPath     = "/load-balancer/v2.0/lbaas/loadbalancers"
	)
	getServer := func(ctx context.Context, c *Clients) error {
		_, err := c.Compute.GetServer(ctx, "9e5476bd-a4ec-4653-93d6-72c93aa682ba")
		return err
	}
	createServer := func(ctx context.Context, c *Clients) error {
		_, err := c.Compute.CreateServer(ctx, ServerSpec{Name: "acme-pool-a-0", FlavorID: "1", ImageID: "i", Networks: []ServerNetwork{{NetworkID: "n"}}})
		return err
	}
	getPort := func(ctx context.Context, c *Clients) error {
		_, err := c.Network.GetPort(ctx, "65c0ee9f-d634-4522-8954-51021b570b0d")
		return err
	}
	createPort := func(ctx context.Context, c *Clients) error {
		_, err := c.Network.CreatePort(ctx, PortSpec{Name: "p", NetworkID: "n"})
		return err
	}
	deleteNetwork := func(ctx context.Context, c *Clients) error {
		return c.Network.DeleteNetwork(ctx, "4e8e5957-649f-477b-9e5b-f1f75b21c03c")
	}
	createLB := func(ctx context.Context, c *Clients) error {
		_, err := c.LoadBalancer.CreateLoadBalancer(ctx, LBSpec{Name: "acme-apiserver", VIPSubnetID: "s"})
		return err
	}
	createListener := func(ctx context.Context, c *Clients) error {
		_, err := c.LoadBalancer.CreateListener(ctx, ListenerSpec{Name: "l", LoadBalancerID: "lb", Protocol: "TCP", Port: 6443})
		return err
	}
	getLB := func(ctx context.Context, c *Clients) error {
		_, err := c.LoadBalancer.GetLoadBalancer(ctx, "607226db-27ef-4d41-ae89-f2a800e9c2db")
		return err
	}

	tests := []struct {
		name    string
		pattern string
		status  int
		body    string
		call    func(context.Context, *Clients) error
		kind    error
		quota   string // expected QuotaExceededError.Resource when kind is ErrQuotaExceeded
		message string // the message must contain this
	}{
		{"nova 404", "GET " + serverPath, 404, novaNotFound, getServer, ErrNotFound, "", "Instance 9e5476bd-a4ec-4653-93d6-72c93aa682ba could not be found."},
		{"nova 400", "POST /compute/v2.1/" + testProject + "/servers", 400,
			`{"badRequest": {"code": 400, "message": "Invalid key_name provided."}}`, createServer, ErrInvalidInput, "", "Invalid key_name provided."},
		{"nova quota instances", "POST /compute/v2.1/" + testProject + "/servers", 403, novaQuotaBody, createServer, ErrQuotaExceeded, "instances", "already used 10 of 10 instances"},
		{"nova quota cores and ram", "POST /compute/v2.1/" + testProject + "/servers", 403,
			`{"forbidden": {"code": 403, "message": "Quota exceeded for cores, ram: Requested 4, 8192, but already used 20, 51200 of 20, 51200 cores, ram"}}`,
			createServer, ErrQuotaExceeded, "cores,ram", "Quota exceeded for cores, ram"},
		{"nova legacy 413 overLimit", "POST /compute/v2.1/" + testProject + "/servers", 413,
			`{"overLimit": {"code": 413, "message": "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances", "retryAfter": "0"}}`,
			createServer, ErrQuotaExceeded, "instances", ""},
		{"nova server group quota", "POST /compute/v2.1/" + testProject + "/servers", 403,
			`{"forbidden": {"code": 403, "message": "Quota exceeded, too many servers in group"}}`, createServer, ErrQuotaExceeded, "server_group_members", ""},
		{"nova policy 403", "GET " + serverPath, 403,
			`{"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:servers:show to be performed."}}`, getServer, ErrForbidden, "", "Policy doesn't allow"},
		{"nova 409", "POST /compute/v2.1/" + testProject + "/servers", 409,
			`{"conflictingRequest": {"code": 409, "message": "Port 65c0ee9f-d634-4522-8954-51021b570b0d is still in use."}}`, createServer, ErrConflict, "", "still in use"},
		{"nova 500", "GET " + serverPath, 500, novaComputeFault, getServer, ErrTransient, "", "Unexpected API Error"},
		{"nova 501 is no transient", "GET " + serverPath, 501,
			`{"notImplemented": {"code": 501, "message": "Not implemented."}}`, getServer, nil, "", "Not implemented."},
		{"neutron 404", "GET " + portPath, 404, neutronNotFound, getPort, ErrNotFound, "", "Port 65c0ee9f-d634-4522-8954-51021b570b0d could not be found."},
		{"neutron OverQuota", "POST /network/v2.0/ports", 409, neutronQuotaBody, createPort, ErrQuotaExceeded, "port", "Quota exceeded for resources: ['port']."},
		{"neutron OverQuota several", "POST /network/v2.0/ports", 409,
			`{"NeutronError": {"type": "OverQuota", "message": "Quota exceeded for resources: ['port', 'security_group'].", "detail": ""}}`,
			createPort, ErrQuotaExceeded, "port,security_group", ""},
		{"neutron NetworkInUse", "DELETE " + netPath, 409,
			`{"NeutronError": {"type": "NetworkInUse", "message": "Unable to complete operation on network 4e8e5957-649f-477b-9e5b-f1f75b21c03c. There are one or more ports still in use on the network.", "detail": ""}}`,
			deleteNetwork, ErrConflict, "", "ports still in use"},
		{"neutron 400", "POST /network/v2.0/ports", 400,
			`{"NeutronError": {"type": "HTTPBadRequest", "message": "Invalid input for operation: 'x' is not a valid IP address.", "detail": ""}}`,
			createPort, ErrInvalidInput, "", "not a valid IP address"},
		{"neutron policy 403", "POST /network/v2.0/ports", 403,
			`{"NeutronError": {"type": "HTTPForbidden", "message": "(rule:create_port and rule:create_port:mac_address) is disallowed by policy", "detail": ""}}`,
			createPort, ErrForbidden, "", "disallowed by policy"},
		{"neutron 503 from a proxy", "GET " + portPath, 503,
			"<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>", getPort, ErrTransient, "", "No server is available to handle this request."},
		{"octavia quota", "POST " + lbPath, 403, octaviaQuotaBody, createLB, ErrQuotaExceeded, "load_balancer", "Quota has been met for resources: Load Balancer"},
		{"octavia immutable", "POST /load-balancer/v2.0/lbaas/listeners", 409, octaviaImmutable, createListener, ErrTransient, "", "is immutable and cannot be updated"},
		{"octavia pending state", "POST /load-balancer/v2.0/lbaas/listeners", 409,
			`{"faultcode": "Client", "faultstring": "Invalid state PENDING_UPDATE of loadbalancer resource 607226db-27ef-4d41-ae89-f2a800e9c2db", "debuginfo": null}`,
			createListener, ErrTransient, "", "PENDING_UPDATE"},
		{"octavia duplicate listener", "POST /load-balancer/v2.0/lbaas/listeners", 409,
			`{"faultcode": "Client", "faultstring": "Another Listener on this Load Balancer is already using protocol_port 6443", "debuginfo": null}`,
			createListener, ErrConflict, "", "already using protocol_port 6443"},
		{"octavia 404", "GET " + lbPath + "/607226db-27ef-4d41-ae89-f2a800e9c2db", 404,
			`{"faultcode": "Client", "faultstring": "Load Balancer 607226db-27ef-4d41-ae89-f2a800e9c2db not found.", "debuginfo": null}`,
			getLB, ErrNotFound, "", "not found."},
		{"octavia 400", "POST " + lbPath, 400,
			`{"faultcode": "Client", "faultstring": "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.", "debuginfo": null}`,
			createLB, ErrInvalidInput, "", "Validation failure"},
		{"octavia project busy", "POST " + lbPath, 503,
			`{"faultcode": "Server", "faultstring": "Project busy.  Unable to lock the project.  Please try again.", "debuginfo": null}`,
			createLB, ErrTransient, "", "Project busy"},
		{"glance 404 html", "GET /image/v2/images", 404,
			"<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  The resource could not be found.<br /><br />\n\n\n </body>\n</html>",
			func(ctx context.Context, c *Clients) error {
				_, err := c.Compute.GetImage(ctx, "ubuntu-24.04")
				return err
			}, ErrNotFound, "", "The resource could not be found."},
		{"429", "GET " + portPath, 429, `{"message": "Too many requests"}`, getPort, ErrTransient, "", "Too many requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCloud(t)
			c.respond(tt.pattern, tt.status, tt.body)
			b := Backoff{Retries: 0}
			err := tt.call(context.Background(), c.clients(Options{Backoff: &b}))
			if err == nil {
				t.Fatal("call succeeded, want an error")
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("error %q: want kind %v", err, tt.kind)
			}
			for _, k := range []error{ErrNotFound, ErrConflict, ErrInvalidInput, ErrTransient, ErrForbidden, ErrQuotaExceeded} {
				if !errors.Is(tt.kind, k) && errors.Is(err, k) {
					t.Errorf("error %q is also of kind %v", err, k)
				}
			}
			res, isQuota := IsQuota(err)
			if wantQuota := errors.Is(tt.kind, ErrQuotaExceeded); isQuota != wantQuota || res != tt.quota {
				t.Errorf("IsQuota = %q, %v; want %q, %v", res, isQuota, tt.quota, wantQuota)
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %q is no *APIError", err)
			}
			if apiErr.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", apiErr.StatusCode, tt.status)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
			if apiErr.RequestID == "" || !strings.Contains(err.Error(), apiErr.RequestID) {
				t.Errorf("error %q lacks the request ID", err)
			}
			if strings.Contains(err.Error(), c.srv.URL) {
				t.Errorf("error %q names the cloud's host", err)
			}
		})
	}
}

func TestPredicates(t *testing.T) {
	notFound := NewError(ErrNotFound, "gone")
	wrapped := errors.Join(errors.New("context"), notFound)
	if !IsNotFound(wrapped) || IgnoreNotFound(wrapped) != nil {
		t.Errorf("IsNotFound/IgnoreNotFound miss a wrapped 404")
	}
	other := NewError(ErrConflict, "busy")
	if IgnoreNotFound(other) == nil || !IsConflict(other) || IsNotFound(other) {
		t.Errorf("a conflict is treated as not found")
	}
	q := NewQuotaError("instances")
	if r, ok := IsQuota(q); !ok || r != "instances" || !errors.Is(q, ErrQuotaExceeded) {
		t.Errorf("IsQuota(%v) = %q, %v", q, r, ok)
	}
	if !IsTransient(TimeoutError()) || !errors.Is(TimeoutError(), context.DeadlineExceeded) {
		t.Errorf("TimeoutError is not transient or not a deadline")
	}
	for _, err := range []error{nil, errors.New("plain")} {
		if IsNotFound(err) || IsTransient(err) || IsInvalidInput(err) || IsUnauthorized(err) || IsForbidden(err) || IsProvisioningFailed(err) {
			t.Errorf("%v matched a kind", err)
		}
		if _, ok := IsQuota(err); ok {
			t.Errorf("%v is a quota", err)
		}
	}
}

func TestQuotaMessages(t *testing.T) {
	for msg, want := range map[string]string{
		"Quota exceeded for instances: Requested 1, but already used 10 of 10 instances": "instances",
		"Quota exceeded for ram: Requested 4096, but already used 51200 of 51200 ram":    "ram",
		"Quota exceeded, too many server groups.":                                        "server_groups",
		"Maximum number of key pairs exceeded":                                           "key_pairs",
		"Maximum number of metadata items exceeds 128":                                   "metadata_items",
		"Quota exceeded for resources: ['floatingip'].":                                  "floatingip",
		"Quota has been met for resources: Health Monitor":                               "health_monitor",
		"Quota has been met.":                                                            "",
	} {
		got, ok := quotaResource(errorBody{message: msg})
		if !ok || got != want {
			t.Errorf("quotaResource(%q) = %q, %v; want %q", msg, got, ok, want)
		}
	}
	for _, msg := range []string{"Policy doesn't allow os_compute_api:servers:create to be performed.", "Forbidden"} {
		if got, ok := quotaResource(errorBody{message: msg}); ok {
			t.Errorf("quotaResource(%q) = %q, want no quota", msg, got)
		}
	}
	if got, ok := quotaResource(errorBody{message: "over", neutronType: "OverQuota"}); !ok || got != "" {
		t.Errorf("a bare OverQuota = %q, %v", got, ok)
	}
}

// refusingTransport refuses connections for the paths it is given, as a stopped service
// would, and counts the attempts.
type refusingTransport struct {
	prefix string
	n      atomic.Int32
}

func (rt *refusingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, rt.prefix) {
		rt.n.Add(1)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestConnectionRefused(t *testing.T) {
	c := newTestCloud(t)
	rt := &refusingTransport{prefix: "/network/v2.0/"}
	cl := c.clients(Options{Transport: rt})
	_, err := cl.Network.CreatePort(context.Background(), PortSpec{Name: "p", NetworkID: "n"})
	if !IsTransient(err) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connection refused: %v, want ErrTransient", err)
	}
	// Even a POST is sent again: a refused connection created nothing.
	if want := int32(fastBackoff.Retries + 1); rt.n.Load() != want {
		t.Errorf("%d attempts, want %d", rt.n.Load(), want)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 0 || apiErr.Method != http.MethodPost || apiErr.Path != "/network/v2.0/ports" {
		t.Errorf("transport error = %#v", apiErr)
	}
}

// A long message is cut after redaction, so no piece of a secret survives the cut.
func TestRedactBeforeTruncate(t *testing.T) {
	secret := "appcred-Secret-2"
	body := `{"error": {"code": 401, "message": "` + strings.Repeat("x", MaxMessage-5) + secret + `", "title": "Unauthorized"}}`
	err := fromResponse("POST", "https://keystone/v3/auth/tokens", 401, []byte(body), http.Header{}, newRedactor(secret))
	if msg := err.Error(); strings.Contains(msg, secret[:5]) || !IsUnauthorized(err) {
		t.Errorf("message keeps part of the secret or lost its kind: ...%s", msg[len(msg)-40:])
	}
}
