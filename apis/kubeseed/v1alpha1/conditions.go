package v1alpha1

// Condition types of a TenantCluster. Ready summarises the others.
const (
	ReadyCondition                      = "Ready"
	CertificatesReadyCondition          = "CertificatesReady"
	EtcdAvailableCondition              = "EtcdAvailable"
	APIServerAvailableCondition         = "APIServerAvailable"
	ControllerManagerAvailableCondition = "ControllerManagerAvailable"
	SchedulerAvailableCondition         = "SchedulerAvailable"
	// AutoscalerAvailableCondition reports the WorkerPool autoscaler while a pool of the
	// tenant autoscales; absent otherwise. Not part of Ready.
	AutoscalerAvailableCondition = "AutoscalerAvailable"
	EndpointReadyCondition       = "EndpointReady"
	// TenantBootstrappedCondition: what `kubeadm init` leaves behind is applied inside the
	// tenant, so workers can `kubeadm join`. Not part of Ready.
	TenantBootstrappedCondition = "TenantBootstrapped"
	// AddonsReadyCondition: kube-proxy and CoreDNS run inside the tenant at their pinned
	// versions. Not part of Ready: they need worker nodes.
	AddonsReadyCondition = "AddonsReady"
	// TunnelReadyCondition: a tunnel agent runs on every Ready node of the tenant, so the
	// apiserver reaches kubelets and webhooks there through the egress selector
	// (docs/tunnel.md). Not part of Ready either.
	TunnelReadyCondition = "TunnelReady"
	// UpToDateCondition: every control-plane component and the addons run spec.version.
	// False while an upgrade rolls (the reason names the stage) or when it cannot progress
	// (the reason names why); the tenant keeps serving meanwhile. Not part of Ready.
	UpToDateCondition = "UpToDate"
	// BackedUpCondition: the last scheduled etcd backup was written to Swift and the next
	// is not overdue. False names why (BackupFailed, BackupOverdue, a cloud reason).
	// Present only with spec.controlPlane.etcd.backup; not part of Ready: a tenant whose
	// backups fail still serves.
	BackedUpCondition = "BackedUp"
	// HibernatedCondition: with spec.hibernated, True once no control-plane pod and no
	// worker runs, False with the step it waits for (WaitingForWorkers, WaitingForBackup,
	// ScalingDown, or the backup's failure); False with Waking while a woken tenant is not
	// Ready yet. Absent otherwise. Not part of Ready.
	HibernatedCondition = "Hibernated"
)

// Condition types of a WorkerPool, besides Ready.
const (
	ServersReadyCondition = "ServersReady"
	NodesReadyCondition   = "NodesReady"
	// ProgressingCondition: True while servers made from an older spec are replaced
	// (reason RollingUpdate, the message names the servers), False once every server is
	// made from the current one (reason RolloutComplete). Not part of Ready.
	ProgressingCondition = "Progressing"
)

// Reasons of WorkerPool conditions besides the shared ones.
const (
	// RollingUpdateReason: servers of an older spec are being replaced.
	RollingUpdateReason = "RollingUpdate"
	// RolloutCompleteReason: every server is made from the current spec.
	RolloutCompleteReason = "RolloutComplete"
	// VersionSkewReason: spec.version is outside what the control plane allows (newer than
	// it, or more than three minors older); the pool makes no server until it is fixed.
	VersionSkewReason = "VersionSkew"
	// TooManyUnhealthyReason: more servers are sick than spec.healthCheck.maxUnhealthy
	// allows: none is replaced (the message names them and why).
	TooManyUnhealthyReason = "TooManyUnhealthy"
)

// Finalizer holds TenantClusters and WorkerPools until what they own outside the reach of
// garbage collection (cert-manager's Secrets, OpenStack resources) is gone.
const Finalizer = "kubeseed.io/finalizer"

// Reasons of TenantCluster conditions: one word a person can act on, the message says more.
const (
	// BackupSucceededReason: the last backup was written; the next is on schedule.
	BackupSucceededReason = "BackupSucceeded"
	// BackupFailedReason: the last backup attempt failed (the message has the error);
	// kubeseed retries within a minute.
	BackupFailedReason = "BackupFailed"
	// BackupOverdueReason: no backup was written for more than twice spec...backup.every.
	BackupOverdueReason = "BackupOverdue"
	// BackupPendingReason: the first backup is being taken, or waits for etcd.
	BackupPendingReason = "BackupPending"
	// RestoringReason (EtcdAvailable, Ready): etcd is being restored from spec.restore's
	// backup; the message says which step.
	RestoringReason = "Restoring"
	// RestoreFailedReason (EtcdAvailable, Ready): the backup spec.restore names cannot be
	// restored; the message says why (missing, its key missing, another tenant's).
	RestoreFailedReason = "RestoreFailed"
	// AvailableReason: the component serves.
	AvailableReason = "Available"
	// ProgressingReason: the component is starting or rolling out; wait.
	ProgressingReason = "Progressing"
	// WaitingForCertificatesReason: cert-manager has not issued every certificate yet.
	WaitingForCertificatesReason = "WaitingForCertificates"
	// EncryptionConfigInvalidReason: the Secret <name>-encryption-config in the control-plane
	// namespace (the key of the tenant's Secrets in etcd) was changed into something the
	// apiserver cannot use; kubeseed never replaces it, a person must repair it.
	EncryptionConfigInvalidReason = "EncryptionConfigInvalid"
	// CertificateAuthorityInvalidReason: a Secret named by spec.certificateAuthorities is
	// missing, or holds no usable CA (the message names the Secret and the key).
	CertificateAuthorityInvalidReason = "CertificateAuthorityInvalid"
	// WaitingForEndpointReason: the apiserver Service has no address yet (a LoadBalancer
	// without an implementation stays here: see the Service's events).
	WaitingForEndpointReason = "WaitingForEndpoint"
	// WaitingForDependencyReason: a component waits for one it needs (the controller
	// manager for the apiserver, the apiserver for etcd).
	WaitingForDependencyReason = "WaitingForDependency"
	// ScalingReason: etcd serves while kubeseed adds members to it, one at a time; the
	// message says how far it got.
	ScalingReason = "Scaling"
	// InvalidSpecReason: the spec cannot be realised as it is; change it.
	InvalidSpecReason = "InvalidSpec"
	// PausedReason: spec.paused is true; nothing is reconciled.
	PausedReason = "Paused"
	// DeletingReason: the TenantCluster is being deleted.
	DeletingReason = "Deleting"
	// WaitingForAPIServerReason: the tenant's kube-apiserver or its admin kubeconfig is not
	// available yet, so nothing inside the tenant can be done.
	WaitingForAPIServerReason = "WaitingForAPIServer"
	// BootstrappedReason: the tenant holds what `kubeadm join` needs.
	BootstrappedReason = "Bootstrapped"
	// TenantUnreachableReason: kubeseed could not talk to the tenant's kube-apiserver, or
	// it refused a write; the message has the error.
	TenantUnreachableReason = "TenantUnreachable"
	// WaitingForNodesReason: the tenant has no Ready node, so its addons cannot run.
	WaitingForNodesReason = "WaitingForNodes"
	// QuotaExceededReason: the customer's OpenStack project is out of quota; the message
	// names the quota. Raise it or free resources; kubeseed retries every few minutes.
	QuotaExceededReason = "QuotaExceeded"
	// CloudCredentialsInvalidReason: the credentials Secret is missing or malformed, or the
	// cloud refused it (expired or revoked application credential, missing role).
	CloudCredentialsInvalidReason = "CloudCredentialsInvalid"
	// CloudUnavailableReason: the cloud did not answer or failed (timeouts, 5xx) after
	// retries; kubeseed keeps trying with backoff.
	CloudUnavailableReason = "CloudUnavailable"
	// AuthURLNotAllowedReason: the auth_url of the customer's clouds.yaml is not one of the
	// clouds the seed's operator allows (the manager's --allowed-auth-urls); it was never
	// dialled. The message names the auth_url and lists the allowed ones.
	AuthURLNotAllowedReason = "AuthURLNotAllowed"
	// ProvisioningFailedReason: the cloud put a resource in ERROR; kubeseed replaces it.
	ProvisioningFailedReason = "ProvisioningFailed"
	// UnschedulableReason: a component's pod cannot be scheduled in the seed; the message has
	// the scheduler's words (e.g. "0/1 nodes are available: 1 Insufficient cpu").
	UnschedulableReason = "Unschedulable"
	// ImagePullFailedReason: a component's image cannot be pulled; the message names it.
	ImagePullFailedReason = "ImagePullFailed"
	// CrashLoopingReason: a component's container keeps exiting; the message has how it
	// last ended (`kubeseed describe` shows its logs).
	CrashLoopingReason = "CrashLooping"
	// ContainerFailingReason: a component's container cannot start or fails otherwise
	// (configuration errors, a failing readiness probe); the message says how.
	ContainerFailingReason = "ContainerFailing"
	// WaitingForNamespaceReason: the control-plane namespace of an earlier TenantCluster of
	// the same namespace and name is still being deleted; this one starts once it is gone.
	WaitingForNamespaceReason = "WaitingForNamespace"
	// NamespaceConflictReason: the control-plane namespace exists and belongs to something
	// else (another TenantCluster's UID, or no kubeseed label); a seed admin must remove it.
	NamespaceConflictReason = "NamespaceConflict"
	// VolumeExpandingReason (EtcdAvailable, etcd serving): kubeseed asked for larger etcd
	// volumes after spec.controlPlane.etcd.storage.size grew and the seed's storage is still
	// resizing them; the message names the PersistentVolumeClaims.
	VolumeExpandingReason = "VolumeExpanding"
	// VolumeExpansionNotSupportedReason (EtcdAvailable, etcd serving): spec.controlPlane.etcd.storage.size
	// grew but the members' StorageClass does not allow volume expansion (or is missing); the
	// volumes keep their size. A seed admin sets allowVolumeExpansion, or the size goes back.
	VolumeExpansionNotSupportedReason = "VolumeExpansionNotSupported"
	// VolumeExpansionFailedReason (EtcdAvailable): the seed refused or failed to expand an
	// etcd volume; the message has its words.
	VolumeExpansionFailedReason = "VolumeExpansionFailed"
	// UpToDateReason (UpToDate): every component runs spec.version.
	UpToDateReason = "UpToDate"
	// UpgradingAPIServersReason (UpToDate): the kube-apiservers roll to spec.version first;
	// the controller-manager and scheduler stay at the version they run until every
	// apiserver runs the new one (the version skew policy).
	UpgradingAPIServersReason = "UpgradingAPIServers"
	// HibernatedReason: spec.hibernated is true and the tenant is scaled to zero (on Ready
	// and every component's condition, and on Hibernated).
	HibernatedReason = "Hibernated"
	// WaitingForWorkersReason (Hibernated): the tenant's WorkerPools are being drained and
	// their servers deleted before the control plane stops.
	WaitingForWorkersReason = "WaitingForWorkers"
	// ScalingDownReason (Hibernated): the controllers and apiservers are stopping; etcd
	// stops after them.
	ScalingDownReason = "ScalingDown"
	// WakingReason (Hibernated): spec.hibernated was cleared; the control plane starts.
	WakingReason = "Waking"
	// WaitingForBackupReason (UpToDate, Hibernated): with spec.controlPlane.etcd.backup, an
	// upgrade begins only once a backup taken at the version it leaves is written, and a
	// hibernating control plane stops only once its final backup is.
	WaitingForBackupReason = "WaitingForBackup"
	// UpgradingControllersReason (UpToDate): every apiserver runs spec.version; the
	// controller-manager and scheduler roll to it now.
	UpgradingControllersReason = "UpgradingControllers"
	// UpgradingAddonsReason (UpToDate): the control plane runs spec.version; the tenant's
	// kubeadm configuration and addons (kube-proxy, CoreDNS) are re-pinned to it.
	UpgradingAddonsReason = "UpgradingAddons"
	// WaitingForRolloutReason (UpToDate): a new kubeseed release (or operator setting)
	// renders this control plane anew, and the manager rolls only so many tenants at a time
	// (its --max-concurrent-tenant-rollouts); this one keeps running as it is until its turn.
	WaitingForRolloutReason = "WaitingForRollout"
	// NotReadyReason summarises one or more components that do not serve.
	NotReadyReason = "ComponentsNotReady"
)
