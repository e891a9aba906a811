package addons

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// Names of the pod network's addons: the values of LabelAddon.
const (
	Flannel       = "flannel"
	NetworkPolicy = "network-policy"
)

// Object names the health checks read.
const (
	FlannelDaemonSet       = "kube-flannel-ds"
	NetworkPolicyDaemonSet = "kube-router"
)

// NetworkValues render the pod network (templates/flannel.yaml) and the NetworkPolicy
// controller (templates/network-policy.yaml); the zero value renders neither (cni: none).
type NetworkValues struct {
	Enabled bool `json:"enabled"`
	// APIServerHost and APIServerPort are the published endpoint. Both agents are given it
	// as KUBERNETES_SERVICE_HOST/PORT: the tenant's `kubernetes` Service only routes once
	// kube-proxy runs, and a node's network must not wait for that.
	APIServerHost string `json:"apiServerHost"`
	APIServerPort string `json:"apiServerPort"`
	// FlannelImage runs flanneld; CNIImage installs the CNI plugins and writes the node's
	// CNI configuration from flanneld's lease (kubeseed-cni).
	FlannelImage string `json:"flannelImage"`
	CNIImage     string `json:"cniImage"`
	// NetConf is flannel's net-conf.json; ConfigHash rolls the pods when it changes.
	NetConf    string `json:"netConf"`
	ConfigHash string `json:"configHash"`
	// PolicyImage runs kube-router's NetworkPolicy controller alone (no routing, no proxy).
	PolicyImage string `json:"policyImage"`
	// ServiceCIDR is the tenant's Service range: kube-router lets traffic to it through to
	// kube-proxy's rules and matches policies on the endpoints behind it.
	ServiceCIDR string `json:"serviceCIDR"`
}

// flannelNetConf is flannel's net-conf.json: the pod range it leases node subnets from (the
// controller-manager's, read from each Node's spec.podCIDR with --kube-subnet-mgr) and the
// VXLAN backend. flanneld sizes the VXLAN MTU from its interface (50 bytes of
// encapsulation less), so the customer's network MTU, 1450 on a VXLAN Neutron network,
// carries pods at 1400 without fragmenting.
type flannelNetConf struct {
	Network        string         `json:"Network"`
	EnableNFTables bool           `json:"EnableNFTables"`
	Backend        flannelBackend `json:"Backend"`
}

type flannelBackend struct {
	Type string `json:"Type"`
}

// networkValues computes NetworkValues for tc; registry is the resolved image registry,
// empty for upstream's.
func networkValues(tc *v1alpha1.TenantCluster, in Inputs) (NetworkValues, error) {
	switch cni := EffectiveCNI(tc); cni {
	case v1alpha1.CNINone:
		return NetworkValues{}, nil
	case v1alpha1.CNIFlannel:
	default:
		return NetworkValues{}, fmt.Errorf("spec.network.cni %q is not flannel or none", cni)
	}
	if in.Versions.Flannel == "" || in.Versions.KubeRouter == "" {
		return NetworkValues{}, fmt.Errorf("pod network versions are not pinned (flannel %q, kube-router %q)", in.Versions.Flannel, in.Versions.KubeRouter)
	}
	u, err := url.Parse(in.Endpoint)
	if err != nil {
		return NetworkValues{}, fmt.Errorf("endpoint %q: %w", in.Endpoint, err)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	conf, err := json.MarshalIndent(flannelNetConf{
		Network: tc.Spec.Network.PodCIDR, Backend: flannelBackend{Type: "vxlan"},
	}, "", "  ")
	if err != nil {
		return NetworkValues{}, fmt.Errorf("marshal flannel net-conf.json: %w", err)
	}
	if _, _, err := net.ParseCIDR(tc.Spec.Network.ServiceCIDR); err != nil {
		return NetworkValues{}, fmt.Errorf("spec.network.serviceCIDR: %w", err)
	}
	return NetworkValues{
		Enabled:       true,
		APIServerHost: u.Hostname(),
		APIServerPort: port,
		FlannelImage:  image(in.ImageRegistry, flannelHost, flannelRepo, in.Versions.Flannel),
		CNIImage:      image(in.ImageRegistry, "", cniRepo, versions.Kubeseed),
		NetConf:       string(conf) + "\n",
		ConfigHash:    checksum(map[string]string{"net-conf.json": string(conf)}),
		PolicyImage:   image(in.ImageRegistry, kubeRouterHost, kubeRouterRepo, in.Versions.KubeRouter),
		ServiceCIDR:   tc.Spec.Network.ServiceCIDR,
	}, nil
}

// image is host/repo:tag, or registry/repo:tag when the seed mirrors images; repo:tag for
// an image with no host (kubeseed's own) and no mirror.
func image(registry, host, repo, tag string) string {
	if registry == "" {
		registry = host
	}
	if registry == "" {
		return repo + ":" + tag
	}
	return strings.TrimSuffix(registry, "/") + "/" + repo + ":" + tag
}

// EffectiveCNI is the pod network tc runs: spec.network.cni when set. Unset, flannel for a
// tenant whose addons were never pinned or were pinned with flannel, and none for one
// pinned by a kubeseed without a pod network: that tenant's workers brought their own CNI,
// which flannel must not be added to behind the customer's back.
func EffectiveCNI(tc *v1alpha1.TenantCluster) v1alpha1.CNIPlugin {
	if cni := tc.Spec.Network.CNI; cni != "" {
		return cni
	}
	if a := tc.Status.Addons; a != nil && a.Flannel == "" {
		return v1alpha1.CNINone
	}
	return v1alpha1.CNIFlannel
}

// pinNetwork fills the pod network's versions of v for cni: none leaves them empty, since
// nothing runs.
func pinNetwork(cni v1alpha1.CNIPlugin, v *v1alpha1.AddonVersions) {
	if cni == v1alpha1.CNINone {
		v.Flannel, v.KubeRouter = "", ""
		return
	}
	v.Flannel, v.KubeRouter = versions.Flannel, versions.KubeRouter
}

// ExpectedDaemonSets are the tenant's addon DaemonSets AddonsReady waits for, in the order
// a node needs them: its pod network first. The kube-proxy DaemonSets of node versions may
// have no node to run on (every node at another version, in a worker upgrade); the others
// run everywhere.
func ExpectedDaemonSets(v Values) []NamedDaemonSet {
	proxies := []NamedDaemonSet{{Name: KubeProxyDaemonSet, MayBeEmpty: len(v.KubeProxy.Versions) > 0}}
	for _, pv := range v.KubeProxy.Versions {
		proxies = append(proxies, NamedDaemonSet{Name: pv.Name, MayBeEmpty: true})
	}
	if !v.Network.Enabled {
		return proxies
	}
	out := []NamedDaemonSet{{Name: FlannelDaemonSet}}
	out = append(out, proxies...)
	return append(out, NamedDaemonSet{Name: NetworkPolicyDaemonSet})
}
