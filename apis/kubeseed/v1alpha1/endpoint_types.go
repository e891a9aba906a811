package v1alpha1

import corev1 "k8s.io/api/core/v1"

// EndpointType names how the tenant's kube-apiserver is published.
// +kubebuilder:validation:Enum=LoadBalancer;NodePort;Octavia
type EndpointType string

const (
	// EndpointLoadBalancer publishes the apiserver through a Service of type LoadBalancer,
	// served by whatever load-balancer implementation the seed has.
	EndpointLoadBalancer EndpointType = "LoadBalancer"
	// EndpointNodePort publishes the apiserver on a NodePort of the seed's nodes.
	EndpointNodePort EndpointType = "NodePort"
	// EndpointOctavia publishes the apiserver through an Octavia load balancer in the
	// customer's own OpenStack project, in front of a NodePort of the seed.
	EndpointOctavia EndpointType = "Octavia"
)

// EndpointSpec says how the tenant's kube-apiserver is reached.
//
// +kubebuilder:validation:XValidation:rule="(has(self.type) && self.type == 'Octavia') == has(self.octavia)",message="spec.endpoint.octavia must be set when spec.endpoint.type is Octavia, and only then",fieldPath=".octavia"
type EndpointSpec struct {
	// Type is LoadBalancer, NodePort or Octavia.
	// +kubebuilder:default=LoadBalancer
	// +optional
	Type EndpointType `json:"type,omitempty"`

	// Octavia configures the customer-side load balancer when Type is Octavia.
	// +optional
	Octavia *OctaviaEndpointSpec `json:"octavia,omitempty"`
}

// OctaviaEndpointStatus is the customer-side load balancer kubeseed found or made. The cloud
// is the record (resources are found by their tags); this is a cache for people.
type OctaviaEndpointStatus struct {
	// LoadBalancerID is the Octavia load balancer's ID.
	// +optional
	LoadBalancerID string `json:"loadBalancerID,omitempty"`
	// VIPAddress is the load balancer's address on spec.endpoint.octavia.subnetID.
	// +optional
	VIPAddress string `json:"vipAddress,omitempty"`
	// FloatingIP is the floating IP on the VIP, when spec.endpoint.octavia.floatingNetworkID
	// is set.
	// +optional
	FloatingIP string `json:"floatingIP,omitempty"`
}

// OctaviaEndpointSpec places the apiserver's load balancer in the customer's project, with
// the customer's credentials. The credentials, subnet and floating network default to
// spec.cloud's; each is immutable by the rules on TenantClusterSpec, which compare the value
// in effect, so a value may move unchanged between the two places.
type OctaviaEndpointSpec struct {
	// CredentialsSecretRef names a Secret in the TenantCluster's namespace whose key
	// `clouds.yaml` holds an application credential of the customer's project, under the
	// cloud named by key `cloud` (default `openstack`). Unset, spec.cloud.credentialsSecretRef
	// is used. Immutable: the load balancer lives in that project; rotate credentials by
	// changing the Secret's data.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.endpoint.octavia.credentialsSecretRef is immutable: change the Secret's data to rotate credentials"
	// +kubebuilder:validation:XValidation:rule="has(self.name) && self.name != ''",message="spec.endpoint.octavia.credentialsSecretRef.name must name a Secret"
	// +optional
	CredentialsSecretRef corev1.LocalObjectReference `json:"credentialsSecretRef,omitzero"`

	// SubnetID is the customer subnet the load balancer's VIP is allocated on. Unset,
	// spec.cloud.subnetID is used. A Neutron ID.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')",message="spec.endpoint.octavia.subnetID must be a Neutron ID: a lower-case UUID with dashes, for example 6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c01"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.endpoint.octavia.subnetID is immutable: the VIP is in every certificate and kubeconfig"
	// +optional
	SubnetID string `json:"subnetID,omitempty"`

	// FloatingNetworkID, when set, puts a floating IP from this external network on the VIP
	// and publishes that address. Unset, spec.cloud.floatingNetworkID is used, if any. A
	// Neutron ID.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')",message="spec.endpoint.octavia.floatingNetworkID must be a Neutron ID: a lower-case UUID with dashes, for example 6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c01"
	// +optional
	FloatingNetworkID string `json:"floatingNetworkID,omitempty"`

	// AllowedCIDRs limits who may reach the apiserver through the load balancer.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c) && cidr(c) == cidr(c).masked())",message="spec.endpoint.octavia.allowedCIDRs must hold network addresses in CIDR notation, for example 192.0.2.0/24"
	// +listType=set
	// +optional
	AllowedCIDRs []string `json:"allowedCIDRs,omitempty"`
}
