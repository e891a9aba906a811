package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EtcdSpec configures the tenant's etcd cluster.
type EtcdSpec struct {
	// Replicas is the number of etcd members: 1, 3 or 5. An odd count keeps a quorum through
	// the loss of (replicas-1)/2 members. It can grow (1 to 3 to 5) but never shrink.
	// +kubebuilder:default=3
	// +kubebuilder:validation:XValidation:rule="self in [1, 3, 5]",message="spec.controlPlane.etcd.replicas must be 1, 3 or 5: an odd member count keeps a quorum"
	// +kubebuilder:validation:XValidation:rule="self >= oldSelf",message="spec.controlPlane.etcd.replicas may not be lowered: removing etcd members is not supported"
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Storage is the persistent volume each member keeps its data on.
	// +kubebuilder:default={}
	// +optional
	Storage EtcdStorageSpec `json:"storage,omitempty"`

	// Backup takes scheduled, encrypted full snapshots of etcd into a Swift container of
	// the customer's project (spec.cloud) or, for a tenant without spec.cloud, into the
	// seed's operator-wide store, with the keys a restore needs (docs/backups.md). Unset, no
	// backup is taken.
	// +optional
	Backup *EtcdBackupSpec `json:"backup,omitempty"`

	// Resources override the size's requests and limits of each etcd member, as for the
	// other components. A resource given in both may not request more than its limit;
	// claims are refused.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// EtcdBackupSpec schedules etcd backups into Swift.
//
// +kubebuilder:validation:XValidation:rule="!has(self.maxAge) || !has(self.every) || duration(self.maxAge) >= duration(self.every)",message="spec.controlPlane.etcd.backup.maxAge must be at least spec.controlPlane.etcd.backup.every: a backup must not expire before the next is taken",fieldPath=".maxAge"
type EtcdBackupSpec struct {
	// Every is the time between two backups, at least 1m; the first is taken as soon as
	// etcd serves. A backup that fails is retried within a minute.
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="spec.controlPlane.etcd.backup.every must be at least 1m"
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('720h')",message="spec.controlPlane.etcd.backup.every must be at most 720h (30 days)"
	// +optional
	Every *metav1.Duration `json:"every,omitempty"`

	// Container is the Swift container, in spec.cloud's project, backups are written to;
	// kubeseed creates it when missing. Default kubeseed-backups. Objects are named
	// <namespace>/<name>/<backup>/{manifest.json,snapshot.enc,keys.enc}. Only with
	// spec.cloud: the operator-wide store's container is the admin's.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="!self.contains('/')",message="spec.controlPlane.etcd.backup.container must not contain '/'"
	// +optional
	Container string `json:"container,omitempty"`

	// Keep is how many backups are kept; older ones are deleted after a new one is
	// written.
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Keep *int32 `json:"keep,omitempty"`

	// MaxAge, when set, has Swift itself delete each backup this long after it was started
	// (X-Delete-At on each of its objects), so backups expire even when the seed is gone.
	// At least 1h, and at least Every.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="spec.controlPlane.etcd.backup.maxAge must be at least 1h"
	// +optional
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
}

// EtcdBackupStatus is the last backup kubeseed wrote.
type EtcdBackupStatus struct {
	// LastSuccessfulTime is when the last backup that was written completely started.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`
	// LastBackup names it: the object prefix <namespace>/<name>/<backup> in the container.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	LastBackup string `json:"lastBackup,omitempty"`
	// Revision is the etcd revision the last backup holds (at least).
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// SizeBytes is the size of the last backup's snapshot as stored (compressed and
	// encrypted).
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	// Generation is the TenantCluster's metadata.generation when the last backup started:
	// an upgrade waits for a backup started at the generation that asked for it.
	// +optional
	Generation int64 `json:"generation,omitempty"`
}

// EtcdStorageSpec is the volume of one etcd member.
//
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName)",message="spec.controlPlane.etcd.storage.storageClassName may not be added or removed after creation: the members' volumes stay in their class",fieldPath=".storageClassName"
type EtcdStorageSpec struct {
	// Size of each member's PersistentVolumeClaim, at least 1Gi. It may grow, never shrink.
	// +kubebuilder:default="8Gi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('1Gi')) >= 0",message="spec.controlPlane.etcd.storage.size must be at least 1Gi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity(string(oldSelf))) >= 0",message="spec.controlPlane.etcd.storage.size may only grow: shrinking a volume is not supported"
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`

	// StorageClassName of the members' claims; unset means the seed's default StorageClass.
	// Pick a class on fast local disks: etcd is latency bound. Immutable: it can be set only
	// when the TenantCluster is created, and never changed, added or removed afterwards.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.controlPlane.etcd.storage.storageClassName is immutable: the members' volumes stay in their class"
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}
