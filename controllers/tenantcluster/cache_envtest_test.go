//go:build envtest

package tenantcluster_test

import (
	"context"
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// seedWatches records every watch the suite's manager opens on the seed.
var seedWatches = &watchRecorder{}

type watch struct{ resource, labelSelector, accept string }

type watchRecorder struct {
	mu      sync.Mutex
	watches []watch
}

func (w *watchRecorder) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if q := req.URL.Query(); q.Get("watch") == "true" {
			w.mu.Lock()
			w.watches = append(w.watches, watch{resource: path.Base(req.URL.Path), labelSelector: q.Get("labelSelector"), accept: req.Header.Get("Accept")})
			w.mu.Unlock()
		}
		return next.RoundTrip(req)
	})
}

func (w *watchRecorder) of(resource string) []watch {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []watch
	for _, wt := range w.watches {
		if wt.resource == resource {
			out = append(out, wt)
		}
	}
	return out
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestManagerCachesOnlyWhatItNeeds: customers write objects into their namespaces of the
// seed, as many and as large as their quota allows, and none may grow the manager. It
// watches Secrets by their metadata only (none of their data sits in its memory; it reads
// a Secret it needs from the API, as every other test of this package shows), and the
// kinds it renders only where they carry kubeseed's label.
func TestManagerCachesOnlyWhatItNeeds(t *testing.T) {
	// A tenant whose certificates the manager has read: a read of a Secret from a cache
	// would have opened a watch of Secrets with their data.
	tc := small(newNamespace(t), "cache")
	if err := k8sClient.Create(context.Background(), tc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tc, "certificates issued", func(tc *v1alpha1.TenantCluster) bool {
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.CertificatesReadyCondition)
	})
	metadataOnly := func(w watch) bool { return strings.Contains(w.accept, "as=PartialObjectMetadata") }
	kubeseeds := func(w watch) bool { return w.labelSelector == "app.kubernetes.io/part-of=kubeseed" }
	for _, tt := range []struct {
		resource string
		want     func(watch) bool
		what     string
	}{
		{"secrets", metadataOnly, "with their data"},
		{"configmaps", kubeseeds, "not only kubeseed's"},
		{"services", kubeseeds, "not only kubeseed's"},
		{"deployments", kubeseeds, "not only kubeseed's"},
		{"statefulsets", kubeseeds, "not only kubeseed's"},
	} {
		t.Run(tt.resource, func(t *testing.T) {
			var seen []watch
			if seen = seedWatches.of(tt.resource); len(seen) == 0 {
				t.Fatalf("the manager opened no watch of %s: their changes would wake no tenant", tt.resource)
			}
			for _, w := range seen {
				if !tt.want(w) {
					t.Errorf("the manager watches %s %s (labelSelector %q, Accept %q): its cache would hold what customers write", tt.resource, tt.what, w.labelSelector, w.accept)
				}
			}
		})
	}
}
