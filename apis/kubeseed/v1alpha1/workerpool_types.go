package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkerPoolSpec asks for a set of identical Nova servers, in the customer's OpenStack
// project, that join a TenantCluster as nodes.
//
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !has(self.replicas) || (self.replicas >= self.autoscaling.minReplicas && self.replicas <= self.autoscaling.maxReplicas)",message="spec.replicas must lie within spec.autoscaling.minReplicas and spec.autoscaling.maxReplicas",fieldPath=".replicas"
// +kubebuilder:validation:XValidation:rule="has(self.credentialsSecretRef) == has(oldSelf.credentialsSecretRef)",message="spec.credentialsSecretRef may not be added or removed: the servers live in the project of the credentials they were made with (this Secret, or the TenantCluster's spec.cloud.credentialsSecretRef)",fieldPath=".credentialsSecretRef"
type WorkerPoolSpec struct {
	// ClusterName is the name of the TenantCluster, in the same namespace, the servers join.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="spec.clusterName must be the name of a TenantCluster: lower-case letters, digits and '-'"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.clusterName is immutable: create a new WorkerPool to move workers to another cluster"
	ClusterName string `json:"clusterName"`

	// Replicas is the number of servers. With Autoscaling set, an autoscaler writes it
	// (through the scale subresource) within the bounds given there.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=500
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Autoscaling bounds the replica count an autoscaler may choose.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`

	// Flavor is the Nova flavor (name or ID) of every server. Kubelet reservations are
	// derived from its vCPUs and RAM unless Kubelet says otherwise.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	Flavor string `json:"flavor"`

	// Image is the Glance image (name or ID) servers boot from. It must carry kubeadm, the
	// kubelet of the cluster's version and a container runtime; cloud-init does the rest.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	Image string `json:"image"`

	// NetworkID is the customer network the servers' ports are created on (a Neutron ID).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')",message="spec.networkID must be a Neutron ID: a lower-case UUID with dashes, for example 6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c01"
	NetworkID string `json:"networkID"`

	// SubnetID pins the servers' fixed IPs to one subnet of NetworkID (a Neutron ID).
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')",message="spec.subnetID must be a Neutron ID: a lower-case UUID with dashes, for example 6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c01"
	// +optional
	SubnetID string `json:"subnetID,omitempty"`

	// AvailabilityZones the servers are spread over, round-robin. Empty lets Nova choose.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=255
	// +listType=set
	// +optional
	AvailabilityZones []string `json:"availabilityZones,omitempty"`

	// ServerGroupPolicy of the pool's Nova server group.
	// +kubebuilder:default=soft-anti-affinity
	// +kubebuilder:validation:Enum=anti-affinity;soft-anti-affinity;affinity;soft-affinity
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.serverGroupPolicy is immutable: Nova cannot change a server group's policy"
	// +optional
	ServerGroupPolicy string `json:"serverGroupPolicy,omitempty"`

	// SSHKeyName is a Nova keypair of the customer's project installed on every server.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	SSHKeyName string `json:"sshKeyName,omitempty"`

	// Kubelet overrides the reservations kubeseed derives from the flavor.
	// +optional
	Kubelet KubeletSpec `json:"kubelet,omitempty"`

	// CredentialsSecretRef names a Secret in this namespace whose key `clouds.yaml` holds an
	// application credential of the customer's project, under the cloud named by key `cloud`
	// (default `openstack`). Unset, the pool uses its TenantCluster's
	// spec.cloud.credentialsSecretRef. Immutable, and may not be added or removed later.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.credentialsSecretRef is immutable: the servers live in that project; change the Secret's data to rotate credentials"
	// +kubebuilder:validation:XValidation:rule="has(self.name) && self.name != ''",message="spec.credentialsSecretRef.name must name a Secret"
	// +optional
	CredentialsSecretRef corev1.LocalObjectReference `json:"credentialsSecretRef,omitzero"`
}

// AutoscalingSpec bounds the size of a WorkerPool.
//
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="spec.autoscaling.minReplicas must not exceed spec.autoscaling.maxReplicas",fieldPath=".minReplicas"
type AutoscalingSpec struct {
	// MinReplicas is the smallest size the pool may be scaled to.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=500
	MinReplicas int32 `json:"minReplicas"`

	// MaxReplicas is the largest size the pool may be scaled to.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	MaxReplicas int32 `json:"maxReplicas"`
}

// KubeletSpec overrides the kubelet's resource reservations. Anything left empty is derived
// from the flavor's vCPUs and RAM (see docs/concepts.md).
type KubeletSpec struct {
	// KubeReserved is kept back for the kubelet and container runtime (cpu, memory,
	// ephemeral-storage, pid).
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['cpu', 'memory', 'ephemeral-storage', 'pid'])",message="spec.kubelet.kubeReserved keys must be cpu, memory, ephemeral-storage or pid"
	// +optional
	KubeReserved map[string]resource.Quantity `json:"kubeReserved,omitempty"`

	// SystemReserved is kept back for the operating system's daemons.
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['cpu', 'memory', 'ephemeral-storage', 'pid'])",message="spec.kubelet.systemReserved keys must be cpu, memory, ephemeral-storage or pid"
	// +optional
	SystemReserved map[string]resource.Quantity `json:"systemReserved,omitempty"`

	// EvictionHard maps eviction signals to thresholds, for example
	// memory.available: 500Mi or nodefs.available: 10%.
	// +kubebuilder:validation:MaxProperties=8
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'containerfs.available', 'containerfs.inodesFree', 'pid.available'])",message="spec.kubelet.evictionHard keys must be kubelet eviction signals such as memory.available or nodefs.available"
	// +optional
	EvictionHard map[string]EvictionThreshold `json:"evictionHard,omitempty"`
}

// EvictionThreshold is a quantity (500Mi) or a percentage of capacity (10%).
// +kubebuilder:validation:MaxLength=16
// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?%|[0-9]+([.][0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?)$')",message="spec.kubelet.evictionHard values must be a quantity (500Mi) or a percentage (10%)"
type EvictionThreshold string

// WorkerPoolStatus is what the controller observed, Nova being the source of truth.
type WorkerPoolStatus struct {
	// Replicas is the number of servers that exist for this pool.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ReadyReplicas is the number of servers whose Node is Ready in the tenant.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// Selector is the label selector of the pool's Nodes, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`

	// Conditions: ServersReady, NodesReady and the summary Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// WorkerPool is a set of Nova servers in the customer's project that join a TenantCluster.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=wp,categories=kubeseed
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterName`
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Flavor",type=string,JSONPath=`.spec.flavor`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40",message="metadata.name must be at most 40 characters: it prefixes the names of the pool's servers"
type WorkerPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   WorkerPoolSpec   `json:"spec"`
	Status WorkerPoolStatus `json:"status,omitempty"`
}

// WorkerPoolList is a list of WorkerPools.
//
// +kubebuilder:object:root=true
type WorkerPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WorkerPool `json:"items"`
}
