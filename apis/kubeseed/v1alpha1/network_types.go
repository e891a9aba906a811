package v1alpha1

// NetworkSpec holds the tenant's address ranges. Every field is immutable: nodes, Services
// and certificates are built on them.
//
// +kubebuilder:validation:XValidation:rule="!has(self.serviceCIDR) || !has(self.podCIDR) || !isCIDR(self.serviceCIDR) || !isCIDR(self.podCIDR) || (!cidr(self.serviceCIDR).containsIP(cidr(self.podCIDR).ip()) && !cidr(self.podCIDR).containsIP(cidr(self.serviceCIDR).ip()))",message="spec.network.podCIDR must not overlap spec.network.serviceCIDR",fieldPath=".podCIDR"
type NetworkSpec struct {
	// ServiceCIDR is the range ClusterIP Services take their addresses from. Its first
	// address is the tenant's `kubernetes` Service, its tenth the cluster DNS. At most /12
	// and at least /28 for IPv4, at most /108 and at least /124 for IPv6.
	// +kubebuilder:default="10.96.0.0/12"
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self) == cidr(self).masked()",message="spec.network.serviceCIDR must be a network address in CIDR notation, for example 10.96.0.0/12"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || (cidr(self).ip().family() == 4 ? cidr(self).prefixLength() >= 12 : cidr(self).prefixLength() >= 108)",message="spec.network.serviceCIDR is too large: at most /12 for IPv4 or /108 for IPv6"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self).prefixLength() <= (cidr(self).ip().family() == 4 ? 28 : 124)",message="spec.network.serviceCIDR is too small: at least /28 for IPv4 or /124 for IPv6 (the kubernetes Service takes its first address, cluster DNS its tenth)"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.network.serviceCIDR is immutable"
	// +optional
	ServiceCIDR string `json:"serviceCIDR,omitempty"`

	// PodCIDR is the range pod addresses are allocated from, split into one block per node.
	// +kubebuilder:default="10.244.0.0/16"
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self) == cidr(self).masked()",message="spec.network.podCIDR must be a network address in CIDR notation, for example 10.244.0.0/16"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.network.podCIDR is immutable"
	// +optional
	PodCIDR string `json:"podCIDR,omitempty"`

	// DNSDomain is the tenant's cluster DNS domain.
	// +kubebuilder:default="cluster.local"
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="spec.network.dnsDomain must be a DNS domain of lower-case labels, for example cluster.local"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.network.dnsDomain is immutable"
	// +optional
	DNSDomain string `json:"dnsDomain,omitempty"`

	// CNI is the pod network kubeseed installs in the tenant: flannel (VXLAN between nodes,
	// with kube-router enforcing NetworkPolicy), or none for a customer who brings their own
	// (nodes stay NotReady until one runs). Unset, a new tenant gets flannel and keeps it; a
	// tenant created before kubeseed had a pod network keeps none until this is set
	// (status.addons.flannel says which runs). Immutable once set.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.network.cni is immutable"
	// +optional
	CNI CNIPlugin `json:"cni,omitempty"`
}

// CNIPlugin names the pod network kubeseed installs in a tenant.
// +kubebuilder:validation:Enum=flannel;none
type CNIPlugin string

const (
	// CNIFlannel is flannel in VXLAN mode plus kube-router's NetworkPolicy controller.
	CNIFlannel CNIPlugin = "flannel"
	// CNINone installs no pod network: the customer brings one.
	CNINone CNIPlugin = "none"
)
