package v1alpha1

// Condition types of a TenantCluster. Ready summarises the others.
const (
	ReadyCondition                      = "Ready"
	CertificatesReadyCondition          = "CertificatesReady"
	EtcdAvailableCondition              = "EtcdAvailable"
	APIServerAvailableCondition         = "APIServerAvailable"
	ControllerManagerAvailableCondition = "ControllerManagerAvailable"
	SchedulerAvailableCondition         = "SchedulerAvailable"
	EndpointReadyCondition              = "EndpointReady"
)

// Condition types of a WorkerPool, besides Ready.
const (
	ServersReadyCondition = "ServersReady"
	NodesReadyCondition   = "NodesReady"
)

// Finalizer holds TenantClusters and WorkerPools until what they own outside the reach of
// garbage collection (cert-manager's Secrets, OpenStack resources) is gone.
const Finalizer = "kubeseed.io/finalizer"
