package bootstrap

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/render"
)

// Where a worker's user_data puts its files. The join configuration holds the bootstrap
// token: it goes to /run (a tmpfs, gone at the next boot) and is readable by root only.
const (
	JoinConfigurationPath = "/run/kubeadm/kubeadm-join-config.yaml"
	// PatchesDir is the JoinConfiguration's patches.directory.
	PatchesDir = "/etc/kubernetes/patches"
	// KubeletPatchPath is kubeadm's patch of the KubeletConfiguration it writes on the
	// node (target kubeletconfiguration, merge patch).
	KubeletPatchPath = PatchesDir + "/kubeletconfiguration+merge.yaml"
	// DefaultCRISocket is containerd's, used when WorkerInputs.CRISocket is empty.
	DefaultCRISocket = "unix:///run/containerd/containerd.sock"
	// CloudConfigHeader starts every user_data WorkerUserData renders.
	CloudConfigHeader = "#cloud-config"
)

// KubeletVersionLabel is set by a worker's kubelet on its Node (kubeadm's node-labels) to
// the Kubernetes version it was made with; the tenant's addons run a kube-proxy per value.
const KubeletVersionLabel = "kubeseed.io/kubelet-version"

// WorkerInputs is what a worker's user_data is made of: everything kubeadm join needs,
// and nothing it would have to fetch.
type WorkerInputs struct {
	// NodeName is the Node's name, the Nova server's name.
	NodeName string
	// APIServerEndpoint is host:port of the tenant's published endpoint (an IPv6 host in
	// brackets), the address kubeadm's discovery and the kubelet talk to.
	APIServerEndpoint string
	// Token is the worker's bootstrap token; its secret half is revealed into the
	// JoinConfiguration only.
	Token Token
	// CACertHash is CACertHash of the tenant's cluster CA.
	CACertHash string
	// NodeLabels are set by the kubelet when it registers the Node (--node-labels): no
	// kubernetes.io or k8s.io keys, which the kubelet may not set.
	NodeLabels map[string]string
	// Reserved are the kubelet's reservations (Reservations), written as a kubeadm patch
	// of the KubeletConfiguration.
	Reserved Reserved
	// CRISocket is the container runtime's socket; empty means DefaultCRISocket.
	CRISocket string
	// IgnorePreflightErrors names kubeadm preflight checks to skip, for machines that
	// cannot pass them (no systemd, say). Empty for a real server.
	IgnorePreflightErrors []string
	// Taints are registered with the Node (kubeadm's nodeRegistration.taints).
	Taints []corev1.Taint
	// KubernetesVersion, when set, is the version kubeadm on the server must be: the
	// user_data stops before joining, saying so on the console, when the image carries
	// another (a wrong image would join at a version the pool did not ask for).
	KubernetesVersion string
}

// joinConfiguration is the subset of kubeadm's v1beta4 JoinConfiguration a worker sets;
// kubeadm defaults the rest (tlsBootstrapToken is the discovery token). A local type with
// kubeadm's field names, as clusterConfiguration.
type joinConfiguration struct {
	metav1.TypeMeta  `json:",inline"`
	Discovery        joinDiscovery    `json:"discovery"`
	NodeRegistration nodeRegistration `json:"nodeRegistration"`
	Patches          joinPatches      `json:"patches"`
}

type joinDiscovery struct {
	BootstrapToken bootstrapTokenDiscovery `json:"bootstrapToken"`
}

type bootstrapTokenDiscovery struct {
	APIServerEndpoint string   `json:"apiServerEndpoint"`
	Token             string   `json:"token"`
	CACertHashes      []string `json:"caCertHashes"`
}

type nodeRegistration struct {
	Name                  string       `json:"name"`
	CRISocket             string       `json:"criSocket"`
	KubeletExtraArgs      []kubeadmArg `json:"kubeletExtraArgs,omitempty"`
	IgnorePreflightErrors []string     `json:"ignorePreflightErrors,omitempty"`
	// Taints nil lets kubeadm register a worker untainted.
	Taints []corev1.Taint `json:"taints,omitempty"`
}

// kubeadmArg is v1beta4's form of an extra argument: a list of name/value pairs.
type kubeadmArg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type joinPatches struct {
	Directory string `json:"directory"`
}

// kubeletPatch is the part of the KubeletConfiguration a worker changes.
type kubeletPatch struct {
	KubeReserved   map[string]string `json:"kubeReserved"`
	SystemReserved map[string]string `json:"systemReserved"`
	EvictionHard   map[string]string `json:"evictionHard"`
}

// cloudInitValues are the values of charts/worker-cloud-init.
type cloudInitValues struct {
	ServerName        string         `json:"serverName"`
	Paths             cloudInitPaths `json:"paths"`
	JoinConfiguration string         `json:"joinConfiguration"`
	KubeletPatch      string         `json:"kubeletPatch"`
	// KubernetesVersion is checked against `kubeadm version` before the join when set.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
}

type cloudInitPaths struct {
	JoinConfiguration string `json:"joinConfiguration"`
	KubeletPatch      string `json:"kubeletPatch"`
}

var caCertHashPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// versionPattern keeps the version, which lands in a shell line, to vX.Y.Z.
var versionPattern = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)

// WorkerUserData renders a worker's cloud-init user_data: a #cloud-config document with
// only write_files (the kubeadm JoinConfiguration at JoinConfigurationPath, the kubelet
// reservations at KubeletPatchPath) and runcmd (`kubeadm join --config
// JoinConfigurationPath`). The server fetches nothing: its image must carry kubeadm, the
// kubelet of the tenant's version and a container runtime. Pure: the same inputs give the
// same bytes. The result holds the token's secret; errors never do.
func WorkerUserData(in WorkerInputs) ([]byte, error) {
	if err := validateWorkerInputs(in); err != nil {
		return nil, fmt.Errorf("worker user_data for %s: %w", in.NodeName, err)
	}
	join := joinConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: kubeadmAPIVersion, Kind: "JoinConfiguration"},
		Discovery: joinDiscovery{BootstrapToken: bootstrapTokenDiscovery{
			APIServerEndpoint: in.APIServerEndpoint,
			Token:             in.Token.Reveal(),
			CACertHashes:      []string{in.CACertHash},
		}},
		NodeRegistration: nodeRegistration{
			Name:                  in.NodeName,
			CRISocket:             in.CRISocket,
			IgnorePreflightErrors: slices.Clone(in.IgnorePreflightErrors),
			Taints:                slices.Clone(in.Taints),
		},
		Patches: joinPatches{Directory: PatchesDir},
	}
	if join.NodeRegistration.CRISocket == "" {
		join.NodeRegistration.CRISocket = DefaultCRISocket
	}
	if len(in.NodeLabels) > 0 {
		labels := make([]string, 0, len(in.NodeLabels))
		for _, k := range slices.Sorted(maps.Keys(in.NodeLabels)) {
			labels = append(labels, k+"="+in.NodeLabels[k])
		}
		join.NodeRegistration.KubeletExtraArgs = []kubeadmArg{{Name: "node-labels", Value: strings.Join(labels, ",")}}
	}
	joinYAML, err := yaml.Marshal(join)
	if err != nil {
		return nil, fmt.Errorf("worker user_data for %s: marshal JoinConfiguration: %w", in.NodeName, err)
	}
	cfg := &kubeletv1beta1.KubeletConfiguration{}
	in.Reserved.ApplyTo(cfg)
	patchYAML, err := yaml.Marshal(kubeletPatch{KubeReserved: cfg.KubeReserved, SystemReserved: cfg.SystemReserved, EvictionHard: cfg.EvictionHard})
	if err != nil {
		return nil, fmt.Errorf("worker user_data for %s: marshal kubelet patch: %w", in.NodeName, err)
	}
	out, err := renderCloudInit(cloudInitValues{
		ServerName:        in.NodeName,
		Paths:             cloudInitPaths{JoinConfiguration: JoinConfigurationPath, KubeletPatch: KubeletPatchPath},
		JoinConfiguration: string(joinYAML),
		KubeletPatch:      string(patchYAML),
		KubernetesVersion: in.KubernetesVersion,
	})
	if err != nil {
		// Helm's errors quote the template, never the values: the token stays out.
		return nil, fmt.Errorf("worker user_data for %s: %w", in.NodeName, err)
	}
	return out, nil
}

func validateWorkerInputs(in WorkerInputs) error {
	var errs []error
	if msgs := validation.IsDNS1123Subdomain(in.NodeName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("node name %q: %s", in.NodeName, strings.Join(msgs, "; ")))
	}
	host, port, err := net.SplitHostPort(in.APIServerEndpoint)
	if err != nil || host == "" {
		errs = append(errs, fmt.Errorf("API server endpoint %q is not host:port", in.APIServerEndpoint))
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		errs = append(errs, fmt.Errorf("API server endpoint %q: bad port", in.APIServerEndpoint))
	}
	if in.Token.ID == "" || in.Token.secretPart() == "" || !tokenPattern.MatchString(in.Token.Reveal()) {
		// Never the token itself in a message.
		errs = append(errs, fmt.Errorf("bootstrap token %s is not a whole [a-z0-9]{6}.[a-z0-9]{16} token", in.Token))
	}
	if in.KubernetesVersion != "" && !versionPattern.MatchString(in.KubernetesVersion) {
		errs = append(errs, fmt.Errorf("version %q is not vX.Y.Z", in.KubernetesVersion))
	}
	if !caCertHashPattern.MatchString(in.CACertHash) {
		errs = append(errs, fmt.Errorf("CA certificate hash %q is not sha256:<64 hex digits>", in.CACertHash))
	}
	for _, k := range slices.Sorted(maps.Keys(in.NodeLabels)) {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("node label key %q: %s", k, strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(in.NodeLabels[k]); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("node label %s value %q: %s", k, in.NodeLabels[k], strings.Join(msgs, "; ")))
		}
		if restrictedNodeLabel(k) {
			errs = append(errs, fmt.Errorf("node label key %q: the kubelet may not set labels of the kubernetes.io and k8s.io namespaces", k))
		}
	}
	if len(in.Reserved.KubeReserved) == 0 || len(in.Reserved.SystemReserved) == 0 || len(in.Reserved.EvictionHard) == 0 {
		errs = append(errs, errors.New("kubelet reservations are missing: compute them with Reservations"))
	}
	return errors.Join(errs...)
}

// restrictedNodeLabel: keys in the kubernetes.io and k8s.io namespaces, which the kubelet
// refuses to set unless they are among the few it owns (kubeadm users never need those).
func restrictedNodeLabel(key string) bool {
	prefix, _, found := strings.Cut(key, "/")
	if !found {
		return false
	}
	for _, ns := range []string{"kubernetes.io", "k8s.io"} {
		if prefix == ns || strings.HasSuffix(prefix, "."+ns) {
			return true
		}
	}
	return false
}

// cloudInitTemplate is the one template of charts/worker-cloud-init.
const cloudInitTemplate = "templates/user-data.yaml"

// renderCloudInit renders the chart's template to text: a #cloud-config document is no
// Kubernetes object.
func renderCloudInit(values cloudInitValues) ([]byte, error) {
	doc, err := render.Text(charts.WorkerCloudInit, cloudInitTemplate, values)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(doc, CloudConfigHeader+"\n") {
		return nil, fmt.Errorf("render %s: the document does not start with %s", cloudInitTemplate, CloudConfigHeader)
	}
	return []byte(doc), nil
}
