package controlplane

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// AutoscalerValues configure the tenant's autoscaler (cmd/kubeseed-autoscaler): a Deployment
// "<name>-autoscaler" of one replica, its ServiceAccount (the seed's WorkerPools, through
// a Role in the customer's namespace the manager applies), the ConfigMap
// "<name>-autoscaler-kubeconfig" (the tenant, with the client certificate's files) and its
// NetworkPolicy. Everything is computed whether or not Enabled, so values.yaml shows it.
type AutoscalerValues struct {
	// Enabled renders the autoscaler: a WorkerPool of the tenant has spec.autoscaling.
	Enabled   bool `json:"enabled"`
	PodValues `json:",inline"`
	// MetricsPort serves /metrics and /healthz (the probes), plain HTTP.
	MetricsPort int32 `json:"metricsPort"`
	// Kubeconfig is the tenant kubeconfig, the one key of the ConfigMap, mounted at
	// KubeconfigDir: the apiserver Service, and the client certificate as files.
	Kubeconfig    string `json:"kubeconfig"`
	KubeconfigDir string `json:"kubeconfigDir"`
	// SeedAPIServer is where the pod may dial the seed's kube-apiserver.
	SeedAPIServer SeedAPIServerValues `json:"seedAPIServer"`
}

// SeedAPIServerValues are the seed kube-apiserver's addresses as a pod's egress meets them:
// after the `kubernetes` Service's DNAT, so its endpoints' addresses and port.
type SeedAPIServerValues struct {
	// CIDRs empty means any address.
	CIDRs []string `json:"cidrs"`
	Ports []int32  `json:"ports"`
}

// AutoscalerSettings are the seed operator's settings of every tenant's autoscaler (the
// manager's --autoscaler-* flags, the kubeseed chart's controlPlane.autoscaler). The e2e
// tests shorten the timings.
type AutoscalerSettings struct {
	// ScanInterval is the time between two passes of the autoscaler.
	ScanInterval time.Duration
	// ScaleDownUnneededTime is how long a node must be unneeded before it is removed.
	ScaleDownUnneededTime time.Duration
	// ScaleDownDelayAfterAdd and ScaleDownDelayAfterDelete hold scale-down after a
	// scale-up, and after a scale-down.
	ScaleDownDelayAfterAdd    time.Duration
	ScaleDownDelayAfterDelete time.Duration
	// ScaleDownUtilizationThreshold: a node whose requests are below this fraction of its
	// allocatable (the larger of CPU and memory) may be removed; in (0, 1].
	ScaleDownUtilizationThreshold float64
	// SeedAPIServerCIDRs and SeedAPIServerPorts bound the pod's egress to the seed's
	// kube-apiserver (SeedAPIServerValues); no CIDR means any address, no port the
	// defaults.
	SeedAPIServerCIDRs []string
	SeedAPIServerPorts []int32
}

// DefaultAutoscalerSettings are cluster-autoscaler's defaults, which users know; the seed
// API server's ports are kubeadm's and the usual managed clusters'.
func DefaultAutoscalerSettings() AutoscalerSettings {
	return AutoscalerSettings{
		ScanInterval:                  10 * time.Second,
		ScaleDownUnneededTime:         10 * time.Minute,
		ScaleDownDelayAfterAdd:        10 * time.Minute,
		ScaleDownDelayAfterDelete:     0,
		ScaleDownUtilizationThreshold: 0.5,
		SeedAPIServerPorts:            defaultSeedAPIServerPorts(),
	}
}

func defaultSeedAPIServerPorts() []int32 { return []int32{443, 6443} }

// Validate refuses settings the autoscaler would refuse, or that make no sense.
func (s AutoscalerSettings) Validate() error {
	var errs []error
	if s.ScanInterval <= 0 {
		errs = append(errs, fmt.Errorf("scan interval %s must be positive", s.ScanInterval))
	}
	for name, d := range map[string]time.Duration{
		"scale-down unneeded time": s.ScaleDownUnneededTime, "scale-down delay after add": s.ScaleDownDelayAfterAdd,
		"scale-down delay after delete": s.ScaleDownDelayAfterDelete,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", name, d))
		}
	}
	if !(s.ScaleDownUtilizationThreshold > 0 && s.ScaleDownUtilizationThreshold <= 1) {
		errs = append(errs, fmt.Errorf("scale-down utilization threshold %v is not in (0, 1]", s.ScaleDownUtilizationThreshold))
	}
	for _, c := range s.SeedAPIServerCIDRs {
		if _, err := netip.ParsePrefix(c); err != nil {
			errs = append(errs, fmt.Errorf("seed API server CIDR: %w", err))
		}
	}
	for _, p := range s.SeedAPIServerPorts {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("seed API server port %d is out of range", p))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("autoscaler settings: %w", err)
	}
	return nil
}

// The autoscaler's fixed port and paths.
const (
	AutoscalerMetricsPort int32 = 8085
	// autoscalerRepository is kubeseed's own autoscaler image (make autoscaler-image),
	// tagged with the release (AutoscalerImage).
	autoscalerRepository    = "kubeseed/autoscaler"
	autoscalerKubeconfigKey = "kubeconfig"
)

// AutoscalerKubeconfigConfigMapName holds the autoscaler's tenant kubeconfig.
func AutoscalerKubeconfigConfigMapName(cluster string) string {
	return Autoscaler.ObjectName(cluster) + "-kubeconfig"
}

// AutoscalerServiceAccountName is the autoscaler's identity in the seed: the only subject
// of its RoleBinding in the customer's namespace.
func AutoscalerServiceAccountName(cluster string) string { return Autoscaler.ObjectName(cluster) }

// AutoscalerImage is kubeseed's autoscaler image of this release (versions.Kubeseed), under
// registry when the seed mirrors images.
func AutoscalerImage(registry string) string {
	ref := autoscalerRepository + ":" + versions.Kubeseed
	if registry != "" {
		ref = strings.TrimSuffix(registry, "/") + "/" + ref
	}
	return ref
}

// autoscalerValues are the autoscaler's values; in.Autoscaler decides Enabled, a hold its
// replicas.
func autoscalerValues(tc *v1alpha1.TenantCluster, ns string, in Inputs, size v1alpha1.ControlPlaneSize, mounts []SecretMount) (AutoscalerValues, error) {
	settings := DefaultAutoscalerSettings()
	if in.AutoscalerSettings != nil {
		settings = *in.AutoscalerSettings
	}
	if err := settings.Validate(); err != nil {
		return AutoscalerValues{}, err
	}
	res, ok := SizeResources(size, Autoscaler)
	if !ok {
		return AutoscalerValues{}, invalid("spec.controlPlane.size", "%q is not one of %v", size, Sizes())
	}
	kubeconfig, err := autoscalerKubeconfig(tc.Name, ns)
	if err != nil {
		return AutoscalerValues{}, err
	}
	replicas := int32(1) // never two: each would scale the pools on its own
	if in.Held[Autoscaler] {
		replicas = 0
	}
	ports := settings.SeedAPIServerPorts
	if len(ports) == 0 {
		ports = defaultSeedAPIServerPorts()
	}
	cidrs := settings.SeedAPIServerCIDRs
	if cidrs == nil {
		cidrs = []string{}
	}
	return AutoscalerValues{
		Enabled: in.Autoscaler,
		PodValues: PodValues{
			Replicas:    replicas,
			Image:       AutoscalerImage(in.ImageRegistry),
			Args:        autoscalerFlags(tc, settings).args(),
			Resources:   res,
			GoMemLimit:  goMemLimit(res),
			Secrets:     mounts,
			PKIChecksum: pkiChecksum(mounts, in),
		},
		MetricsPort:   AutoscalerMetricsPort,
		Kubeconfig:    kubeconfig,
		KubeconfigDir: kubeconfigDir,
		SeedAPIServer: SeedAPIServerValues{CIDRs: cidrs, Ports: ports},
	}, nil
}

// autoscalerFlags are the binary's flags (its contract, issue 20): the tenant, the seed's
// WorkerPools of this cluster in the customer's namespace, the operator's timings.
func autoscalerFlags(tc *v1alpha1.TenantCluster, s AutoscalerSettings) flags {
	return flags{
		"tenant-kubeconfig":                path.Join(kubeconfigDir, autoscalerKubeconfigKey),
		"namespace":                        tc.Namespace,
		"cluster-name":                     tc.Name,
		"scan-interval":                    s.ScanInterval.String(),
		"scale-down-unneeded-time":         s.ScaleDownUnneededTime.String(),
		"scale-down-delay-after-add":       s.ScaleDownDelayAfterAdd.String(),
		"scale-down-delay-after-delete":    s.ScaleDownDelayAfterDelete.String(),
		"scale-down-utilization-threshold": strconv.FormatFloat(s.ScaleDownUtilizationThreshold, 'g', -1, 64),
		"metrics-bind-address":             ":" + port(AutoscalerMetricsPort),
	}
}

// autoscalerKubeconfig points at the tenant apiserver's Service, as the controllers'
// kubeconfigs do, with the certificate as files: cert-manager renews them in place and the
// autoscaler reloads them, so no kubeconfig Secret has to follow the renewal.
func autoscalerKubeconfig(cluster, ns string) (string, error) {
	const name = "tenant"
	server := "https://" + APIServerServiceHost(cluster, ns) + ":" + port(APIServerPort)
	out, err := clientcmd.Write(clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{name: {
			Server: server, CertificateAuthority: secretFile(AutoscalerClientSecret, CACertKey),
		}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{name: {
			ClientCertificate: secretFile(AutoscalerClientSecret, TLSCertKey),
			ClientKey:         secretFile(AutoscalerClientSecret, TLSKeyKey),
		}},
		Contexts:       map[string]*clientcmdapi.Context{name: {Cluster: name, AuthInfo: name}},
		CurrentContext: name,
	})
	if err != nil {
		return "", fmt.Errorf("autoscaler kubeconfig: %w", err)
	}
	return string(out), nil
}
