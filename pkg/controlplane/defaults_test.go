package controlplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TestDefaultsAgreeWithCRD: ValuesFor falls back to the CRD's defaults for objects built in
// Go; they must be the defaults the API server applies.
func TestDefaultsAgreeWithCRD(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "kubeseed.io_tenantclusters.yaml"))
	if err != nil {
		t.Fatalf("read CRD: %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatalf("parse CRD: %v", err)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	at := func(path string) string {
		s := spec
		for _, p := range strings.Split(path, ".") {
			next, ok := s.Properties[p]
			if !ok {
				t.Fatalf("CRD has no spec.%s", path)
			}
			s = next
		}
		if s.Default == nil {
			t.Fatalf("CRD has no default for spec.%s", path)
		}
		return strings.Trim(string(s.Default.Raw), `"`)
	}
	for path, want := range map[string]string{
		"controlPlane.apiServer.replicas":         "2",
		"controlPlane.controllerManager.replicas": "2",
		"controlPlane.scheduler.replicas":         "2",
		"controlPlane.etcd.replicas":              "3",
		"controlPlane.etcd.storage.size":          defaultEtcdStorage,
		"network.serviceCIDR":                     defaultServiceCIDR,
		"network.podCIDR":                         defaultPodCIDR,
		"network.dnsDomain":                       defaultDNSDomain,
		"endpoint.type":                           "LoadBalancer",
	} {
		if got := at(path); got != want {
			t.Errorf("CRD defaults spec.%s to %s, ValuesFor to %s", path, got, want)
		}
	}
	if defaultReplicas != 2 || defaultEtcdReplicas != 3 {
		t.Errorf("replica defaults changed: update the table above")
	}
}

func TestEtcdMaxUnavailable(t *testing.T) {
	// 2 and 4 exist only while the cluster grows.
	for replicas, want := range map[int32]int32{1: 1, 2: 0, 3: 1, 4: 1, 5: 2} {
		if got := etcdMaxUnavailable(replicas); got != want {
			t.Errorf("etcdMaxUnavailable(%d) = %d, want %d", replicas, got, want)
		}
		// Whatever the budget allows, the rest still holds a quorum (except the single
		// member, which has none to keep).
		if replicas > 1 && replicas-etcdMaxUnavailable(replicas) < replicas/2+1 {
			t.Errorf("%d members: evicting %d loses the quorum", replicas, etcdMaxUnavailable(replicas))
		}
	}
}
