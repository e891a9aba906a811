package addons

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// Names of the addons: the values of LabelAddon.
const (
	KubeProxy = "kube-proxy"
	CoreDNS   = "coredns"
)

// LabelAddon names the addon an object belongs to. Every object the chart renders carries
// it; Apply prunes the labelled objects it no longer renders.
const LabelAddon = "kubeseed.io/addon"

// Namespace is where the addons live inside the tenant.
const Namespace = "kube-system"

// DefaultRegistry is where images come from when Inputs.ImageRegistry is empty.
const DefaultRegistry = "registry.k8s.io"

// Values are the tenant-addons chart's values. charts/tenant-addons/values.yaml is what
// ValuesFor returns for the example in its header (TestValuesFileMatches).
type Values struct {
	KubeProxy KubeProxyValues `json:"kubeProxy"`
	CoreDNS   CoreDNSValues   `json:"coreDNS"`
	Tunnel    TunnelValues    `json:"tunnel"`
	Network   NetworkValues   `json:"network"`
	// Autoscaler is read by templates/autoscaler.yaml: the RBAC of kubeseed's autoscaler.
	Autoscaler AutoscalerValues `json:"autoscaler"`
}

// AutoscalerValues name the autoscaler's user in the tenant, whom the chart grants what
// the autoscaler reads and writes (in every tenant: only its certificate makes this user).
type AutoscalerValues struct {
	User string `json:"user"`
}

// DefaultAutoscalerUser is the autoscaler's user: pki.AutoscalerUser.
const DefaultAutoscalerUser = "kubeseed:autoscaler"

// KubeProxyValues render the kube-proxy DaemonSet, its ConfigMap and RBAC, as kubeadm names
// them.
type KubeProxyValues struct {
	Image string `json:"image"`
	// Config and Kubeconfig are the ConfigMap's config.conf and kubeconfig.conf.
	Config     string `json:"config"`
	Kubeconfig string `json:"kubeconfig"`
	// ConfigHash is kubeadm's component-config hash of the ConfigMap: kubeadm treats the
	// configuration as its own, and the DaemonSet's pods roll when it changes.
	ConfigHash string `json:"configHash"`
	// JoinGroups may read the ConfigMap: `kubeadm join` reads it with its bootstrap token.
	JoinGroups []string `json:"joinGroups"`
	// VersionLabel is the Node label naming its kubelet's version (set at join).
	VersionLabel string `json:"versionLabel"`
	// Versions are kube-proxy DaemonSets for the nodes whose kubelet runs another version
	// than Image's: one per version; the main DaemonSet keeps off their nodes.
	Versions []KubeProxyVersion `json:"versions"`
}

// KubeProxyVersion is the kube-proxy DaemonSet of the nodes of one kubelet version.
type KubeProxyVersion struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Image   string `json:"image"`
}

// CoreDNSValues render the CoreDNS Deployment, the kube-dns Service, its ConfigMap and RBAC.
type CoreDNSValues struct {
	Image    string `json:"image"`
	Replicas int32  `json:"replicas"`
	// ServiceIP is the kube-dns ClusterIP, every kubelet's clusterDNS.
	ServiceIP string `json:"serviceIP"`
	Corefile  string `json:"corefile"`
	// ConfigHash rolls the pods when the Corefile changes.
	ConfigHash string `json:"configHash"`
}

// TunnelValues are read by templates/tunnel-agent.yaml (the tunnel agent dialling out to
// the tunnel server beside the apiserver); the zero value leaves the agent out.
type TunnelValues struct {
	Enabled    bool   `json:"enabled"`
	Image      string `json:"image"`
	ServerHost string `json:"serverHost"`
	ServerPort int32  `json:"serverPort"`
	// ServerUser is the tunnel server's user in the tenant (its client certificate's
	// CN): the chart lets it get nodes, which it checks agents against.
	ServerUser string `json:"serverUser"`
	// AllowedCIDRs are dialled by the agent besides its node's own addresses: the tenant's
	// pod and Service ranges, for admission webhooks and aggregated APIs.
	AllowedCIDRs []string `json:"allowedCIDRs,omitempty"`
}

// DefaultTunnelServerUser is the tunnel server's user: pki.TunnelServerCommonName.
const DefaultTunnelServerUser = "kubeseed-tunnel-server"

// Inputs is what ValuesFor needs besides the TenantCluster.
type Inputs struct {
	// Endpoint is the published kube-apiserver URL: kube-proxy talks to it, since the
	// tenant's `kubernetes` Service is not routable before kube-proxy runs.
	Endpoint string
	// Versions are the pinned addon versions (Pin).
	Versions v1alpha1.AddonVersions
	// ImageRegistry prefixes the images; empty means registry.k8s.io.
	ImageRegistry string
	// Tunnel is passed through; the zero value disables the agent.
	Tunnel TunnelValues
	// NodeVersions are the kubelet versions of the tenant's nodes (NodeVersions).
	NodeVersions []string
}

// coreDNSReplicas keeps DNS up while one node drains; two need two nodes, but one serves.
const coreDNSReplicas = 2

// ValuesFor computes the chart's values for tc, whose spec.network the API server
// defaulted.
func ValuesFor(tc *v1alpha1.TenantCluster, in Inputs) (Values, error) {
	v, err := valuesFor(tc, in)
	if err != nil {
		return Values{}, fmt.Errorf("addon values of %s: %w", tc.Name, err)
	}
	return v, nil
}

func valuesFor(tc *v1alpha1.TenantCluster, in Inputs) (Values, error) {
	if u, err := url.Parse(in.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
		return Values{}, fmt.Errorf("endpoint %q is not an https URL", in.Endpoint)
	}
	if in.Versions.KubeProxy == "" || in.Versions.CoreDNS == "" {
		return Values{}, errors.New("addon versions are not pinned")
	}
	n := tc.Spec.Network
	dnsIP, err := bootstrap.DNSServiceIP(n.ServiceCIDR)
	if err != nil {
		return Values{}, err
	}
	if n.PodCIDR == "" || n.DNSDomain == "" {
		return Values{}, errors.New("spec.network.podCIDR and dnsDomain must be set")
	}
	registry := in.ImageRegistry
	if registry == "" {
		registry = DefaultRegistry
	}
	proxyConf, err := yaml.Marshal(kubeProxyConfiguration(n.PodCIDR))
	if err != nil {
		return Values{}, fmt.Errorf("marshal KubeProxyConfiguration: %w", err)
	}
	proxyKubeconfig, err := kubeProxyKubeconfig(in.Endpoint)
	if err != nil {
		return Values{}, err
	}
	corefile := Corefile(n.DNSDomain)
	network, err := networkValues(tc, in)
	if err != nil {
		return Values{}, err
	}
	tunnel := in.Tunnel
	if tunnel.ServerUser == "" {
		tunnel.ServerUser = DefaultTunnelServerUser
	}
	return Values{
		KubeProxy: KubeProxyValues{
			Image:        registry + "/kube-proxy:" + in.Versions.KubeProxy,
			Config:       string(proxyConf),
			Kubeconfig:   string(proxyKubeconfig),
			ConfigHash:   checksum(map[string]string{"config.conf": string(proxyConf), "kubeconfig.conf": string(proxyKubeconfig)}),
			JoinGroups:   bootstrap.JoinGroups(),
			VersionLabel: bootstrap.KubeletVersionLabel,
			Versions:     kubeProxyVersions(registry, in.Versions.KubeProxy, in.NodeVersions),
		},
		CoreDNS: CoreDNSValues{
			Image:      registry + "/coredns/coredns:" + in.Versions.CoreDNS,
			Replicas:   coreDNSReplicas,
			ServiceIP:  dnsIP.String(),
			Corefile:   corefile,
			ConfigHash: checksum(map[string]string{"Corefile": corefile}),
		},
		Tunnel:     tunnel,
		Network:    network,
		Autoscaler: AutoscalerValues{User: DefaultAutoscalerUser},
	}, nil
}

// kubeProxyConfiguration is the subset of kube-proxy's v1alpha1 KubeProxyConfiguration
// kubeseed sets; kube-proxy defaults the rest. A local type, with kube-proxy's field names:
// k8s.io/kube-proxy is not worth a dependency for five fields.
type kubeProxyConfig struct {
	metav1.TypeMeta  `json:",inline"`
	ClientConnection struct {
		Kubeconfig string `json:"kubeconfig"`
	} `json:"clientConnection"`
	ClusterCIDR string `json:"clusterCIDR"`
	Mode        string `json:"mode"`
	// Conntrack and OOMScoreAdj are 0, meaning "leave the host alone": workers may lack
	// CAP_SYS_RESOURCE and must not have their conntrack sysctls changed by a tenant.
	Conntrack   kubeProxyConntrack `json:"conntrack"`
	OOMScoreAdj *int32             `json:"oomScoreAdj"`
}

type kubeProxyConntrack struct {
	MaxPerCore *int32 `json:"maxPerCore"`
	// Min only applies with maxPerCore > 0; written so the file says what it means.
	Min *int32 `json:"min"`
	// Zero timeouts leave nf_conntrack_tcp_timeout_* as the host has them.
	TCPEstablishedTimeout *metav1.Duration `json:"tcpEstablishedTimeout"`
	TCPCloseWaitTimeout   *metav1.Duration `json:"tcpCloseWaitTimeout"`
}

// Paths inside the kube-proxy pod: the ConfigMap's mount and the service account's.
const (
	kubeProxyConfigDir = "/var/lib/kube-proxy"
	serviceAccountDir  = "/var/run/secrets/kubernetes.io/serviceaccount"
)

func kubeProxyConfiguration(podCIDR string) kubeProxyConfig {
	c := kubeProxyConfig{
		TypeMeta:    metav1.TypeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		ClusterCIDR: podCIDR,
		Mode:        "iptables",
		Conntrack: kubeProxyConntrack{
			MaxPerCore: ptr.To[int32](0), Min: ptr.To[int32](0),
			TCPEstablishedTimeout: &metav1.Duration{}, TCPCloseWaitTimeout: &metav1.Duration{},
		},
		OOMScoreAdj: ptr.To[int32](0),
	}
	c.ClientConnection.Kubeconfig = kubeProxyConfigDir + "/kubeconfig.conf"
	return c
}

// kubeProxyKubeconfig is kubeadm's kube-proxy kubeconfig: the published endpoint, the CA
// and token of kube-proxy's service account.
func kubeProxyKubeconfig(endpoint string) ([]byte, error) {
	out, err := clientcmd.Write(clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"default": {
			Server: endpoint, CertificateAuthority: serviceAccountDir + "/ca.crt",
		}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"default": {TokenFile: serviceAccountDir + "/token"}},
		Contexts:       map[string]*clientcmdapi.Context{"default": {Cluster: "default", AuthInfo: "default", Namespace: "default"}},
		CurrentContext: "default",
	})
	if err != nil {
		return nil, fmt.Errorf("kube-proxy kubeconfig: %w", err)
	}
	return out, nil
}

// Corefile is kubeadm's Corefile for the cluster domain: Services and pods by name, the rest
// forwarded to the node's resolvers (the pod runs with dnsPolicy Default).
func Corefile(dnsDomain string) string {
	return `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes ` + dnsDomain + ` in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success ` + dnsDomain + `
       disable denial ` + dnsDomain + `
    }
    loop
    reload
    loadbalance
}
`
}

// checksum is kubeadm's ChecksumForConfigMap: SHA-256 over the values in key order.
func checksum(data map[string]string) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(data[k]))
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil))
}

// Pin returns the addon versions tc's addons run at. They follow the version the control
// plane runs (status.version, or spec.version before it first became Ready), and are
// recomputed from kubeseed's tables only when that version differs from the one they were
// pinned for: a kubeseed upgrade with new tables leaves running tenants as they are, and
// kube-proxy is never newer than the apiservers while they upgrade.
func Pin(tc *v1alpha1.TenantCluster) (v1alpha1.AddonVersions, error) {
	target := tc.Status.Version
	if target == "" {
		target = tc.Spec.Version
	}
	cni := EffectiveCNI(tc)
	if cur := tc.Status.Addons; cur != nil && cur.KubernetesVersion == target {
		v := *cur
		// A tenant pinned without a pod network whose customer opted in (cni: flannel) gets
		// this release's; kube-proxy and CoreDNS stay.
		if (v.Flannel == "") != (cni == v1alpha1.CNINone) {
			pinNetwork(cni, &v)
		}
		return v, nil
	}
	v, err := For(target)
	if err != nil {
		return v, err
	}
	pinNetwork(cni, &v)
	return v, nil
}

// For is what this kubeseed release runs for Kubernetes version k, with its pod network.
func For(k string) (v1alpha1.AddonVersions, error) {
	dns, err := versions.CoreDNS(k)
	if err != nil {
		return v1alpha1.AddonVersions{}, fmt.Errorf("pin addon versions: %w", err)
	}
	return v1alpha1.AddonVersions{
		KubernetesVersion: k, KubeProxy: k, CoreDNS: dns, Flannel: versions.Flannel, KubeRouter: versions.KubeRouter,
	}, nil
}

// kubeProxyVersions are the extra kube-proxy DaemonSets: one per supported node version
// other than main, never newer than main (the control plane's: kube-proxy may not be newer
// than the apiserver). Nodes of a version left out get main's.
func kubeProxyVersions(registry, main string, nodeVersions []string) []KubeProxyVersion {
	mv, err := versions.Parse(main)
	if err != nil {
		return nil
	}
	var out []KubeProxyVersion
	for _, v := range slices.Sorted(slices.Values(slices.Compact(slices.Sorted(slices.Values(nodeVersions))))) {
		pv, err := versions.Parse(v)
		if v == main || err != nil || !versions.IsSupported(v) || pv.Major != mv.Major || pv.Minor > mv.Minor {
			continue
		}
		out = append(out, KubeProxyVersion{
			Name: KubeProxyDaemonSet + "-" + strings.ReplaceAll(v, ".", "-"), Version: v, Image: registry + "/kube-proxy:" + v,
		})
	}
	return out
}

// NodeVersions are the values of the kubelet-version label on the nodes, sorted, each once.
func NodeVersions(nodes []corev1.Node) []string {
	var out []string
	for _, n := range nodes {
		if v := n.Labels[bootstrap.KubeletVersionLabel]; v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}
