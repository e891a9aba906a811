package pki_test

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// TestEndpointPending: without an endpoint, everything but the apiserver and tunnel
// serving certificates, which name it.
func TestEndpointPending(t *testing.T) {
	full := mustObjects(t, tenant(), endpoint)
	pending := mustObjects(t, tenant(), pki.Endpoint{})
	var want []client.Object
	for _, obj := range full {
		if n := obj.GetName(); n != controlplane.APIServerTLSSecret.Name("acme") && n != controlplane.TunnelServerSecret.Name("acme") {
			want = append(want, obj)
		}
	}
	if len(want) != len(full)-2 {
		t.Fatalf("full PKI lacks the apiserver or the tunnel server certificate")
	}
	if marshal(t, pending) != marshal(t, want) {
		t.Errorf("pending PKI differs from the full one by more than the serving certificates")
	}
}

func TestEndpointURL(t *testing.T) {
	for ep, want := range map[pki.Endpoint]string{
		{}:                                 "",
		{Host: "203.0.113.10", Port: 6443}: "https://203.0.113.10:6443",
		{Host: "2001:db8::1", Port: 31443}: "https://[2001:db8::1]:31443",
		{Host: "api.example", Port: 443}:   "https://api.example:443",
	} {
		if got := ep.URL(); got != want {
			t.Errorf("%+v.URL() = %q, want %q", ep, got, want)
		}
	}
}
