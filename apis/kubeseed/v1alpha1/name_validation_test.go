//go:build envtest

package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// TestTenantClusterNames: a TenantCluster's name makes its objects' and its control-plane
// namespace's names, so the API refuses one that cannot (rules on the object's root carry
// no field path: their message names it).
func TestTenantClusterNames(t *testing.T) {
	ns := newNamespace(t)
	for _, c := range []struct {
		name, msg string // msg empty: accepted
	}{
		{name: "a-" + strings.Repeat("b", 38)},
		{name: strings.Repeat("a", 41), msg: "at most 40 characters"},
		{name: "web.prod", msg: "must be a DNS-1035 label"},
		{name: "1st", msg: "must be a DNS-1035 label"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := k8sClient.Create(context.Background(), tenant(ns, c.name, func(*v1alpha1.TenantCluster) {}))
			if c.msg == "" {
				if err != nil {
					t.Fatalf("refused a valid name: %v", err)
				}
				return
			}
			expectRefusal(t, err, "metadata.name", c.msg)
		})
	}
}
