package controlplane

import (
	"fmt"
	"net/netip"
)

// Component is one control-plane component of a TenantCluster. Its string is the value of
// the app.kubernetes.io/component label and the suffix of its objects' names.
type Component string

// The components the tenant-control-plane chart renders.
const (
	Etcd              Component = "etcd"
	APIServer         Component = "kube-apiserver"
	ControllerManager Component = "kube-controller-manager"
	Scheduler         Component = "kube-scheduler"
	// Autoscaler is kubeseed's per-tenant autoscaler (cmd/kubeseed-autoscaler), rendered
	// only while a WorkerPool of the tenant has spec.autoscaling (Inputs.Autoscaler).
	Autoscaler Component = "autoscaler"
)

// ObjectName is the name of the component's workload, "<cluster>-<component>": the etcd
// StatefulSet and its headless Service, the kube-apiserver Deployment and its Service, the
// other Deployments, and every PodDisruptionBudget and NetworkPolicy of the component.
func (c Component) ObjectName(cluster string) string { return cluster + "-" + string(c) }

// Labels every object of the chart carries; the three of them also select the pods.
const (
	LabelPartOf        = "app.kubernetes.io/part-of"
	LabelTenantCluster = "kubeseed.io/tenant-cluster"
	LabelComponent     = "app.kubernetes.io/component"

	// PartOf is the value of LabelPartOf.
	PartOf = "kubeseed"
)

// Labels are the labels (and the pod selector) of a component of the named cluster.
func Labels(cluster string, c Component) map[string]string {
	return map[string]string{
		LabelPartOf:        PartOf,
		LabelTenantCluster: cluster,
		LabelComponent:     string(c),
	}
}

// EtcdClientServiceName is the ClusterIP Service the kube-apiserver reaches etcd through.
// The etcd headless Service is Etcd.ObjectName.
func EtcdClientServiceName(cluster string) string { return Etcd.ObjectName(cluster) + "-client" }

// EtcdClientHost is the in-seed DNS name of the etcd client Service; the etcd serving
// certificate must carry it.
func EtcdClientHost(cluster, namespace string) string {
	return EtcdClientServiceName(cluster) + "." + namespace + ".svc"
}

// EtcdMemberHost is the DNS name of etcd member i under the headless Service; the etcd
// serving and peer certificates must carry it (or *.<cluster>-etcd.<namespace>.svc).
func EtcdMemberHost(cluster, namespace string, i int) string {
	sts := Etcd.ObjectName(cluster)
	return fmt.Sprintf("%s-%d.%s.%s.svc", sts, i, sts, namespace)
}

// EtcdMemberName is the name of etcd member i: its pod's name, which is its --name.
func EtcdMemberName(cluster string, i int) string {
	return fmt.Sprintf("%s-%d", Etcd.ObjectName(cluster), i)
}

// EtcdPeerURL is the peer URL member i advertises; the chart's ETCD_INITIAL_CLUSTER and a
// learner added by the controller must use exactly this one.
func EtcdPeerURL(cluster, namespace string, i int) string {
	return fmt.Sprintf("https://%s:%d", EtcdMemberHost(cluster, namespace, i), EtcdPeerPort)
}

// EtcdClientURL is the URL of the etcd client Service, which reaches ready members only.
func EtcdClientURL(cluster, namespace string) string {
	return fmt.Sprintf("https://%s:%d", EtcdClientHost(cluster, namespace), EtcdClientPort)
}

// EtcdClusterConfigMapName is the ConfigMap whose ETCD_* variables tell a starting member
// the cluster's membership (envFrom): outside the pod template, so that adding a member
// never rolls the running ones.
func EtcdClusterConfigMapName(cluster string) string { return Etcd.ObjectName(cluster) + "-cluster" }

// Keys of the etcd cluster ConfigMap, and the values of its state.
const (
	EtcdInitialClusterKey      = "ETCD_INITIAL_CLUSTER"
	EtcdInitialClusterStateKey = "ETCD_INITIAL_CLUSTER_STATE"
	EtcdClusterStateNew        = "new"
	EtcdClusterStateExisting   = "existing"
	// EtcdWipeKey is "<member name>=<token>": the member's pod wipes its data directory
	// once for that token before etcd starts (EtcdWipeArgs), so a member added back after
	// its data was lost does not start on what its crashed runs left.
	EtcdWipeKey = "KUBESEED_ETCD_WIPE"
	// EtcdNoDataReport starts the termination message of the etcd pod's init container when
	// it refuses a data directory without member data in a running cluster, for a pod
	// EtcdWipeKey does not name: that member's data is lost.
	EtcdNoDataReport = "no etcd data in "
)

// EtcdWipeArgs are the etcd pod's init container's (the tunnel image's `wipe`): it wipes
// the data directory when EtcdWipeKey names its pod with a token it has not wiped for, and
// refuses an empty one in a running cluster otherwise (EtcdNoDataReport; it reads the state
// from ETCD_INITIAL_CLUSTER_STATE, its default, so that the arguments, and with them the
// etcd pod template, stay those of earlier releases: a release rolls no etcd).
func EtcdWipeArgs() []string {
	return []string{"wipe", "--dir=" + etcdDataDir, "--done=/var/lib/etcd/wiped", "--marker-env=" + EtcdWipeKey, "--member-env=POD_NAME"}
}

// Spread says whether a component's replicas may share a node.
type Spread = string

const (
	// SpreadRequired never schedules two replicas of a component (of one revision, for the
	// Deployments, so a rollout's surge pod is not blocked by the pods it replaces) on one
	// node: a replica waits Pending rather than share.
	SpreadRequired Spread = "required"
	// SpreadPreferred spreads when it can and shares a node otherwise: for a seed of one
	// node (the local seed, the demo), where required would leave HA tenants Pending.
	SpreadPreferred Spread = "preferred"
)

// DefaultManagerNamespace is the manager's namespace when none is given: the install
// chart's default.
const DefaultManagerNamespace = "kubeseed-system"

// ManagerPodLabels select the kubeseed manager's pods in its namespace (Inputs.
// ManagerNamespace): the etcd NetworkPolicy admits them to the client port, since the
// manager adds members. The operator's install chart must label the manager's pods with them.
func ManagerPodLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": "kubeseed", "app.kubernetes.io/component": "manager"}
}

// APIServerServiceHost is the in-seed DNS name of the kube-apiserver Service: what the
// controller-manager and scheduler kubeconfigs point at, and a SAN of the serving
// certificate.
func APIServerServiceHost(cluster, namespace string) string {
	return APIServer.ObjectName(cluster) + "." + namespace + ".svc"
}

// Secret names one Secret of a tenant's PKI, by purpose. cert-manager writes the TLS ones
// (tls.crt, tls.key, ca.crt); kubeseed writes the kubeconfigs (key KubeconfigKey).
type Secret string

// The Secrets of a TenantCluster. Their names follow Cluster API's conventions where it has
// one (<cluster>-ca, <cluster>-sa, <cluster>-kubeconfig).
const (
	// CASecret is the cluster CA: it signs the apiserver, kubelet and user certificates,
	// and the controller-manager signs node CSRs with it.
	CASecret Secret = "ca"
	// EtcdCASecret signs the etcd server, peer and client certificates.
	EtcdCASecret Secret = "etcd-ca"
	// FrontProxyCASecret signs the front-proxy client certificate (aggregated APIs).
	FrontProxyCASecret Secret = "front-proxy-ca"
	// APIServerTLSSecret is the kube-apiserver serving certificate.
	APIServerTLSSecret Secret = "apiserver-tls"
	// APIServerKubeletClientSecret is the kube-apiserver's client certificate to kubelets.
	APIServerKubeletClientSecret Secret = "apiserver-kubelet-client"
	// APIServerEtcdClientSecret is the kube-apiserver's client certificate to etcd.
	APIServerEtcdClientSecret Secret = "apiserver-etcd-client"
	// EtcdServerSecret is the etcd serving certificate (client port).
	EtcdServerSecret Secret = "etcd-server"
	// EtcdPeerSecret is the etcd peer certificate, both server and client on the peer port.
	EtcdPeerSecret Secret = "etcd-peer"
	// FrontProxyClientSecret is the kube-apiserver's client certificate to aggregated
	// APIs; its common name must be FrontProxyClientCommonName.
	FrontProxyClientSecret Secret = "front-proxy-client"
	// ServiceAccountSecret holds the service-account key pair: tls.key signs tokens and
	// tls.crt verifies them (kube-apiserver accepts a certificate as a public key file). The
	// key must survive renewal (cert-manager rotationPolicy Never), or every token breaks.
	ServiceAccountSecret Secret = "sa"
	// AutoscalerClientSecret is the autoscaler's client certificate (user
	// pki.AutoscalerUser); the pod mounts it, and its kubeconfig (a ConfigMap, no secret in it)
	// names the files, which the autoscaler reloads when cert-manager renews them.
	AutoscalerClientSecret Secret = "autoscaler-client"
	// ControllerManagerKubeconfigSecret is the kube-controller-manager's kubeconfig.
	ControllerManagerKubeconfigSecret Secret = "controller-manager-kubeconfig"
	// SchedulerKubeconfigSecret is the kube-scheduler's kubeconfig.
	SchedulerKubeconfigSecret Secret = "scheduler-kubeconfig"
	// AdminKubeconfigSecret is the admin kubeconfig handed to users and Magnum.
	AdminKubeconfigSecret Secret = "kubeconfig"
	// TunnelServerSecret is the tunnel server's serving certificate (agents dial it at the
	// endpoint host), a client certificate too (it reads agents' Nodes in the tenant); its
	// ca.crt, the cluster CA, verifies the agents' client certificates: their kubelets'.
	TunnelServerSecret Secret = "tunnel-server"
	// EncryptionConfigSecret is the kube-apiserver's EncryptionConfiguration, with the key
	// that encrypts the tenant's Secrets in its etcd. Not part of the PKI: the manager makes
	// it once and never replaces it (pkg/pki.NewEncryptionConfigSecret).
	EncryptionConfigSecret Secret = "encryption-config"
)

// EncryptionConfigKey is the key of EncryptionConfigSecret holding the configuration file.
const EncryptionConfigKey = "config.yaml"

// Secrets lists every Secret of a tenant's PKI, for cleanup and inventory.
var Secrets = []Secret{
	CASecret, EtcdCASecret, FrontProxyCASecret,
	APIServerTLSSecret, APIServerKubeletClientSecret, APIServerEtcdClientSecret,
	EtcdServerSecret, EtcdPeerSecret, FrontProxyClientSecret, ServiceAccountSecret,
	ControllerManagerKubeconfigSecret, SchedulerKubeconfigSecret, AdminKubeconfigSecret,
	TunnelServerSecret, AutoscalerClientSecret,
}

// Name is the Secret's name for the named cluster, "<cluster>-<purpose>".
func (s Secret) Name(cluster string) string { return cluster + "-" + string(s) }

// Keys of the Secrets.
const (
	// KubeconfigKey holds the kubeconfig in every kubeconfig Secret (Cluster API's key).
	KubeconfigKey = "value"
	// TLSCertKey, TLSKeyKey and CACertKey are the keys cert-manager writes.
	TLSCertKey = "tls.crt"
	TLSKeyKey  = "tls.key"
	CACertKey  = "ca.crt"
)

// FrontProxyClientCommonName is the CN the kube-apiserver accepts from the front proxy
// (--requestheader-allowed-names); the front-proxy-client certificate must use it.
const FrontProxyClientCommonName = "front-proxy-client"

// KubernetesServiceIP is the ClusterIP of the tenant's `kubernetes` Service: the first
// address of the service CIDR. The apiserver serving certificate must carry it.
func KubernetesServiceIP(serviceCIDR string) (netip.Addr, error) {
	prefix, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("service CIDR %q: %w", serviceCIDR, err)
	}
	prefix = prefix.Masked()
	ip := prefix.Addr().Next()
	if !ip.IsValid() || !prefix.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("service CIDR %q has no room for the kubernetes Service address", serviceCIDR)
	}
	return ip, nil
}
