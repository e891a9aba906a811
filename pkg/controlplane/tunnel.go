package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// TunnelValues configure the tunnel server, a sidecar of every kube-apiserver pod that
// carries the apiserver's egress to the tenant's nodes (docs/tunnel.md): the apiserver dials
// it on a Unix socket in a shared emptyDir through its egress selector, and the tenant's
// agents dial it on Port through the apiserver Service's port "tunnel".
type TunnelValues struct {
	// Enabled adds the sidecar, the egress selector and the Service port; disabled, the
	// apiserver dials kubelets, webhooks and aggregated APIs directly.
	Enabled bool   `json:"enabled"`
	Image   string `json:"image"`
	// Args is the sidecar's command line after the image's entrypoint.
	Args []string `json:"args"`
	// Port is the agents' port: the container's and the Service's port "tunnel".
	Port int32 `json:"port"`
	// NodePort pins the Service's node port of Port; 0 lets the seed allocate one.
	NodePort int32 `json:"nodePort"`
	// HealthPort serves /healthz (the probes; it does not need an agent) and /metrics.
	HealthPort int32                       `json:"healthPort"`
	Resources  corev1.ResourceRequirements `json:"resources"`
	// GoMemLimit is the sidecar's GOMEMLIMIT, as PodValues.GoMemLimit.
	GoMemLimit string `json:"goMemLimit"`
	// Secrets are the sidecar's: the tunnel serving certificate and the CA agents' client
	// certificates chain to.
	Secrets []SecretMount `json:"secrets"`
	// SocketDir is the emptyDir both containers mount; the socket is in it.
	SocketDir string `json:"socketDir"`
	// EgressSelectorConfig is the kube-apiserver's EgressSelectorConfiguration, the one key
	// of the ConfigMap "<name>-egress-selector".
	EgressSelectorConfig string `json:"egressSelectorConfig"`
	// ConfigChecksum digests EgressSelectorConfig; the apiserver reads it only at start,
	// so the pods carry it (annotation checksum/egress-selector) and roll when it changes.
	ConfigChecksum string `json:"configChecksum"`
}

// The tunnel's fixed ports and paths: konnectivity's defaults, so that either server fits.
const (
	TunnelPort       int32 = 8132
	TunnelHealthPort int32 = 8134
	// tunnelAdminPort is konnectivity's admin port (not exposed).
	tunnelAdminPort int32 = 8133

	// tunnelRepository is kubeseed's own tunnel image (make tunnel-image), tagged with the
	// release (TunnelImage).
	tunnelRepository = "kubeseed/tunnel"

	tunnelSocketDir = "/etc/kubernetes/konnectivity"
	// TunnelSocket is the Unix socket the apiserver's egress selector dials.
	TunnelSocket = tunnelSocketDir + "/konnectivity.socket"

	egressSelectorDir = "/etc/kubernetes/egress-selector"
	// EgressSelectorConfigKey is the ConfigMap key, and file name, of the configuration.
	EgressSelectorConfigKey = "egress-selector.yaml"
)

// Tunnel servers the values can run; Inputs.TunnelServer picks one.
const (
	// TunnelServerKubeseed is cmd/kubeseed-tunnel, the default.
	TunnelServerKubeseed = "kubeseed"
	// TunnelServerKonnectivity is upstream konnectivity's proxy-server in HTTPConnect mode
	// (registry.k8s.io/kas-network-proxy/proxy-server), with mTLS agents.
	TunnelServerKonnectivity = "konnectivity"
)

// EgressSelectorConfigMapName is the ConfigMap holding the apiserver's egress selector
// configuration.
func EgressSelectorConfigMapName(cluster string) string { return cluster + "-egress-selector" }

// The EgressSelectorConfiguration (apiserver.k8s.io/v1beta1) kubeseed writes: the fields
// it uses of k8s.io/apiserver/pkg/apis/apiserver/v1beta1.
type egressSelectorConfiguration struct {
	APIVersion       string            `json:"apiVersion"`
	Kind             string            `json:"kind"`
	EgressSelections []egressSelection `json:"egressSelections"`
}

type egressSelection struct {
	Name       string           `json:"name"`
	Connection egressConnection `json:"connection"`
}

type egressConnection struct {
	ProxyProtocol string           `json:"proxyProtocol"`
	Transport     *egressTransport `json:"transport,omitempty"`
}

type egressTransport struct {
	UDS *udsTransport `json:"uds"`
}

type udsTransport struct {
	UDSName string `json:"udsName"`
}

// egressSelectorConfig sends egress "cluster" (kubelets, webhooks, aggregated APIs, the
// tenant's Services) through the tunnel with HTTP CONNECT over its Unix socket, as
// konnectivity's http-connect mode expects. "controlplane" and "etcd" stay direct: the
// control plane lives in the seed.
func egressSelectorConfig() (string, error) {
	b, err := yaml.Marshal(egressSelectorConfiguration{
		APIVersion: "apiserver.k8s.io/v1beta1",
		Kind:       "EgressSelectorConfiguration",
		EgressSelections: []egressSelection{{
			Name: "cluster",
			Connection: egressConnection{
				ProxyProtocol: "HTTPConnect",
				Transport:     &egressTransport{UDS: &udsTransport{UDSName: TunnelSocket}},
			},
		}},
	})
	return string(b), err
}

// tunnelValues are the tunnel's values; apiServerReplicas is how many servers agents must
// each connect to.
func tunnelValues(cluster string, in Inputs, nw network, apiServerReplicas int32, size v1alpha1.ControlPlaneSize) (TunnelValues, error) {
	res, ok := SizeResources(size, Tunnel)
	if !ok {
		return TunnelValues{}, invalid("spec.controlPlane.size", "%q is not one of %v", size, Sizes())
	}
	if in.TunnelNodePort < 0 || in.TunnelNodePort > 65535 {
		return TunnelValues{}, fmt.Errorf("observed tunnel node port %d is out of range", in.TunnelNodePort)
	}
	mount := SecretMount{
		Volume: string(TunnelServerSecret), SecretName: TunnelServerSecret.Name(cluster),
		MountPath: mountPath(TunnelServerSecret), Keys: []string{CACertKey, TLSCertKey, TLSKeyKey},
		// kubeseed's server loads its pair on each handshake (pkg/tunnel); konnectivity's
		// is restarted to be sure.
		Reloads: orDefault(in.TunnelServer, TunnelServerKubeseed) == TunnelServerKubeseed,
	}
	v := TunnelValues{
		Enabled:    !in.TunnelDisabled,
		Image:      orDefault(in.TunnelImage, TunnelImage(in.ImageRegistry)),
		Port:       TunnelPort,
		NodePort:   in.TunnelNodePort,
		HealthPort: TunnelHealthPort,
		Resources:  res,
		GoMemLimit: goMemLimit(res),
		Secrets:    []SecretMount{mount},
		SocketDir:  tunnelSocketDir,
	}
	cert, key, ca := secretFile(TunnelServerSecret, TLSCertKey), secretFile(TunnelServerSecret, TLSKeyKey), secretFile(TunnelServerSecret, CACertKey)
	count := strconv.Itoa(int(max(apiServerReplicas, 1)))
	switch orDefault(in.TunnelServer, TunnelServerKubeseed) {
	case TunnelServerKubeseed:
		v.Args = []string{
			"server",
			"--uds=" + TunnelSocket,
			"--bind=:" + port(TunnelPort),
			"--health=:" + port(TunnelHealthPort),
			"--cert=" + cert, "--key=" + key, "--ca=" + ca,
			// Agents are checked against their Node in the apiserver beside the server.
			"--apiserver=https://127.0.0.1:" + port(APIServerPort),
			"--agent-cidrs=" + nw.podCIDR.String() + "," + nw.serviceCIDR.String(),
			"--server-id=$(POD_NAME)",
			"--server-count=" + count,
		}
	case TunnelServerKonnectivity:
		if in.TunnelImage == "" {
			return TunnelValues{}, fmt.Errorf("tunnel server %q needs its image", TunnelServerKonnectivity)
		}
		v.Args = []string{
			"--mode=http-connect",
			"--uds-name=" + TunnelSocket,
			"--delete-existing-uds-file",
			"--server-port=0",
			"--agent-port=" + port(TunnelPort),
			"--admin-port=" + port(tunnelAdminPort),
			"--health-port=" + port(TunnelHealthPort),
			"--cluster-cert=" + cert, "--cluster-key=" + key, "--cluster-ca-cert=" + ca,
			"--server-id=$(POD_NAME)",
			"--server-count=" + count,
			"--proxy-strategies=destHost,default",
		}
	default:
		return TunnelValues{}, fmt.Errorf("unknown tunnel server %q", in.TunnelServer)
	}
	cfg, err := egressSelectorConfig()
	if err != nil {
		return TunnelValues{}, err
	}
	sum := sha256.Sum256([]byte(cfg))
	v.EgressSelectorConfig, v.ConfigChecksum = cfg, hex.EncodeToString(sum[:])
	return v, nil
}

// egressSelectorFile is where the apiserver reads the configuration.
var egressSelectorFile = path.Join(egressSelectorDir, EgressSelectorConfigKey)

// TunnelImage is kubeseed's tunnel image of this release (versions.Kubeseed), under
// registry when the seed mirrors images: the server beside the apiserver and the agents in
// the tenant run it.
func TunnelImage(registry string) string {
	ref := tunnelRepository + ":" + versions.Kubeseed
	if registry != "" {
		ref = strings.TrimSuffix(registry, "/") + "/" + ref
	}
	return ref
}
