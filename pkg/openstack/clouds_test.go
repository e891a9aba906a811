package openstack

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/gophercloud/gophercloud/v2"
)

const cloudsYAML = `
clouds:
  admin:
    auth:
      auth_url: https://keystone.example.com:5000/v3
      username: admin
      password: admin-Secret-1
      user_domain_name: Default
      project_name: admin
      project_domain_name: Default
    region_name: RegionOne
    interface: internal
    identity_api_version: 3
  customer:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example.com:5000/v3
      application_credential_id: 21dced0fd20347869b93710d2b98aae0
      application_credential_secret: appcred-Secret-2
    regions:
      - name: RegionTwo
  delegated:
    auth:
      auth_url: https://keystone.example.com:5000/v3
      user_id: 0fe36e73809d46aeae6705c39077b1b3
      password: trustee-Secret-3
      trust_id: de3b8b6f1a1b4f8e9b0c6d6c2f6e4a10
    verify: false
`

func TestParseCloudsYAML(t *testing.T) {
	admin, err := ParseCloudsYAML([]byte(cloudsYAML), "admin")
	if err != nil {
		t.Fatal(err)
	}
	ao := admin.authOptions()
	if admin.Method() != AuthPassword || ao.Username != "admin" || ao.Password != "admin-Secret-1" || ao.DomainName != "Default" ||
		ao.Scope == nil || ao.Scope.ProjectName != "admin" || ao.Scope.DomainName != "Default" || !ao.AllowReauth {
		t.Errorf("admin auth options = %+v, scope %+v", ao, ao.Scope)
	}
	if admin.Region() != "RegionOne" || admin.Availability() != gophercloud.AvailabilityInternal {
		t.Errorf("admin region %q, interface %q", admin.Region(), admin.Availability())
	}

	customer, err := ParseCloudsYAML([]byte(cloudsYAML), "customer")
	if err != nil {
		t.Fatal(err)
	}
	ao = customer.authOptions()
	if customer.Method() != AuthApplicationCredential || ao.ApplicationCredentialID != "21dced0fd20347869b93710d2b98aae0" ||
		ao.ApplicationCredentialSecret != "appcred-Secret-2" || ao.Scope != nil || ao.Password != "" {
		t.Errorf("customer auth options = %+v", ao)
	}
	if customer.Region() != "RegionTwo" || customer.Availability() != gophercloud.AvailabilityPublic {
		t.Errorf("customer region %q, interface %q", customer.Region(), customer.Availability())
	}

	delegated, err := ParseCloudsYAML([]byte(cloudsYAML), "delegated")
	if err != nil {
		t.Fatal(err)
	}
	ao = delegated.authOptions()
	if ao.UserID == "" || ao.DomainName != "" || ao.Scope == nil || ao.Scope.TrustID != "de3b8b6f1a1b4f8e9b0c6d6c2f6e4a10" {
		t.Errorf("trust auth options = %+v, scope %+v", ao, ao.Scope)
	}
	if delegated.Verify == nil || *delegated.Verify {
		t.Errorf("verify: false not read")
	}

	// Nothing prints a secret, however a config is formatted.
	for _, c := range []*CloudConfig{admin, customer, delegated} {
		for _, s := range []string{fmt.Sprintf("%v", *c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c.Auth), fmt.Sprint(c.Auth)} {
			if strings.Contains(s, "Secret") {
				t.Errorf("formatted config shows a secret: %s", s)
			}
		}
	}
}

func TestParseCloudsYAMLErrors(t *testing.T) {
	tests := []struct {
		name, yaml, cloud string
		want              []string
	}{
		{"missing cloud", cloudsYAML, "acme", []string{`cloud "acme" not found`, "admin, customer, delegated"}},
		{"no clouds", "clouds: {}\n", "acme", []string{`cloud "acme" not found`, "no clouds"}},
		{"not yaml", "clouds: [\n", "acme", []string{"clouds.yaml"}},
		{"no name", cloudsYAML, "", []string{"no cloud name"}},
		{"no auth_url", "clouds:\n  c:\n    auth:\n      username: u\n      password: pw-Secret\n", "c", []string{`cloud "c"`, "auth_url"}},
		{"no password", "clouds:\n  c:\n    auth:\n      auth_url: https://k/v3\n      username: u\n      user_domain_name: d\n      project_id: p\n", "c", []string{"auth.password"}},
		{"no user domain", "clouds:\n  c:\n    auth:\n      auth_url: https://k/v3\n      username: u\n      password: pw-Secret\n      project_id: p\n", "c", []string{"user_domain"}},
		{"no project", "clouds:\n  c:\n    auth:\n      auth_url: https://k/v3\n      username: u\n      password: pw-Secret\n      user_domain_name: d\n", "c", []string{"project"}},
		{"app cred without secret", "clouds:\n  c:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://k/v3\n      application_credential_id: x\n", "c", []string{"application_credential_secret"}},
		{"app cred with trust", "clouds:\n  c:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://k/v3\n      application_credential_id: x\n      application_credential_secret: ac-Secret\n      trust_id: t\n", "c", []string{"trust_id"}},
		{"unsupported auth", "clouds:\n  c:\n    auth_type: v3oidcpassword\n    auth:\n      auth_url: https://k/v3\n", "c", []string{`auth_type "v3oidcpassword"`}},
		{"bad interface", "clouds:\n  c:\n    interface: private\n    auth:\n      auth_url: https://k/v3\n      token: tok-Secret\n", "c", []string{`interface "private"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCloudsYAML([]byte(tt.yaml), tt.cloud)
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			if !IsInvalidInput(err) {
				t.Errorf("err %q is not ErrInvalidInput", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "Secret") {
				t.Errorf("err %q shows a secret", err)
			}
		})
	}
}

// A failed authentication names the cloud and the principal, never the secret, even when
// whatever answers echoes the request (a misconfigured proxy, a debug endpoint).
func TestAuthErrorHidesSecret(t *testing.T) {
	for _, tt := range []struct{ name, yaml, secret string }{
		{"password", "", "s3cr3t-Passw0rd"},
		{"application credential", `clouds:
  customer:
    auth_type: v3applicationcredential
    auth:
      auth_url: %s/identity/v3
      application_credential_id: 21dced0fd20347869b93710d2b98aae0
      application_credential_secret: appcred-Secret-2
`, "appcred-Secret-2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCloud(t)
			c.mux = http.NewServeMux()
			c.handle("POST /identity/v3/auth/tokens", func(w http.ResponseWriter, r *http.Request) {
				body := make([]byte, r.ContentLength)
				_, _ = r.Body.Read(body)
				writeJSON(w, 401, fmt.Sprintf(`{"error": {"code": 401, "message": "The request you have made requires authentication. You sent: %s", "title": "Unauthorized"}}`,
					strings.ReplaceAll(string(body), `"`, `'`)))
			})
			yaml := c.cloudsYAML()
			if tt.yaml != "" {
				yaml = fmt.Appendf(nil, tt.yaml, c.srv.URL)
			}
			_, err := NewFromCloudsYAML(context.Background(), yaml, "customer", Options{Backoff: &fastBackoff})
			if err == nil {
				t.Fatal("authenticated, want a 401")
			}
			if !IsUnauthorized(err) {
				t.Errorf("err %q is not ErrUnauthorized", err)
			}
			msg := err.Error()
			if strings.Contains(msg, tt.secret) {
				t.Fatalf("error shows the secret: %s", msg)
			}
			for _, w := range []string{`cloud "customer"`, "401", "requires authentication", redacted} {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

func TestAuthMethods(t *testing.T) {
	c := newTestCloud(t)
	// Password, project-scoped.
	cl := c.clients(Options{})
	if body := c.authBody(0); !strings.Contains(body, `"password"`) || !strings.Contains(body, testProject) {
		t.Errorf("password auth request = %s", body)
	}
	scope, err := cl.Identity.Scope(context.Background())
	if err != nil || scope.ProjectID != testProject || scope.UserName != "kubeseed" || scope.ExpiresAt.IsZero() || len(scope.Roles) != 1 {
		t.Errorf("scope = %+v, %v", scope, err)
	}

	// Trust-scoped.
	c.tokenBody = `"OS-TRUST:trust": {"id": "de3b8b6f1a1b4f8e9b0c6d6c2f6e4a10", "impersonation": false,
		"trustee_user": {"id": "0fe36e73809d46aeae6705c39077b1b3"}, "trustor_user": {"id": "9349aff8be7545ac9d2f1d00999a23cd"}},
		"project": {"domain": {"id": "default", "name": "Default"}, "id": "` + testProject + `", "name": "customer"}`
	yaml := fmt.Sprintf("clouds:\n  t:\n    auth:\n      auth_url: %s/identity/v3\n      user_id: 0fe36e73809d46aeae6705c39077b1b3\n      password: trustee-Secret\n      trust_id: de3b8b6f1a1b4f8e9b0c6d6c2f6e4a10\n", c.srv.URL)
	cl, err = NewFromCloudsYAML(context.Background(), []byte(yaml), "t", Options{Backoff: &fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	if body := c.authBody(1); !strings.Contains(body, `"OS-TRUST:trust":{"id":"de3b8b6f1a1b4f8e9b0c6d6c2f6e4a10"}`) {
		t.Errorf("trust auth request = %s", body)
	}
	if scope, _ := cl.Identity.Scope(context.Background()); scope.TrustID != "de3b8b6f1a1b4f8e9b0c6d6c2f6e4a10" {
		t.Errorf("trust scope = %+v", scope)
	}

	// Application credential.
	c.tokenBody = `"application_credential": {"id": "21dced0fd20347869b93710d2b98aae0", "name": "kubeseed", "restricted": true},
		"project": {"domain": {"id": "default", "name": "Default"}, "id": "` + testProject + `", "name": "customer"}`
	yaml = fmt.Sprintf("clouds:\n  a:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: %s/identity/v3\n      application_credential_id: 21dced0fd20347869b93710d2b98aae0\n      application_credential_secret: ac-Secret\n", c.srv.URL)
	cl, err = NewFromCloudsYAML(context.Background(), []byte(yaml), "a", Options{Backoff: &fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	if body := c.authBody(2); !strings.Contains(body, `"application_credential"`) || strings.Contains(body, `"scope"`) {
		t.Errorf("application credential auth request = %s", body)
	}
	if scope, _ := cl.Identity.Scope(context.Background()); scope.ApplicationCredentialID != "21dced0fd20347869b93710d2b98aae0" {
		t.Errorf("application credential scope = %+v", scope)
	}
}

func TestMissingService(t *testing.T) {
	c := newTestCloud(t)
	c.endpoints["load-balancer"] = ""
	_, err := NewFromCloudsYAML(context.Background(), c.cloudsYAML(), "customer", Options{Backoff: &fastBackoff})
	if !errors.Is(err, ErrNoEndpoint) || !strings.Contains(err.Error(), "load-balancer") || !strings.Contains(err.Error(), "RegionOne") {
		t.Errorf("err = %v, want ErrNoEndpoint naming load-balancer and the region", err)
	}
	cl, err := NewFromCloudsYAML(context.Background(), c.cloudsYAML(), "customer",
		Options{Backoff: &fastBackoff, Services: []Service{ServiceCompute, ServiceNetwork}})
	if err != nil || cl.Compute == nil || cl.Network == nil || cl.LoadBalancer != nil {
		t.Errorf("without load-balancer: %+v, %v", cl, err)
	}
}

// The CA bundle of the Secret (Options.CACert) is what a TLS cloud is verified with;
// verify: false skips verification and is logged once per cloud.
func TestTLS(t *testing.T) {
	c := newTestCloud(t)
	tlsSrv := httptest.NewTLSServer(c.mux)
	t.Cleanup(tlsSrv.Close)
	c.srv.URL = tlsSrv.URL // the catalog and clouds.yaml now point at the TLS server
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	build := func(extra string, opts Options) error {
		opts.Backoff = &fastBackoff
		_, err := NewFromCloudsYAML(context.Background(), append(c.cloudsYAML(), []byte(extra)...), "customer", opts)
		return err
	}
	if err := build("", Options{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: err = %v, want a certificate error", err)
	}
	if err := build("", Options{CACert: ca}); err != nil {
		t.Errorf("with Options.CACert: %v", err)
	}
	if err := build("", Options{CACert: []byte("not PEM")}); !IsInvalidInput(err) {
		t.Errorf("cacert without PEM: err = %v", err)
	}
	var logged atomic.Int32
	logger := funcr.New(func(_, args string) {
		if strings.Contains(args, "verification is off") {
			logged.Add(1)
		}
	}, funcr.Options{})
	for range 3 {
		if err := build("    verify: false\n", Options{Logger: logger}); err != nil {
			t.Errorf("verify: false: %v", err)
		}
	}
	if logged.Load() != 1 {
		t.Errorf("verify: false logged %d times, want once", logged.Load())
	}
}
