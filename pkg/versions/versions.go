// Package versions declares, in one place, the Kubernetes versions a TenantCluster may run
// and the component versions that go with each of them.
//
// The CRD repeats two facts from here in its markers (the default version and the
// accepted minors); TestCRDAgreesWithVersions fails when the two drift apart.
package versions

import (
	"fmt"
	"regexp"
	"strconv"
)

// Supported lists the tenant Kubernetes versions, oldest first: the three newest minors,
// newest patch of each. Bumping a patch here (and in the CRD markers) is the whole change
// needed to offer it; `make k8s-bins` builds whatever is listed.
var Supported = []string{"v1.34.4", "v1.35.4", "v1.36.3"}

// Default is the version a TenantCluster gets when spec.version is empty.
const Default = "v1.36.3"

// Seed is the Kubernetes version of the local seed's own components. It stays on the oldest
// supported minor: kubelets from 1.35 on refuse cgroup v1 unless told otherwise, and the seed
// is the one place where we would rather run what upstream still fully supports on v1.
const Seed = "v1.34.4"

// Envtest is the kube-apiserver version the integration tests validate the CRDs against:
// the newest, so new CEL features are caught early. The CRDs themselves need a seed >= 1.34.
const Envtest = Default

// Etcd is the etcd release used for tenant control planes, the seed and envtest. Kubernetes
// 1.34 to 1.36 all use the etcd 3.6 client; 3.5 lacks what newer apiservers expect of watches.
const Etcd = "v3.6.16"

// Kubeseed is this kubeseed's release: "dev" for local builds, set by release builds with
// -ldflags "-X github.com/kubeseed/kubeseed/pkg/versions.Kubeseed=<tag>" (make VERSION=).
// kubeseed's own images (manager, tunnel, CNI helper) carry it as their tag, so a manager
// only ever deploys the images of its own release.
var Kubeseed = "dev"

// The pod network's parts, one release for every supported Kubernetes version (none of them
// talks to the apiserver in a version-specific way). Each is the newest release the Go
// module proxy serves here; kube-router runs only its NetworkPolicy controller.
const (
	// Flannel is the flannel release of the tenants' pod network (VXLAN).
	Flannel = "v0.28.10"
	// KubeRouter is the kube-router release that enforces NetworkPolicy in tenants and on
	// the local seed.
	KubeRouter = "v2.1.0"
	// CNIPlugins is the containernetworking/plugins release (bridge, host-local, portmap,
	// loopback) the CNI addon installs on every node.
	CNIPlugins = "v1.10.0"
)

var semver = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)$`)

// Version is a parsed vMAJOR.MINOR.PATCH.
type Version struct{ Major, Minor, Patch int }

// Parse reads a version of the form vX.Y.Z.
func Parse(s string) (Version, error) {
	m := semver.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("version %q is not of the form vX.Y.Z", s)
	}
	var v Version
	for i, p := range []*int{&v.Major, &v.Minor, &v.Patch} {
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return Version{}, fmt.Errorf("version %q: %w", s, err)
		}
		*p = n
	}
	return v, nil
}

// String formats the version as vX.Y.Z.
func (v Version) String() string { return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch) }

// IsSupported reports whether s is one of the Supported versions.
func IsSupported(s string) bool {
	for _, v := range Supported {
		if v == s {
			return true
		}
	}
	return false
}

// coreDNS is the CoreDNS release a tenant of each Kubernetes minor gets. Every supported
// minor gets v1.12.4: it is the release built offline for this environment (pkg/seed's
// CoreDNSVersion, hack/coredns-bin.sh), it serves every API these minors offer (EndpointSlices
// since v1.8.4), and one image is all a worker has to preload. Change a minor's entry
// together with what builds its image.
var coreDNS = map[string]string{
	"v1.34": "v1.12.4",
	"v1.35": "v1.12.4",
	"v1.36": "v1.12.4",
}

// CoreDNS is the CoreDNS version for a tenant running Kubernetes version k (vX.Y.Z).
func CoreDNS(k string) (string, error) {
	v, err := Parse(k)
	if err != nil {
		return "", err
	}
	minor := fmt.Sprintf("v%d.%d", v.Major, v.Minor)
	dns, ok := coreDNS[minor]
	if !ok {
		return "", fmt.Errorf("no CoreDNS version for Kubernetes %s", minor)
	}
	return dns, nil
}
