package controlplane_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

func TestRemovedAPIs(t *testing.T) {
	metrics := `# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="flowcontrol.apiserver.k8s.io",removed_release="1.36",resource="flowschemas",subresource="",version="v1beta3"} 1
apiserver_requested_deprecated_apis{group="",removed_release="1.36",resource="pods",subresource="status",version="v1alpha9"} 1
apiserver_requested_deprecated_apis{group="example.io",removed_release="1.37",resource="widgets",subresource="",version="v1beta1"} 1
apiserver_requested_deprecated_apis{group="old.io",removed_release="1.30",resource="things",subresource="",version="v1beta1"} 1
apiserver_requested_deprecated_apis{group="zero.io",removed_release="1.36",resource="gone",subresource="",version="v1beta1"} 0
apiserver_requested_deprecated_apis{group="never.io",removed_release="",resource="kept",subresource="",version="v1beta1"} 1
apiserver_request_total{code="200"} 5
`
	for _, tc := range []struct {
		target string
		want   []string
	}{
		{"v1.36.3", []string{"flowcontrol.apiserver.k8s.io/v1beta3 flowschemas", "old.io/v1beta1 things", "v1alpha9 pods/status"}},
		{"v1.37.0", []string{"example.io/v1beta1 widgets", "flowcontrol.apiserver.k8s.io/v1beta3 flowschemas", "old.io/v1beta1 things", "v1alpha9 pods/status"}},
		{"v1.35.4", []string{"old.io/v1beta1 things"}},
	} {
		got, err := controlplane.RemovedAPIs(strings.NewReader(metrics), tc.target)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("RemovedAPIs(%s) = %q, %v; want %q", tc.target, got, err, tc.want)
		}
	}
	if _, err := controlplane.RemovedAPIs(strings.NewReader(metrics), "latest"); err == nil {
		t.Error("a target that is no version: no error")
	}
}
