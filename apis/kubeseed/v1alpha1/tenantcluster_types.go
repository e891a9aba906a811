package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TenantClusterSpec is what the customer asks for: one Kubernetes control plane, run as pods
// in the seed cluster, in the TenantCluster's namespace.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.endpoint) || !has(self.endpoint) || !has(oldSelf.endpoint.type) || !has(self.endpoint.type) || self.endpoint.type == oldSelf.endpoint.type",message="spec.endpoint.type is immutable: joined workers and issued certificates depend on it",fieldPath=".endpoint.type"
//
// An Octavia endpoint takes its credentials, subnet and floating network from
// spec.endpoint.octavia, else from spec.cloud: one of the two must give credentials and a
// subnet, and what the endpoint ends up with is immutable as each Octavia field is.
//
// +kubebuilder:validation:XValidation:rule="!has(self.endpoint) || !has(self.endpoint.octavia) || has(self.endpoint.octavia.credentialsSecretRef) || has(self.cloud)",message="an Octavia endpoint needs credentials: set spec.cloud.credentialsSecretRef or spec.endpoint.octavia.credentialsSecretRef",fieldPath=".endpoint.octavia.credentialsSecretRef"
// +kubebuilder:validation:XValidation:rule="!has(self.endpoint) || !has(self.endpoint.octavia) || has(self.endpoint.octavia.subnetID) || (has(self.cloud) && has(self.cloud.subnetID))",message="an Octavia endpoint needs a subnet: set spec.cloud.subnetID or spec.endpoint.octavia.subnetID",fieldPath=".endpoint.octavia.subnetID"
// +kubebuilder:validation:XValidation:rule="!has(self.endpoint) || !has(self.endpoint.octavia) || !has(oldSelf.endpoint) || !has(oldSelf.endpoint.octavia) || (has(self.endpoint.octavia.credentialsSecretRef) ? self.endpoint.octavia.credentialsSecretRef.name : (has(self.cloud) && has(self.cloud.credentialsSecretRef) ? self.cloud.credentialsSecretRef.name : \"\")) == (has(oldSelf.endpoint.octavia.credentialsSecretRef) ? oldSelf.endpoint.octavia.credentialsSecretRef.name : (has(oldSelf.cloud) && has(oldSelf.cloud.credentialsSecretRef) ? oldSelf.cloud.credentialsSecretRef.name : \"\"))",message="the Octavia endpoint's credentials (spec.endpoint.octavia.credentialsSecretRef, else spec.cloud.credentialsSecretRef) are immutable: the load balancer lives in that project; change the Secret's data to rotate credentials",fieldPath=".endpoint.octavia.credentialsSecretRef"
// +kubebuilder:validation:XValidation:rule="!has(self.endpoint) || !has(self.endpoint.octavia) || !has(oldSelf.endpoint) || !has(oldSelf.endpoint.octavia) || (has(self.endpoint.octavia.subnetID) ? self.endpoint.octavia.subnetID : (has(self.cloud) && has(self.cloud.subnetID) ? self.cloud.subnetID : \"\")) == (has(oldSelf.endpoint.octavia.subnetID) ? oldSelf.endpoint.octavia.subnetID : (has(oldSelf.cloud) && has(oldSelf.cloud.subnetID) ? oldSelf.cloud.subnetID : \"\"))",message="the Octavia endpoint's subnet (spec.endpoint.octavia.subnetID, else spec.cloud.subnetID) is immutable: the VIP is in every certificate and kubeconfig",fieldPath=".endpoint.octavia.subnetID"
// +kubebuilder:validation:XValidation:rule="!has(self.endpoint) || !has(self.endpoint.octavia) || !has(oldSelf.endpoint) || !has(oldSelf.endpoint.octavia) || (has(self.endpoint.octavia.floatingNetworkID) ? self.endpoint.octavia.floatingNetworkID : (has(self.cloud) && has(self.cloud.floatingNetworkID) ? self.cloud.floatingNetworkID : \"\")) == (has(oldSelf.endpoint.octavia.floatingNetworkID) ? oldSelf.endpoint.octavia.floatingNetworkID : (has(oldSelf.cloud) && has(oldSelf.cloud.floatingNetworkID) ? oldSelf.cloud.floatingNetworkID : \"\"))",message="the Octavia endpoint's floating network (spec.endpoint.octavia.floatingNetworkID, else spec.cloud.floatingNetworkID) is immutable: the published address is in every certificate and kubeconfig",fieldPath=".endpoint.octavia.floatingNetworkID"
// +kubebuilder:validation:XValidation:rule="has(self.certificateAuthorities) == has(oldSelf.certificateAuthorities)",message="spec.certificateAuthorities may not be added or removed: the tenant's certificates and joined workers trust its CAs",fieldPath=".certificateAuthorities"
// +kubebuilder:validation:XValidation:rule="!has(self.controlPlane) || !has(self.controlPlane.etcd) || !has(self.controlPlane.etcd.backup) || !has(self.controlPlane.etcd.backup.container) || has(self.cloud)",message="spec.controlPlane.etcd.backup.container names a Swift container of spec.cloud's project: without spec.cloud, backups go to the seed's operator-wide store, whose container the admin chooses (docs/backups.md#an-operator-wide-store)",fieldPath=".controlPlane.etcd.backup.container"
// +kubebuilder:validation:XValidation:rule="!((has(self.hibernated) && self.hibernated) || (has(oldSelf.hibernated) && oldSelf.hibernated)) || self.version == oldSelf.version",message="spec.version cannot change while the tenant hibernates, nor together with spec.hibernated: wake it (spec.hibernated: false) first, then upgrade",fieldPath=".version"
// +kubebuilder:validation:XValidation:rule="has(self.restore) ? (has(oldSelf.restore) && self.restore == oldSelf.restore) || (has(self.restore.inPlace) && self.restore.inPlace) : !has(oldSelf.restore)",message="spec.restore may be set or changed on a TenantCluster that exists only with spec.restore.inPlace: true, which replaces the tenant's etcd data with the backup's (docs/backups.md#restoring-in-place); once set it is never removed",fieldPath=".restore"
// +kubebuilder:validation:XValidation:rule="!((has(self.hibernated) && self.hibernated) || (has(oldSelf.hibernated) && oldSelf.hibernated)) || (has(self.restore) ? has(oldSelf.restore) && self.restore == oldSelf.restore : !has(oldSelf.restore))",message="spec.restore cannot change while the tenant hibernates, nor together with spec.hibernated: wake it first",fieldPath=".restore"
// +kubebuilder:validation:XValidation:rule="!has(self.restore) || !has(self.restore.container) || has(self.cloud)",message="spec.restore.container names a Swift container of spec.cloud's project: without spec.cloud, backups are read from the seed's operator-wide store (docs/backups.md#an-operator-wide-store)",fieldPath=".restore.container"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.cloud) || has(self.cloud)",message="spec.cloud may not be removed: what kubeseed made in the customer's project is managed with its credentials",fieldPath=".cloud"
type TenantClusterSpec struct {
	// Version is the Kubernetes version of the control plane, vX.Y.Z. It must be one of the
	// versions this kubeseed release supports. An update may raise the patch, or the minor by
	// exactly one; it never lowers the version.
	//
	// +kubebuilder:default="v1.36.3"
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^v[0-9]+[.][0-9]+[.][0-9]+$')",message="spec.version must look like vX.Y.Z, for example v1.36.3"
	// +kubebuilder:validation:XValidation:rule="self in ['v1.34.4', 'v1.35.4', 'v1.36.3']",message="spec.version must be one of the supported versions: v1.34.4, v1.35.4, v1.36.3"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || !oldSelf.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || int(self.substring(1).split('.')[1]) > int(oldSelf.substring(1).split('.')[1]) || (int(self.substring(1).split('.')[1]) == int(oldSelf.substring(1).split('.')[1]) && int(self.split('.')[2]) >= int(oldSelf.split('.')[2]))",message="spec.version may not be lowered: downgrades are not supported"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || !oldSelf.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || int(self.substring(1).split('.')[1]) <= int(oldSelf.substring(1).split('.')[1]) + 1",message="spec.version may not skip a minor version: upgrade one minor at a time"
	// +optional
	Version string `json:"version,omitempty"`

	// ControlPlane sizes and tunes the control-plane components.
	// +kubebuilder:default={}
	// +optional
	ControlPlane ControlPlaneSpec `json:"controlPlane,omitempty"`

	// Network holds the tenant's in-cluster address ranges and DNS domain. All of it is
	// immutable once set.
	// +kubebuilder:default={}
	// +optional
	Network NetworkSpec `json:"network,omitempty"`

	// Endpoint says how the tenant's kube-apiserver is published to workers and users.
	// +kubebuilder:default={}
	// +optional
	Endpoint EndpointSpec `json:"endpoint,omitempty"`

	// Cloud is the customer's OpenStack project: the one home of the credentials kubeseed
	// acts with there, and of the subnet and external network its resources use. The
	// Octavia endpoint and WorkerPools use it unless they name their own; every later
	// cloud user of the tenant (the OpenStack cloud-controller-manager, CSI, backups to
	// Swift, a Magnum driver) reads it from here.
	// +optional
	Cloud *CloudSpec `json:"cloud,omitempty"`

	// CertificateAuthorities names Secrets, in this namespace, holding CAs the tenant's
	// certificates are issued from instead of CAs kubeseed makes (bring your own CA: Magnum
	// makes its clusters' CAs itself). Each Secret holds `tls.crt` (the CA certificate,
	// optionally followed by its chain) and `tls.key`. They are copied once, when the
	// tenant is made; later changes of the Secrets are not read. Immutable: a CA cannot be
	// swapped under running workers (see docs/security.md).
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.certificateAuthorities is immutable: the tenant's certificates and joined workers trust these CAs"
	// +optional
	CertificateAuthorities *CertificateAuthoritiesSpec `json:"certificateAuthorities,omitempty"`

	// Paused stops reconciliation of this TenantCluster; the running control plane is left
	// as it is. Useful during manual maintenance.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// Hibernated scales the tenant to nothing while keeping its data (docs/hibernation.md):
	// its WorkerPools count as zero (nodes drained, servers deleted; their spec.replicas
	// is kept), a final etcd backup is taken when backups are configured, then the
	// controllers and apiservers and, after them, etcd are scaled to zero. etcd's volumes,
	// the certificates and the endpoint stay. Setting it back to false wakes the tenant:
	// etcd, the apiservers, the controllers, the addons, then the pools' servers, which
	// join with fresh tokens. spec.version cannot change while the tenant hibernates.
	// +optional
	Hibernated bool `json:"hibernated,omitempty"`

	// Restore makes this new TenantCluster from a backup of an earlier one of the same
	// namespace and name (docs/backups.md#restoring-a-tenant): its etcd data and the keys
	// its data and clients depend on (its CAs, service-account key and encryption-at-rest
	// key), so that kubeconfigs, tokens and joined workers of the old tenant keep working.
	// The backup is read from Swift with spec.cloud's credentials, or from the seed's
	// operator-wide store for a tenant without spec.cloud, and opened with the old tenant's
	// backup key, which must still be in the manager's namespace. Set when the
	// tenant is made; set or changed later only with inPlace, which restores into this
	// tenant (docs/backups.md#restoring-in-place). A backup is restored once per name:
	// status.restore records the last one.
	// +optional
	Restore *RestoreSpec `json:"restore,omitempty"`
}

// RestoreSpec names the backup a new TenantCluster is made from.
type RestoreSpec struct {
	// Backup is the backup's name, the UTC time it started, as `kubeseed backup list` and
	// status.backup.lastBackup show it (20261206T041500Z).
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{8}T[0-9]{6}Z$')",message="spec.restore.backup must be a backup's name, the UTC time it started, for example 20261206T041500Z (kubeseed backup list)"
	Backup string `json:"backup"`

	// Container is the Swift container of spec.cloud's project the backup is in; default
	// spec.controlPlane.etcd.backup.container, else kubeseed-backups. Only with spec.cloud:
	// the operator-wide store's container is the admin's.
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="!self.contains('/')",message="spec.restore.container must be a Swift container name, without /"
	// +optional
	Container string `json:"container,omitempty"`

	// InPlace confirms a restore into this TenantCluster as it runs, the only way
	// spec.restore may be set or changed after the tenant was made: its etcd data is
	// replaced by the backup's and everything written since is lost. A backup of the data
	// it replaces is taken first when backups are configured and etcd is available
	// (annotation kubeseed.io/skip-pre-restore-backup=true skips it); the apiservers and
	// controllers stop, every etcd member is made anew from the backup, then the control
	// plane starts again in order. Only a backup taken with the tenant's own keys (its own,
	// or its predecessor's it was restored from) can be restored in place.
	// +optional
	InPlace bool `json:"inPlace,omitempty"`
}

// RestoreStatus is the last backup restored into the tenant, once its etcd holds it.
type RestoreStatus struct {
	// Backup is the backup's name.
	Backup string `json:"backup"`
	// TenantUID is the UID of the TenantCluster the backup was taken of.
	TenantUID string `json:"tenantUID"`
	// Revision is the etcd revision the backup holds (at least); the restored etcd's
	// revisions start a billion above it, so no watcher sees one go back.
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// CompletedTime is when etcd's data was restored.
	// +optional
	CompletedTime *metav1.Time `json:"completedTime,omitempty"`
}

// CertificateAuthoritiesSpec names the Secrets of provided CAs; a CA left unset is made by
// kubeseed (cert-manager, self-signed).
//
// +kubebuilder:validation:XValidation:rule="has(self.cluster) || has(self.etcd) || has(self.frontProxy)",message="spec.certificateAuthorities must name at least one of cluster, etcd and frontProxy"
type CertificateAuthoritiesSpec struct {
	// Cluster is the cluster CA ("kubernetes"): it signs the apiserver's serving
	// certificate, every client certificate (the admin's, the components', kubelets') and
	// is what workers' kubeadm join pins.
	// +optional
	Cluster *CASecretReference `json:"cluster,omitempty"`
	// Etcd signs etcd's serving, peer and client certificates.
	// +optional
	Etcd *CASecretReference `json:"etcd,omitempty"`
	// FrontProxy signs the apiserver's client certificate towards aggregated APIs.
	// +optional
	FrontProxy *CASecretReference `json:"frontProxy,omitempty"`
}

// CASecretReference names a Secret of the TenantCluster's namespace with keys tls.crt and
// tls.key.
type CASecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// CloudSpec is the customer's OpenStack project, as kubeseed reaches it.
type CloudSpec struct {
	// CredentialsSecretRef names a Secret in the TenantCluster's namespace whose key
	// `clouds.yaml` holds an application credential of the customer's project, under the
	// cloud named by key `cloud` (default `openstack`), with an optional CA bundle in key
	// `cacert`. Immutable: the load balancer and the servers live in that project; rotate
	// credentials by changing the Secret's data.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.cloud.credentialsSecretRef is immutable: the tenant's load balancer and servers live in that project; change the Secret's data to rotate credentials"
	// +kubebuilder:validation:XValidation:rule="has(self.name) && self.name != ''",message="spec.cloud.credentialsSecretRef.name must name a Secret"
	CredentialsSecretRef corev1.LocalObjectReference `json:"credentialsSecretRef"`

	// SubnetID is the customer subnet kubeseed's resources are placed on by default: the
	// Octavia endpoint's VIP unless spec.endpoint.octavia.subnetID is set. A Neutron ID.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')",message="spec.cloud.subnetID must be a Neutron ID: a lower-case UUID with dashes, for example 6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c01"
	// +optional
	SubnetID string `json:"subnetID,omitempty"`

	// FloatingNetworkID is the customer's external network floating IPs are taken from by
	// default: the Octavia endpoint publishes a floating IP from it unless
	// spec.endpoint.octavia.floatingNetworkID is set. A Neutron ID.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')",message="spec.cloud.floatingNetworkID must be a Neutron ID: a lower-case UUID with dashes, for example 6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c01"
	// +optional
	FloatingNetworkID string `json:"floatingNetworkID,omitempty"`
}

// ControlPlaneSize names a preset of every control-plane container's requests and limits
// (docs/tenantcluster.md#sizes).
// +kubebuilder:validation:Enum=tiny;small;medium;large
type ControlPlaneSize string

// The sizes, smallest first. tiny and small are Burstable on CPU: a request sized for the
// idle control plane and no CPU limit, so a starting apiserver may use the seed's idle
// cores; medium and large are Guaranteed (requests equal limits).
const (
	ControlPlaneSizeTiny   ControlPlaneSize = "tiny"
	ControlPlaneSizeSmall  ControlPlaneSize = "small"
	ControlPlaneSizeMedium ControlPlaneSize = "medium"
	ControlPlaneSizeLarge  ControlPlaneSize = "large"
)

// ControlPlaneSpec sizes and tunes the control-plane components.
type ControlPlaneSpec struct {
	// Size sets every component's requests and limits from a preset: tiny, small, medium or
	// large (docs/tenantcluster.md#sizes). A component's own resources win over the size,
	// per resource. Unset, the size in status.controlPlaneSize applies: the seed's default
	// (the operator chart's manager.defaultControlPlaneSize) when kubeseed first reconciled
	// the TenantCluster, or the size the spec last named. A new seed default never resizes
	// an existing tenant.
	// +optional
	Size ControlPlaneSize `json:"size,omitempty"`

	// APIServer configures the kube-apiserver Deployment.
	// +kubebuilder:default={}
	// +kubebuilder:validation:XValidation:rule="!has(self.extraArgs) || self.extraArgs.all(k, (k.startsWith('--') ? k.substring(2) : k) in ['contention-profiling', 'cors-allowed-origins', 'default-not-ready-toleration-seconds', 'default-unreachable-toleration-seconds', 'delete-collection-workers', 'enable-admission-plugins', 'enable-priority-and-fairness', 'event-ttl', 'feature-gates', 'goaway-chance', 'http2-max-streams-per-connection', 'kubelet-timeout', 'logging-format', 'max-mutating-requests-inflight', 'max-requests-inflight', 'min-request-timeout', 'profiling', 'request-timeout', 'runtime-config', 'service-account-extend-token-expiration', 'service-account-max-token-expiration', 'service-node-port-range', 'v', 'vmodule', 'watch-cache', 'watch-cache-sizes'])",message="spec.controlPlane.apiServer.extraArgs: a flag is not allowed; allowed flags are listed in docs/tenantcluster.md",messageExpression="'spec.controlPlane.apiServer.extraArgs: ' + self.extraArgs.filter(k, !((k.startsWith('--') ? k.substring(2) : k) in ['contention-profiling', 'cors-allowed-origins', 'default-not-ready-toleration-seconds', 'default-unreachable-toleration-seconds', 'delete-collection-workers', 'enable-admission-plugins', 'enable-priority-and-fairness', 'event-ttl', 'feature-gates', 'goaway-chance', 'http2-max-streams-per-connection', 'kubelet-timeout', 'logging-format', 'max-mutating-requests-inflight', 'max-requests-inflight', 'min-request-timeout', 'profiling', 'request-timeout', 'runtime-config', 'service-account-extend-token-expiration', 'service-account-max-token-expiration', 'service-node-port-range', 'v', 'vmodule', 'watch-cache', 'watch-cache-sizes']))[0] + ' is not allowed; allowed flags are listed in docs/tenantcluster.md'",fieldPath=".extraArgs"
	// +kubebuilder:validation:XValidation:rule="!has(self.extraArgs) || !self.extraArgs.exists(k, k.startsWith('--') && k.substring(2) in self.extraArgs)",message="spec.controlPlane.apiServer.extraArgs: a flag is given both with and without its leading --",fieldPath=".extraArgs"
	// +kubebuilder:validation:XValidation:rule="!has(self.resources) || !has(self.resources.claims) || size(self.resources.claims) == 0",message="spec.controlPlane.apiServer.resources.claims: resource claims are not supported",fieldPath=".resources.claims"
	// +kubebuilder:validation:XValidation:rule="!has(self.resources) || !has(self.resources.requests) || !has(self.resources.limits) || !['cpu', 'memory', 'ephemeral-storage'].exists(r, r in self.resources.requests && r in self.resources.limits && quantity(string(self.resources.requests[r])).compareTo(quantity(string(self.resources.limits[r]))) > 0)",message="spec.controlPlane.apiServer.resources.requests: a cpu, memory or ephemeral-storage request exceeds its limit",messageExpression="'spec.controlPlane.apiServer.resources.requests: the ' + ['cpu', 'memory', 'ephemeral-storage'].filter(r, r in self.resources.requests && r in self.resources.limits && quantity(string(self.resources.requests[r])).compareTo(quantity(string(self.resources.limits[r]))) > 0)[0] + ' request exceeds its limit'",fieldPath=".resources.requests"
	// +optional
	APIServer APIServerSpec `json:"apiServer,omitempty"`

	// ControllerManager configures the kube-controller-manager Deployment.
	// +kubebuilder:default={}
	// +kubebuilder:validation:XValidation:rule="!has(self.extraArgs) || self.extraArgs.all(k, (k.startsWith('--') ? k.substring(2) : k) in ['attach-detach-reconcile-sync-period', 'cluster-signing-duration', 'concurrent-cron-job-syncs', 'concurrent-daemonset-syncs', 'concurrent-deployment-syncs', 'concurrent-endpoint-syncs', 'concurrent-ephemeralvolume-syncs', 'concurrent-gc-syncs', 'concurrent-horizontal-pod-autoscaler-syncs', 'concurrent-job-syncs', 'concurrent-namespace-syncs', 'concurrent-rc-syncs', 'concurrent-replicaset-syncs', 'concurrent-resource-quota-syncs', 'concurrent-service-endpoint-syncs', 'concurrent-serviceaccount-token-syncs', 'concurrent-statefulset-syncs', 'concurrent-ttl-after-finished-syncs', 'concurrent-validating-admission-policy-status-syncs', 'contention-profiling', 'endpoint-updates-batch-period', 'endpointslice-updates-batch-period', 'feature-gates', 'horizontal-pod-autoscaler-cpu-initialization-period', 'horizontal-pod-autoscaler-downscale-stabilization', 'horizontal-pod-autoscaler-initial-readiness-delay', 'horizontal-pod-autoscaler-sync-period', 'horizontal-pod-autoscaler-tolerance', 'kube-api-burst', 'kube-api-qps', 'large-cluster-size-threshold', 'leader-elect-lease-duration', 'leader-elect-renew-deadline', 'leader-elect-retry-period', 'logging-format', 'max-endpoints-per-slice', 'min-resync-period', 'node-cidr-mask-size', 'node-cidr-mask-size-ipv4', 'node-cidr-mask-size-ipv6', 'node-eviction-rate', 'node-monitor-grace-period', 'node-monitor-period', 'node-startup-grace-period', 'profiling', 'pvclaimbinder-sync-period', 'resource-quota-sync-period', 'secondary-node-eviction-rate', 'terminated-pod-gc-threshold', 'unhealthy-zone-threshold', 'v', 'vmodule'])",message="spec.controlPlane.controllerManager.extraArgs: a flag is not allowed; allowed flags are listed in docs/tenantcluster.md",messageExpression="'spec.controlPlane.controllerManager.extraArgs: ' + self.extraArgs.filter(k, !((k.startsWith('--') ? k.substring(2) : k) in ['attach-detach-reconcile-sync-period', 'cluster-signing-duration', 'concurrent-cron-job-syncs', 'concurrent-daemonset-syncs', 'concurrent-deployment-syncs', 'concurrent-endpoint-syncs', 'concurrent-ephemeralvolume-syncs', 'concurrent-gc-syncs', 'concurrent-horizontal-pod-autoscaler-syncs', 'concurrent-job-syncs', 'concurrent-namespace-syncs', 'concurrent-rc-syncs', 'concurrent-replicaset-syncs', 'concurrent-resource-quota-syncs', 'concurrent-service-endpoint-syncs', 'concurrent-serviceaccount-token-syncs', 'concurrent-statefulset-syncs', 'concurrent-ttl-after-finished-syncs', 'concurrent-validating-admission-policy-status-syncs', 'contention-profiling', 'endpoint-updates-batch-period', 'endpointslice-updates-batch-period', 'feature-gates', 'horizontal-pod-autoscaler-cpu-initialization-period', 'horizontal-pod-autoscaler-downscale-stabilization', 'horizontal-pod-autoscaler-initial-readiness-delay', 'horizontal-pod-autoscaler-sync-period', 'horizontal-pod-autoscaler-tolerance', 'kube-api-burst', 'kube-api-qps', 'large-cluster-size-threshold', 'leader-elect-lease-duration', 'leader-elect-renew-deadline', 'leader-elect-retry-period', 'logging-format', 'max-endpoints-per-slice', 'min-resync-period', 'node-cidr-mask-size', 'node-cidr-mask-size-ipv4', 'node-cidr-mask-size-ipv6', 'node-eviction-rate', 'node-monitor-grace-period', 'node-monitor-period', 'node-startup-grace-period', 'profiling', 'pvclaimbinder-sync-period', 'resource-quota-sync-period', 'secondary-node-eviction-rate', 'terminated-pod-gc-threshold', 'unhealthy-zone-threshold', 'v', 'vmodule']))[0] + ' is not allowed; allowed flags are listed in docs/tenantcluster.md'",fieldPath=".extraArgs"
	// +kubebuilder:validation:XValidation:rule="!has(self.extraArgs) || !self.extraArgs.exists(k, k.startsWith('--') && k.substring(2) in self.extraArgs)",message="spec.controlPlane.controllerManager.extraArgs: a flag is given both with and without its leading --",fieldPath=".extraArgs"
	// +kubebuilder:validation:XValidation:rule="!has(self.resources) || !has(self.resources.claims) || size(self.resources.claims) == 0",message="spec.controlPlane.controllerManager.resources.claims: resource claims are not supported",fieldPath=".resources.claims"
	// +kubebuilder:validation:XValidation:rule="!has(self.resources) || !has(self.resources.requests) || !has(self.resources.limits) || !['cpu', 'memory', 'ephemeral-storage'].exists(r, r in self.resources.requests && r in self.resources.limits && quantity(string(self.resources.requests[r])).compareTo(quantity(string(self.resources.limits[r]))) > 0)",message="spec.controlPlane.controllerManager.resources.requests: a cpu, memory or ephemeral-storage request exceeds its limit",messageExpression="'spec.controlPlane.controllerManager.resources.requests: the ' + ['cpu', 'memory', 'ephemeral-storage'].filter(r, r in self.resources.requests && r in self.resources.limits && quantity(string(self.resources.requests[r])).compareTo(quantity(string(self.resources.limits[r]))) > 0)[0] + ' request exceeds its limit'",fieldPath=".resources.requests"
	// +optional
	ControllerManager ComponentSpec `json:"controllerManager,omitempty"`

	// Scheduler configures the kube-scheduler Deployment.
	// +kubebuilder:default={}
	// +kubebuilder:validation:XValidation:rule="!has(self.extraArgs) || self.extraArgs.all(k, (k.startsWith('--') ? k.substring(2) : k) in ['contention-profiling', 'feature-gates', 'kube-api-burst', 'kube-api-qps', 'leader-elect-lease-duration', 'leader-elect-renew-deadline', 'leader-elect-retry-period', 'logging-format', 'profiling', 'v', 'vmodule'])",message="spec.controlPlane.scheduler.extraArgs: a flag is not allowed; allowed flags are listed in docs/tenantcluster.md",messageExpression="'spec.controlPlane.scheduler.extraArgs: ' + self.extraArgs.filter(k, !((k.startsWith('--') ? k.substring(2) : k) in ['contention-profiling', 'feature-gates', 'kube-api-burst', 'kube-api-qps', 'leader-elect-lease-duration', 'leader-elect-renew-deadline', 'leader-elect-retry-period', 'logging-format', 'profiling', 'v', 'vmodule']))[0] + ' is not allowed; allowed flags are listed in docs/tenantcluster.md'",fieldPath=".extraArgs"
	// +kubebuilder:validation:XValidation:rule="!has(self.extraArgs) || !self.extraArgs.exists(k, k.startsWith('--') && k.substring(2) in self.extraArgs)",message="spec.controlPlane.scheduler.extraArgs: a flag is given both with and without its leading --",fieldPath=".extraArgs"
	// +kubebuilder:validation:XValidation:rule="!has(self.resources) || !has(self.resources.claims) || size(self.resources.claims) == 0",message="spec.controlPlane.scheduler.resources.claims: resource claims are not supported",fieldPath=".resources.claims"
	// +kubebuilder:validation:XValidation:rule="!has(self.resources) || !has(self.resources.requests) || !has(self.resources.limits) || !['cpu', 'memory', 'ephemeral-storage'].exists(r, r in self.resources.requests && r in self.resources.limits && quantity(string(self.resources.requests[r])).compareTo(quantity(string(self.resources.limits[r]))) > 0)",message="spec.controlPlane.scheduler.resources.requests: a cpu, memory or ephemeral-storage request exceeds its limit",messageExpression="'spec.controlPlane.scheduler.resources.requests: the ' + ['cpu', 'memory', 'ephemeral-storage'].filter(r, r in self.resources.requests && r in self.resources.limits && quantity(string(self.resources.requests[r])).compareTo(quantity(string(self.resources.limits[r]))) > 0)[0] + ' request exceeds its limit'",fieldPath=".resources.requests"
	// +optional
	Scheduler ComponentSpec `json:"scheduler,omitempty"`

	// Etcd configures the tenant's etcd StatefulSet.
	// +kubebuilder:default={}
	// +kubebuilder:validation:XValidation:rule="!has(self.resources) || !has(self.resources.claims) || size(self.resources.claims) == 0",message="spec.controlPlane.etcd.resources.claims: resource claims are not supported",fieldPath=".resources.claims"
	// +kubebuilder:validation:XValidation:rule="!has(self.resources) || !has(self.resources.requests) || !has(self.resources.limits) || !['cpu', 'memory', 'ephemeral-storage'].exists(r, r in self.resources.requests && r in self.resources.limits && quantity(string(self.resources.requests[r])).compareTo(quantity(string(self.resources.limits[r]))) > 0)",message="spec.controlPlane.etcd.resources.requests: a cpu, memory or ephemeral-storage request exceeds its limit",messageExpression="'spec.controlPlane.etcd.resources.requests: the ' + ['cpu', 'memory', 'ephemeral-storage'].filter(r, r in self.resources.requests && r in self.resources.limits && quantity(string(self.resources.requests[r])).compareTo(quantity(string(self.resources.limits[r]))) > 0)[0] + ' request exceeds its limit'",fieldPath=".resources.requests"
	// +optional
	Etcd EtcdSpec `json:"etcd,omitempty"`
}

// ComponentSpec is what every stateless control-plane component accepts.
type ComponentSpec struct {
	// Replicas is the number of pods. Two or more keep the component available while a seed
	// node is drained; extra replicas of the controller manager and scheduler are standbys
	// behind leader election.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Resources override the size's requests and limits (spec.controlPlane.size), per
	// resource. A value given alone moves its counterpart with it where the size has the two
	// equal (medium and large: Guaranteed stays Guaranteed), and otherwise only as far as a
	// request may not exceed its limit. A resource given in both may not request more than
	// its limit; claims are refused.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// ExtraArgs are added to the component's command line as --key=value. Keys are flag
	// names, with or without a leading "--" (not both for one flag). Only tuning flags are
	// accepted, a list per component (docs/tenantcluster.md): nothing that names a file, a
	// port, an address or a URL, touches etcd, authentication or authorization, or that
	// kubeseed sets itself; the apiserver's enable-admission-plugins adds to kubeseed's
	// NodeRestriction. Any other flag is refused at admission.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	ExtraArgs map[string]string `json:"extraArgs,omitempty"`
}

// APIServerSpec configures the kube-apiserver.
type APIServerSpec struct {
	ComponentSpec `json:",inline"`

	// CertSANs are extra names or addresses for the apiserver's serving certificate, on top
	// of the Service names, the tenant's `kubernetes` ClusterIP and the published endpoint.
	// Each is an IP address or a DNS name (an RFC 1123 subdomain, optionally with one
	// leading `*.`).
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.all(s, isIP(s) || s.lowerAscii().matches('^([*][.])?[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'))",message="spec.controlPlane.apiServer.certSANs must hold IP addresses or DNS names (RFC 1123 subdomains, optionally with one leading *.)",messageExpression="'spec.controlPlane.apiServer.certSANs: ' + self.filter(s, !(isIP(s) || s.lowerAscii().matches('^([*][.])?[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')))[0] + ' is neither an IP address nor a DNS name (an RFC 1123 subdomain, optionally with one leading *.)'"
	// +listType=set
	// +optional
	CertSANs []string `json:"certSANs,omitempty"`
}

// TenantClusterPhase is a one-word summary of the TenantCluster's state, for people and for
// Magnum's cluster status. Conditions carry the detail.
// +kubebuilder:validation:Enum=Provisioning;Ready;Upgrading;Degraded;Deleting;Hibernating;Hibernated;Waking
type TenantClusterPhase string

// Phases of a TenantCluster.
const (
	TenantClusterProvisioning TenantClusterPhase = "Provisioning"
	TenantClusterReady        TenantClusterPhase = "Ready"
	TenantClusterUpgrading    TenantClusterPhase = "Upgrading"
	TenantClusterDegraded     TenantClusterPhase = "Degraded"
	TenantClusterDeleting     TenantClusterPhase = "Deleting"
	// TenantClusterHibernating: spec.hibernated is set and the tenant is on its way down
	// (the Hibernated condition says which step it waits for).
	TenantClusterHibernating TenantClusterPhase = "Hibernating"
	// TenantClusterHibernated: no control-plane pod and no worker runs; the data is kept.
	TenantClusterHibernated TenantClusterPhase = "Hibernated"
	// TenantClusterWaking: spec.hibernated was cleared and the control plane is starting.
	TenantClusterWaking TenantClusterPhase = "Waking"
)

// TenantClusterStatus is what the controller observed.
type TenantClusterStatus struct {
	// Phase summarises the conditions in one word.
	// +optional
	Phase TenantClusterPhase `json:"phase,omitempty"`

	// Version is the Kubernetes version every control-plane component runs now; it moves
	// to spec.version once the last of them does (the UpToDate condition says where an
	// upgrade is).
	// +kubebuilder:validation:MaxLength=16
	// +optional
	Version string `json:"version,omitempty"`

	// Endpoint is the URL of the tenant's kube-apiserver, known as soon as it is allocated.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// Octavia is the customer-side load balancer of an Octavia endpoint.
	// +optional
	Octavia *OctaviaEndpointStatus `json:"octavia,omitempty"`

	// ControlPlaneNamespace is the seed namespace that holds this tenant's control plane
	// (etcd, apiservers, controllers, PKI): "kubeseed-<namespace>-<name>-<hash>", made and
	// written only by kubeseed (docs/architecture.md).
	// +optional
	ControlPlaneNamespace string `json:"controlPlaneNamespace,omitempty"`

	// ControlPlaneSize is the size the control plane is rendered at: spec.controlPlane.size
	// when set, otherwise the seed's default when the TenantCluster was first reconciled.
	// +optional
	ControlPlaneSize ControlPlaneSize `json:"controlPlaneSize,omitempty"`

	// KubeconfigSecretRef names the Secret in the TenantCluster's namespace whose key
	// `value` holds an admin kubeconfig (the Cluster API convention: `<name>-kubeconfig`).
	// kubeseed publishes it there and never reads it back.
	// +optional
	KubeconfigSecretRef *corev1.LocalObjectReference `json:"kubeconfigSecretRef,omitempty"`

	// Addons are the versions of the addons kubeseed runs inside the tenant, pinned when
	// first applied: they follow the control plane's version (status.version) and never
	// change with a kubeseed upgrade alone.
	// +optional
	Addons *AddonVersions `json:"addons,omitempty"`

	// Backup is the last etcd backup written, when spec.controlPlane.etcd.backup is set.
	// +optional
	Backup *EtcdBackupStatus `json:"backup,omitempty"`

	// Restore is the last backup restored into the tenant (spec.restore), once restored: the
	// one it was made from, or the last restored in place.
	// +optional
	Restore *RestoreStatus `json:"restore,omitempty"`

	// Restoring is the restore under way once etcd's data is being replaced: recorded
	// before anything is stopped and kept until it completes, even if spec.restore is set
	// back to the backup status.restore records; a spec.restore naming another backup
	// takes its place.
	// +optional
	Restoring *RestoreSpec `json:"restoring,omitempty"`

	// CAsFromBackup says whether the tenant's CAs are a backup's (it was made from one:
	// no Certificate makes them) or cert-manager's; recorded at the first reconcile and
	// never changed, whatever is restored later.
	// +optional
	CAsFromBackup *bool `json:"casFromBackup,omitempty"`

	// Conditions: CertificatesReady, EtcdAvailable, APIServerAvailable,
	// ControllerManagerAvailable, SchedulerAvailable, EndpointReady and the summary Ready,
	// which means the control plane serves. TenantBootstrapped, AddonsReady and TunnelReady
	// describe the inside of the tenant, UpToDate where an upgrade is, BackedUp when backups are configured; none is part of Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// AddonVersions are the versions of the addons inside a tenant.
type AddonVersions struct {
	// KubernetesVersion is the control-plane version the addons were pinned for.
	// +kubebuilder:validation:MaxLength=16
	KubernetesVersion string `json:"kubernetesVersion"`
	// KubeProxy is the kube-proxy version.
	// +kubebuilder:validation:MaxLength=16
	KubeProxy string `json:"kubeProxy"`
	// CoreDNS is the CoreDNS version.
	// +kubebuilder:validation:MaxLength=16
	CoreDNS string `json:"coreDNS"`
	// Flannel is the flannel version, when spec.network.cni is flannel.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	Flannel string `json:"flannel,omitempty"`
	// KubeRouter is the version of kube-router, which enforces NetworkPolicy, when
	// spec.network.cni is flannel.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	KubeRouter string `json:"kubeRouter,omitempty"`
}

// TenantCluster is one customer's Kubernetes control plane, run as pods in the seed.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tc,categories=kubeseed
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Control-Plane-Namespace",type=string,JSONPath=`.status.controlPlaneNamespace`,priority=1
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=`.status.controlPlaneSize`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40",message="metadata.name must be at most 40 characters: it prefixes the names of the tenant's Services and Secrets"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter): it names the tenant's control-plane namespace and Services"
// +kubebuilder:validation:XValidation:rule="!has(self.status) || !has(self.status.version) || !has(self.spec.version) || !self.spec.version.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || !self.status.version.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || int(self.spec.version.split('.')[1]) <= int(self.status.version.split('.')[1]) + 1",message="spec.version may be at most one minor above the version the control plane runs (status.version): let the running upgrade finish first",fieldPath=".spec.version"
type TenantCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	// +optional
	Spec   TenantClusterSpec   `json:"spec,omitempty"`
	Status TenantClusterStatus `json:"status,omitempty"`
}

// TenantClusterList is a list of TenantClusters.
//
// +kubebuilder:object:root=true
type TenantClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TenantCluster `json:"items"`
}
