package bootstrap

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// ManagedByLabel is set to "kubeseed" on every object kubeseed applies inside a tenant: an
// admin can tell them from their own, and a later prune can select them.
const ManagedByLabel = "app.kubernetes.io/managed-by"

func managedLabels() map[string]string { return map[string]string{ManagedByLabel: "kubeseed"} }

// Inputs is what Objects needs of a TenantCluster and its observed state.
type Inputs struct {
	// Endpoint is the published kube-apiserver URL, https://host:port (the admin
	// kubeconfig's server): nodes join, and kubelets then talk, through it.
	Endpoint string
	// CAPEM is the cluster CA certificate (ca.crt of the <name>-ca Secret). Only the
	// certificate: never a key.
	CAPEM []byte
	// Version is the Kubernetes version, vX.Y.Z, of the tenant's kube-apiservers;
	// kubeadm's preflight refuses a kubelet newer than it.
	Version string
	// ClusterName is the kubeadm cluster name; empty leaves kubeadm's "kubernetes".
	ClusterName string
	// Network is the TenantCluster's spec.network, as read from the API server (which
	// defaults every field).
	Network v1alpha1.NetworkSpec
}

// Objects is everything `kubeadm init` leaves in a cluster that a worker's `kubeadm join`
// needs, for the tenant described by in: cluster-info and its anonymous RBAC in
// kube-public, the join RBAC, the kubeadm-config and kubelet-config ConfigMaps, and the
// `kubernetes` Service's endpoints (the published endpoint). Bootstrap
// tokens are not among them: they are made per worker (NewToken).
//
// Every object has its apiVersion and kind set and is the same for the same inputs, so a
// server-side apply of an unchanged set writes nothing. Cluster-scoped and namespaced
// objects mix; the namespaces are kube-system and kube-public, which every apiserver makes.
func Objects(in Inputs) ([]client.Object, error) {
	objs, err := objects(in)
	if err != nil {
		return nil, fmt.Errorf("tenant bootstrap objects: %w", err)
	}
	return objs, nil
}

func objects(in Inputs) ([]client.Object, error) {
	if _, err := versions.Parse(in.Version); err != nil {
		return nil, err
	}
	endpoint, err := controlPlaneEndpoint(in.Endpoint)
	if err != nil {
		return nil, err
	}
	if err := checkNetwork(in.Network); err != nil {
		return nil, err
	}
	dnsIP, err := DNSServiceIP(in.Network.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	clusterInfo, err := ClusterInfo(in.Endpoint, in.CAPEM)
	if err != nil {
		return nil, err
	}
	kubeadmCM, err := kubeadmConfig(in, endpoint)
	if err != nil {
		return nil, err
	}
	kubeletCM, err := kubeletConfig(dnsIP, in.Network.DNSDomain)
	if err != nil {
		return nil, err
	}
	endpoints, err := kubernetesEndpoints(in.Endpoint)
	if err != nil {
		return nil, err
	}
	objs := []client.Object{clusterInfo}
	objs = append(objs, clusterInfoRBAC()...)
	objs = append(objs, kubeadmCM, kubeletCM)
	objs = append(objs, endpoints...)
	return append(objs, joinRBAC()...), nil
}

// controlPlaneEndpoint is the host:port of an https URL with an explicit port, brackets
// kept around an IPv6 address.
func controlPlaneEndpoint(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("endpoint %q is not https://host:port", endpoint)
	}
	return u.Host, nil
}

// checkNetwork refuses an empty or malformed field: the CRD defaults them all, so one
// missing means the TenantCluster did not come from the API server, and guessing a
// default here could disagree with the control plane's flags.
func checkNetwork(n v1alpha1.NetworkSpec) error {
	var errs []error
	for _, c := range []struct{ field, cidr string }{{"serviceCIDR", n.ServiceCIDR}, {"podCIDR", n.PodCIDR}} {
		if _, err := netip.ParsePrefix(c.cidr); err != nil {
			errs = append(errs, fmt.Errorf("network.%s %q: %w", c.field, c.cidr, err))
		}
	}
	if n.DNSDomain == "" {
		errs = append(errs, errors.New("network.dnsDomain is empty"))
	}
	return errors.Join(errs...)
}
