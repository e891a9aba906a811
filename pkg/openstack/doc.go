// Package openstack is kubeseed's layer over gophercloud v2: one small interface per
// OpenStack service the product uses (Identity, Compute, Network, LoadBalancer, and
// ObjectStore where the cloud has Swift), built
// from a customer's clouds.yaml by NewFromCloudsYAML, with errors mapped to kinds a
// controller can act on (ErrNotFound, ErrConflict, ErrInvalidInput, ErrTransient,
// *QuotaExceededError...) and transient failures retried inside the client with bounded,
// context-aware backoff. Fake implements every interface in memory for fast tests.
//
// Every call takes a context and is bounded by it. Credentials never appear in errors or
// logs. docs/openstack.md describes the interfaces, error kinds, tags and microversions.
//
// This package is internal to kubeseed: no compatibility guarantee.
package openstack
