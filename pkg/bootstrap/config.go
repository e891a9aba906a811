package bootstrap

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Names and keys of the ConfigMaps `kubeadm join` reads from kube-system.
const (
	KubeadmConfigConfigMap = "kubeadm-config"
	// ClusterConfigurationKey holds the kubeadm ClusterConfiguration.
	ClusterConfigurationKey = "ClusterConfiguration"
	KubeletConfigConfigMap  = "kubelet-config"
	// KubeletConfigKey holds the KubeletConfiguration every joining kubelet starts with.
	KubeletConfigKey = "kubelet"
	// componentConfigHashAnnotation marks a component config as kubeadm-generated rather
	// than user-supplied; kubeadm signs kubelet-config with it at init.
	componentConfigHashAnnotation = "kubeadm.kubernetes.io/component-config.hash"
)

// Paths on a node that kubeadm join lays out; the kubelet configuration refers to them.
const (
	certificatesDir = "/etc/kubernetes/pki"
	manifestsDir    = "/etc/kubernetes/manifests"
)

// kubeadmAPIVersion is the kubeadm configuration API kubeadm 1.31 to 1.36 read and write.
const kubeadmAPIVersion = "kubeadm.k8s.io/v1beta4"

// clusterConfiguration is the subset of kubeadm's v1beta4 ClusterConfiguration that a
// worker's join uses; kubeadm defaults the rest. A local type, with kubeadm's field names,
// because kubeadm's own lives in k8s.io/kubernetes, which is not meant to be imported.
type clusterConfiguration struct {
	metav1.TypeMeta `json:",inline"`
	// ClusterName empty leaves kubeadm's default, "kubernetes".
	ClusterName string `json:"clusterName,omitempty"`
	// KubernetesVersion is compared with the joining kubelet's by kubeadm's preflight.
	KubernetesVersion string `json:"kubernetesVersion"`
	// ControlPlaneEndpoint is host:port of the published endpoint.
	ControlPlaneEndpoint string            `json:"controlPlaneEndpoint"`
	CertificatesDir      string            `json:"certificatesDir"`
	Networking           kubeadmNetworking `json:"networking"`
}

type kubeadmNetworking struct {
	ServiceSubnet string `json:"serviceSubnet"`
	PodSubnet     string `json:"podSubnet"`
	DNSDomain     string `json:"dnsDomain"`
}

// kubeadmConfig is the kubeadm-config ConfigMap, as kubeadm's upload-config phase leaves it.
func kubeadmConfig(in Inputs, controlPlaneEndpoint string) (*corev1.ConfigMap, error) {
	doc, err := yaml.Marshal(clusterConfiguration{
		TypeMeta:             metav1.TypeMeta{APIVersion: kubeadmAPIVersion, Kind: "ClusterConfiguration"},
		ClusterName:          in.ClusterName,
		KubernetesVersion:    in.Version,
		ControlPlaneEndpoint: controlPlaneEndpoint,
		CertificatesDir:      certificatesDir,
		Networking: kubeadmNetworking{
			ServiceSubnet: in.Network.ServiceCIDR,
			PodSubnet:     in.Network.PodCIDR,
			DNSDomain:     in.Network.DNSDomain,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("marshal ClusterConfiguration: %w", err)
	}
	return configMap(metav1.NamespaceSystem, KubeadmConfigConfigMap, map[string]string{ClusterConfigurationKey: string(doc)}), nil
}

// KubeletConfiguration is what every joining kubelet starts from: kubeadm's defaults for
// the tenant's network. Reservations are per node and not in it (Reserved.ApplyTo).
func KubeletConfiguration(dnsIP netip.Addr, dnsDomain string) *kubeletv1beta1.KubeletConfiguration {
	return &kubeletv1beta1.KubeletConfiguration{
		TypeMeta:      metav1.TypeMeta{APIVersion: kubeletv1beta1.SchemeGroupVersion.String(), Kind: "KubeletConfiguration"},
		StaticPodPath: manifestsDir,
		ClusterDNS:    []string{dnsIP.String()},
		ClusterDomain: dnsDomain,
		Authentication: kubeletv1beta1.KubeletAuthentication{
			// Clients of the kubelet API: the apiserver by certificate, anyone else by a
			// token the apiserver reviews; never anonymous.
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: path.Join(certificatesDir, "ca.crt")},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		},
		Authorization:      kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		HealthzBindAddress: "127.0.0.1",
		HealthzPort:        ptr.To[int32](10248), // kubeadm join waits on it
		RotateCertificates: true,
		// The serving certificate comes from a CSR (signer kubernetes.io/kubelet-serving)
		// that kubeseed approves (ValidServingCSR), not from a self-signed one the
		// apiserver cannot verify.
		ServerTLSBootstrap: true,
		CgroupDriver:       "systemd",
	}
}

// kubeletConfig is the kubelet-config ConfigMap, signed as kubeadm signs the one it
// generates, so kubeadm treats it as its own rather than user-supplied.
func kubeletConfig(dnsIP netip.Addr, dnsDomain string) (*corev1.ConfigMap, error) {
	doc, err := yaml.Marshal(KubeletConfiguration(dnsIP, dnsDomain))
	if err != nil {
		return nil, fmt.Errorf("marshal KubeletConfiguration: %w", err)
	}
	cm := configMap(metav1.NamespaceSystem, KubeletConfigConfigMap, map[string]string{KubeletConfigKey: string(doc)})
	cm.Annotations = map[string]string{componentConfigHashAnnotation: configMapChecksum(cm.Data)}
	return cm, nil
}

// configMapChecksum is kubeadm's ChecksumForConfigMap for a ConfigMap without binaryData:
// SHA-256 over the values in key order.
func configMapChecksum(data map[string]string) string {
	h := sha256.New()
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.Write([]byte(data[k]))
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil))
}

func configMap(namespace, name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: managedLabels()},
		Data:       data,
	}
}

// DNSServiceIP is the address kubeadm gives the cluster DNS Service, and every kubelet's
// clusterDNS: the 10th address of the service CIDR (10.96.0.10 in 10.96.0.0/12).
func DNSServiceIP(serviceCIDR string) (netip.Addr, error) {
	prefix, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("service CIDR %q: %w", serviceCIDR, err)
	}
	prefix = prefix.Masked()
	ip := prefix.Addr()
	for range 10 {
		ip = ip.Next()
	}
	if !ip.IsValid() || !prefix.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("service CIDR %q has no 10th address for the DNS Service", serviceCIDR)
	}
	return ip, nil
}
