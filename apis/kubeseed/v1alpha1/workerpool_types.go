package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
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

	// Version is the Kubernetes version of the servers' kubelet and kubeadm, vX.Y.Z, one of
	// the versions this kubeseed release supports. Unset, the pool keeps the version it
	// started with (status.version: the TenantCluster's when the pool was first
	// reconciled). The image must carry this version (see docs/workers.md). It may not be
	// newer than the control plane (the TenantCluster's status.version): a pool asking for
	// that does not roll and says so in ServersReady. Changing it replaces the servers one
	// at a time, as spec.strategy says.
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^v[0-9]+[.][0-9]+[.][0-9]+$')",message="spec.version must look like vX.Y.Z, for example v1.36.3"
	// +kubebuilder:validation:XValidation:rule="self in ['v1.34.4', 'v1.35.4', 'v1.36.3']",message="spec.version must be one of the supported versions: v1.34.4, v1.35.4, v1.36.3"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || !oldSelf.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || int(self.substring(1).split('.')[1]) > int(oldSelf.substring(1).split('.')[1]) || (int(self.substring(1).split('.')[1]) == int(oldSelf.substring(1).split('.')[1]) && int(self.split('.')[2]) >= int(oldSelf.split('.')[2]))",message="spec.version may not be lowered: kubelet downgrades are not supported"
	// +optional
	Version string `json:"version,omitempty"`

	// Strategy says how servers are replaced when a server-shaping field changes (version,
	// image, flavor, kubelet).
	// +kubebuilder:default={maxSurge: 1, maxUnavailable: 0}
	// +optional
	Strategy RolloutStrategy `json:"strategy,omitzero"`

	// HealthCheck replaces servers whose Node never joins or stays not Ready (Cluster API's
	// MachineHealthCheck). On by default; zero timeouts turn each check off.
	// +kubebuilder:default={nodeStartupTimeout: "10m", unhealthyTimeout: "5m", maxUnhealthy: "40%"}
	// +optional
	HealthCheck HealthCheckSpec `json:"healthCheck,omitzero"`

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

	// NodeLabels are set on each of the pool's Nodes when it registers (the kubelet's
	// --node-labels), so that workloads and the scheduler can target the pool. The kubelet
	// may not set keys of the kubernetes.io and k8s.io namespaces, and kubeseed.io keys are
	// kubeseed's. A change replaces the servers (spec.strategy): labels are set at join.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 253 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="spec.nodeLabels keys must be label keys: an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.'"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.contains('/') || !(k.split('/')[0] in ['kubernetes.io', 'k8s.io', 'kubeseed.io'] || k.split('/')[0].endsWith('.kubernetes.io') || k.split('/')[0].endsWith('.k8s.io') || k.split('/')[0].endsWith('.kubeseed.io')))",message="spec.nodeLabels may not use the kubernetes.io, k8s.io or kubeseed.io namespaces: the kubelet may not set the first two, kubeseed sets the third"
	// +optional
	NodeLabels map[string]NodeLabelValue `json:"nodeLabels,omitempty"`

	// NodeTaints are registered with each of the pool's Nodes when it joins (kubeadm's
	// nodeRegistration.taints). A change replaces the servers (spec.strategy).
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=key
	// +listMapKey=effect
	// +optional
	NodeTaints []NodeTaint `json:"nodeTaints,omitempty"`

	// CredentialsSecretRef names a Secret in this namespace whose key `clouds.yaml` holds an
	// application credential of the customer's project, under the cloud named by key `cloud`
	// (default `openstack`). Unset, the pool uses its TenantCluster's
	// spec.cloud.credentialsSecretRef. Immutable, and may not be added or removed later.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.credentialsSecretRef is immutable: the servers live in that project; change the Secret's data to rotate credentials"
	// +kubebuilder:validation:XValidation:rule="has(self.name) && self.name != ''",message="spec.credentialsSecretRef.name must name a Secret"
	// +optional
	CredentialsSecretRef corev1.LocalObjectReference `json:"credentialsSecretRef,omitzero"`
}

// HealthCheckSpec says when a server is sick and how many may be replaced at once.
type HealthCheckSpec struct {
	// NodeStartupTimeout is how long an ACTIVE server may go without its Node registering
	// before it is replaced (a broken image, a join that failed). 0 never replaces one.
	// +kubebuilder:default="10m"
	// +optional
	NodeStartupTimeout *metav1.Duration `json:"nodeStartupTimeout,omitempty"`

	// UnhealthyTimeout is how long a Node may stay Ready=False or Unknown before its server
	// is replaced. 0 never replaces one.
	// +kubebuilder:default="5m"
	// +optional
	UnhealthyTimeout *metav1.Duration `json:"unhealthyTimeout,omitempty"`

	// MaxUnhealthy stops replacing when more servers than this (a count, or a percentage
	// of spec.replicas) are sick at once: then the cause is likely not the servers (the
	// network, the tenant), and replacing them would make things worse.
	// +kubebuilder:default="40%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^[0-9]+%$')",message="spec.healthCheck.maxUnhealthy must be a count or a percentage such as 40%"
	// +optional
	MaxUnhealthy *intstr.IntOrString `json:"maxUnhealthy,omitempty"`
}

// NodeLabelValue is a label value: at most 63 letters, digits, '-', '_' or '.', beginning
// and ending with a letter or digit, or empty.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
type NodeLabelValue string

// NodeTaint is a taint of every Node of a pool.
type NodeTaint struct {
	// Key of the taint, a label key.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')",message="spec.nodeTaints key must be a label key"
	Key string `json:"key"`
	// Value of the taint.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')",message="spec.nodeTaints value must be letters, digits, '-', '_' or '.', beginning and ending with a letter or digit"
	// +optional
	Value string `json:"value,omitempty"`
	// Effect of the taint.
	// +kubebuilder:validation:Enum=NoSchedule;PreferNoSchedule;NoExecute
	Effect corev1.TaintEffect `json:"effect"`
}

// RolloutStrategy bounds a rolling replacement of a pool's servers, as a Deployment's
// rollingUpdate does for pods.
//
// +kubebuilder:validation:XValidation:rule="(has(self.maxSurge) && self.maxSurge > 0) || (has(self.maxUnavailable) && self.maxUnavailable > 0)",message="spec.strategy.maxSurge and spec.strategy.maxUnavailable may not both be 0: nothing could be replaced"
type RolloutStrategy struct {
	// MaxSurge is how many servers beyond spec.replicas may exist during a rollout.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxSurge *int32 `json:"maxSurge,omitempty"`

	// MaxUnavailable is how many of spec.replicas Nodes may be not Ready (or draining)
	// because of the rollout.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxUnavailable *int32 `json:"maxUnavailable,omitempty"`
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

	// UpdatedReplicas is the number of servers made from the current spec (its version,
	// image, flavor and kubelet settings); a rollout is done when it equals Replicas and
	// spec.replicas.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`

	// Version is the Kubernetes version the pool makes servers with: spec.version, or when
	// that is unset the version the pool started with.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	Version string `json:"version,omitempty"`

	// NodeAllocatable is what a new Node of the pool offers pods: the flavor's vCPUs and
	// RAM less the kubelet's reservations, and the kubelet's 110 pods. The autoscaler models
	// a new node with it when the pool has no Node to copy (scale from zero). Set while
	// spec.autoscaling is.
	// +optional
	NodeAllocatable corev1.ResourceList `json:"nodeAllocatable,omitempty"`

	// Selector is the label selector of the pool's Nodes, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`

	// Conditions: ServersReady, NodesReady, Progressing (a rolling replacement under way)
	// and the summary Ready.
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
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.updatedReplicas`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Flavor",type=string,JSONPath=`.spec.flavor`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40",message="metadata.name must be at most 40 characters: it prefixes the names of the pool's servers"
// +kubebuilder:validation:XValidation:rule="!has(self.status) || !has(self.status.version) || !has(self.spec.version) || !self.spec.version.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || !self.status.version.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || int(self.spec.version.split('.')[1]) > int(self.status.version.split('.')[1]) || (int(self.spec.version.split('.')[1]) == int(self.status.version.split('.')[1]) && int(self.spec.version.split('.')[2]) >= int(self.status.version.split('.')[2]))",message="spec.version may not be lower than the version the pool runs (status.version): kubelet downgrades are not supported",fieldPath=".spec.version"
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
