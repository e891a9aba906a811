package openstack

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestPickMicroversion(t *testing.T) {
	mv := mustMicroversion
	tests := []struct {
		serverMin, serverMax, oursMin, oursMax string
		want                                   string // "" for an error
	}{
		{"2.1", "2.93", "2.52", "2.93", "2.93"}, // Zed
		{"2.1", "2.96", "2.52", "2.93", "2.93"}, // newer cloud: ours
		{"2.1", "2.79", "2.52", "2.93", "2.79"}, // Wallaby: the cloud's
		{"2.1", "2.52", "2.52", "2.93", "2.52"},
		{"2.1", "2.51", "2.52", "2.93", ""},  // too old
		{"2.95", "2.99", "2.52", "2.93", ""}, // dropped what we speak
		{"2.1", "3.2", "2.52", "2.93", "2.93"},
	}
	for _, tt := range tests {
		got, err := PickMicroversion(mv(tt.serverMin), mv(tt.serverMax), mv(tt.oursMin), mv(tt.oursMax))
		if tt.want == "" {
			if err == nil {
				t.Errorf("Pick(%s..%s) = %s, want an error", tt.serverMin, tt.serverMax, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("Pick(%s..%s) = %s, %v; want %s", tt.serverMin, tt.serverMax, got, err, tt.want)
		}
	}
}

func TestParseMicroversion(t *testing.T) {
	for s, want := range map[string]Microversion{"2.93": {2, 93}, "v2.26": {2, 26}, " 2.1 ": {2, 1}} {
		if got, err := ParseMicroversion(s); err != nil || got != want {
			t.Errorf("ParseMicroversion(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "2", "two.one", "2.x", "2.-1", "latest"} {
		if _, err := ParseMicroversion(s); err == nil {
			t.Errorf("ParseMicroversion(%q) accepted", s)
		}
	}
	if !mustMicroversion("2.9").Less(mustMicroversion("2.10")) {
		t.Errorf("2.9 is not before 2.10")
	}
}

// The client asks Nova's version document and then sends the chosen microversion.
func TestComputeMicroversionNegotiation(t *testing.T) {
	for _, tt := range []struct{ advertised, want string }{{"2.93", "2.93"}, {"2.96", "2.93"}, {"2.60", "2.60"}} {
		c := newTestCloud(t)
		c.novaVersion = tt.advertised
		var header string
		c.handle("GET "+testServerPath, func(w http.ResponseWriter, r *http.Request) {
			header = r.Header.Get("X-OpenStack-Nova-API-Version")
			writeJSON(w, 200, novaServerBody)
		})
		cl := c.clients(Options{})
		if got := cl.Compute.Microversion(); got != tt.want {
			t.Errorf("advertised %s: negotiated %s, want %s", tt.advertised, got, tt.want)
		}
		if _, err := cl.Compute.GetServer(context.Background(), testServerID); err != nil {
			t.Fatal(err)
		}
		if header != tt.want {
			t.Errorf("advertised %s: request carried microversion %q, want %s", tt.advertised, header, tt.want)
		}
		if got := cl.LoadBalancer.APIVersion(); got != "2.26" {
			t.Errorf("Octavia API version %q, want 2.26", got)
		}
	}
}

func TestComputeTooOld(t *testing.T) {
	c := newTestCloud(t)
	c.novaVersion = "2.38"
	_, err := NewFromCloudsYAML(context.Background(), c.cloudsYAML(), "customer", Options{Backoff: &fastBackoff})
	if err == nil || !strings.Contains(err.Error(), "up to 2.38") || !strings.Contains(err.Error(), ComputeMinMicroversion) {
		t.Errorf("err = %v, want a refusal naming 2.38 and %s", err, ComputeMinMicroversion)
	}
}

// An unversioned compute endpoint serves the list of versions; v2.1 is the one.
func TestComputeVersionList(t *testing.T) {
	c := newTestCloud(t)
	c.endpoints["compute"] = c.srv.URL + "/nova/"
	c.handle("GET /nova/{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"versions": [
			{"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z", "links": []},
			{"id": "v2.1", "status": "CURRENT", "version": "2.90", "min_version": "2.1", "updated": "2013-07-23T11:33:21Z", "links": []}]}`)
	})
	if got := c.clients(Options{Services: []Service{ServiceCompute}}).Compute.Microversion(); got != "2.90" {
		t.Errorf("negotiated %s, want 2.90", got)
	}
}
