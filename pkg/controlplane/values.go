package controlplane

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// Values are the values of the tenant-control-plane chart; values.yaml mirrors them and a
// test keeps the two in step. Every field is always set (no omitempty): Helm merges the
// values given to it over values.yaml, so a missing key would let a default leak in.
// sigs.k8s.io/yaml reads the json tags.
type Values struct {
	// Name is the TenantCluster's name, the prefix of every object's name.
	Name string `json:"name"`
	// Namespace is the tenant's control-plane namespace (NamespaceOf); the chart refuses to render into another
	// release namespace, since flags and DNS names are computed with this one.
	Namespace string `json:"namespace"`
	// PriorityClassName of every control-plane pod; empty leaves it unset.
	PriorityClassName string `json:"priorityClassName"`
	// Spread is how a component's replicas keep off one another's node: SpreadRequired
	// (never two on a node, so losing a node loses one replica) or SpreadPreferred (a
	// seed of one node).
	Spread Spread `json:"spread"`
	// ManagerPodLabels select the kubeseed manager's pods in ManagerNamespace; etcd admits
	// them on its client port (see ManagerPodLabels).
	ManagerPodLabels map[string]string `json:"managerPodLabels"`
	// ManagerNamespace is where the manager runs: a customer can label a pod of theirs like
	// the manager, but cannot put it in this namespace.
	ManagerNamespace string `json:"managerNamespace"`

	Etcd              EtcdValues      `json:"etcd"`
	APIServer         APIServerValues `json:"apiServer"`
	ControllerManager ComponentValues `json:"controllerManager"`
	Scheduler         ComponentValues `json:"scheduler"`
	Tunnel            TunnelValues    `json:"tunnel"`
	// Autoscaler is rendered only while Enabled (Inputs.Autoscaler).
	Autoscaler AutoscalerValues `json:"autoscaler"`
}

// PodValues is what every component's pods are made of.
type PodValues struct {
	Replicas int32 `json:"replicas"`
	// Image is the full reference, registry included.
	Image string `json:"image"`
	// Args is the command line after the binary, one "--flag=value" per item, sorted by flag.
	Args []string `json:"args"`
	// Resources come from the size, with the spec's per-component resources laid over them.
	Resources corev1.ResourceRequirements `json:"resources"`
	// GoMemLimit is the container's GOMEMLIMIT (90% of its memory limit); empty sets none.
	GoMemLimit string `json:"goMemLimit"`
	// Secrets are mounted read-only, one volume each.
	Secrets []SecretMount `json:"secrets"`
	// PKIChecksum goes into the pod annotation checksum/pki: it changes when a mounted
	// Secret's data changes, so a renewed certificate rolls the pods.
	PKIChecksum string `json:"pkiChecksum"`
}

// SecretMount mounts one Secret into a component's container.
type SecretMount struct {
	// Volume is the pod volume's name.
	Volume     string `json:"volume"`
	SecretName string `json:"secretName"`
	// MountPath is the directory the keys appear in; flags point at files under it.
	MountPath string `json:"mountPath"`
	// Keys are the only keys projected, each as a file of the same name. Listing them keeps
	// CA private keys out of pods that only verify, and holds the pod until they exist.
	Keys []string `json:"keys"`
	// Reloads says the component reads this Secret's certificate and key again when the
	// files change (on each TLS handshake, or by watching them), so a renewal, which keeps
	// the CA, does not restart its pods: only a change of the Secret's ca.crt does.
	Reloads bool `json:"-"`
}

// ComponentValues configures the kube-controller-manager or the kube-scheduler Deployment.
type ComponentValues struct {
	PodValues `json:",inline"`
	// Port is the component's secure port, probed over HTTPS.
	Port int32 `json:"port"`
}

// APIServerValues configures the kube-apiserver Deployment and its Service.
type APIServerValues struct {
	ComponentValues `json:",inline"`
	Service         ServiceValues `json:"service"`
	Audit           AuditValues   `json:"audit"`
}

// AuditValues place the kube-apiserver's audit policy (a ConfigMap the chart renders) and
// its log, kept on the seed in an emptyDir the flags' rotation keeps under VolumeSizeLimit.
type AuditValues struct {
	PolicyDir       string            `json:"policyDir"`
	LogDir          string            `json:"logDir"`
	VolumeSizeLimit resource.Quantity `json:"volumeSizeLimit"`
}

// ServiceValues configures the Service that publishes the kube-apiserver.
type ServiceValues struct {
	// Type is LoadBalancer or NodePort (an Octavia endpoint fronts a NodePort).
	Type corev1.ServiceType `json:"type"`
	// NodePort pins the Service's node port; 0 lets the seed allocate one.
	NodePort int32 `json:"nodePort"`
}

// EtcdValues configures the etcd StatefulSet, its Services and its cluster ConfigMap.
// PodValues.Replicas is the StatefulSet's size, which the controller grows one member at a
// time towards the spec's.
type EtcdValues struct {
	PodValues `json:",inline"`
	// InitialClusterMembers is how many members, ordinals 0 up, ETCD_INITIAL_CLUSTER lists:
	// at least Replicas, one more while a learner waits for its pod.
	InitialClusterMembers int32 `json:"initialClusterMembers"`
	// InitialClusterState is ETCD_INITIAL_CLUSTER_STATE: "new" while the members bootstrap
	// the cluster together, "existing" once members join a running one.
	InitialClusterState string `json:"initialClusterState"`
	// Wipe is EtcdWipeKey's value (Inputs.EtcdWipe); WipeImage and WipeArgs the init
	// container that reads it.
	Wipe      string   `json:"wipe"`
	WipeImage string   `json:"wipeImage"`
	WipeArgs  []string `json:"wipeArgs"`

	ClientPort  int32 `json:"clientPort"`
	PeerPort    int32 `json:"peerPort"`
	MetricsPort int32 `json:"metricsPort"`
	// MaxUnavailable of the PodDisruptionBudget: as many members as can be lost with the
	// quorum kept; 1 for a single member (see etcdMaxUnavailable).
	MaxUnavailable int32            `json:"maxUnavailable"`
	Storage        EtcdStorageValue `json:"storage"`
	// Restore, while Enabled, renders the pod that restores the first member's volume from a
	// backup in place of the StatefulSet (Inputs.EtcdRestore).
	Restore EtcdRestoreValues `json:"restore"`
}

// EtcdRestoreValues are the restore pod's: the first member's claim, made before its
// StatefulSet (which adopts it by name), and a pod whose first container waits for the
// manager to stream the snapshot in (`kubeseed-tunnel receive`, ReceiverImage) and whose
// second restores it into the claim with etcd's own etcdutl (Args).
type EtcdRestoreValues struct {
	Enabled bool `json:"enabled"`
	// Backup names the backup restored: the pod says which (EtcdRestoreBackupAnnotation).
	Backup string `json:"backup"`
	// ReceiverImage is kubeseed's tunnel image, which carries `receive`.
	ReceiverImage string `json:"receiverImage"`
	// Args follow `etcdutl`: snapshot restore of member 0 with a new cluster token and the
	// revision bump (EtcdRestoreArgs).
	Args []string `json:"args"`
	// SnapshotSize is the snapshot volume's size: its sizeLimit and the pod's
	// ephemeral-storage request, so the scheduler places it where it fits.
	SnapshotSize string `json:"snapshotSize,omitempty"`
}

// EtcdStorageValue is each member's PersistentVolumeClaim.
type EtcdStorageValue struct {
	Size resource.Quantity `json:"size"`
	// StorageClassName empty means the seed's default StorageClass.
	StorageClassName string `json:"storageClassName"`
}

// Inputs is what the controller observed and ValuesFor cannot compute from the spec.
type Inputs struct {
	// EndpointHost is the published address of the kube-apiserver, once allocated. When it
	// is an IP it becomes --advertise-address; a DNS name is only a certificate SAN.
	EndpointHost string
	// NodePort is the node port the seed allocated to the kube-apiserver Service, pinned
	// so that a recreated Service keeps the port an Octavia pool or a user points at.
	NodePort int32
	// SecretChecksums maps each PKI Secret's name to SecretDataChecksum of its data. A
	// Secret not (yet) in the map counts as empty.
	SecretChecksums map[string]string
	// SecretCAChecksums maps each PKI Secret's name to SecretCAChecksum of its data: all
	// that a component which reloads the Secret's leaf restarts for.
	SecretCAChecksums map[string]string
	// ImageRegistry prefixes every image; empty means DefaultImageRegistry.
	ImageRegistry string
	// PriorityClassName of the control-plane pods; empty leaves it unset.
	PriorityClassName string
	// Spread of each component's replicas over nodes; empty means SpreadRequired.
	Spread Spread
	// Size is the size in effect (EffectiveSize); empty means EffectiveSize with the
	// package's DefaultSize.
	Size v1alpha1.ControlPlaneSize
	// ControllersVersion holds kube-controller-manager and kube-scheduler at an older
	// version while an upgrade waits for every kube-apiserver to run spec.version: they
	// must never be newer than an apiserver they talk to. Empty means spec.version.
	ControllersVersion string
	// APIServerVersion holds kube-apiserver at the version it runs while an upgrade waits
	// for its pre-upgrade backup. Empty means spec.version.
	APIServerVersion string
	// Held components are rendered with no replica: they wait for what their registry
	// row's Hold names (the controller decides; see Registry).
	Held map[Component]bool
	// EtcdReplicas is the etcd StatefulSet's size while the controller grows the cluster
	// towards the spec; 0 means the spec's (a cluster bootstrapped at its full size).
	EtcdReplicas int32
	// EtcdMembers is how many members ETCD_INITIAL_CLUSTER lists; 0 means EtcdReplicas.
	// One more than EtcdReplicas once a learner is added and before its pod exists.
	EtcdMembers int32
	// EtcdClusterExisting says members starting now join a running cluster
	// (ETCD_INITIAL_CLUSTER_STATE=existing) instead of bootstrapping it.
	EtcdClusterExisting bool
	// EtcdWipe is "<member name>=<token>" while a learner (added back after its member's
	// data was lost, or added to grow the cluster) has not started (EtcdWipeKey); empty
	// otherwise.
	EtcdWipe string
	// EtcdLiveImages are the live etcd StatefulSet's etcd and wipe images. Its wipe image
	// is kept while its etcd image is the one rendered: the helper is tagged with
	// kubeseed's release, and a new release alone must not roll every tenant's etcd.
	EtcdLiveImages struct{ Etcd, Wipe string }
	// EtcdRestore, when set, renders the pod that restores etcd's first member from a
	// backup instead of the StatefulSet (controllers/tenantcluster/restore.go).
	EtcdRestore *EtcdRestore
	// EtcdClaimTemplate is the size and class the live etcd StatefulSet's claim template
	// has; nil means the spec's (no StatefulSet yet). A StatefulSet's volumeClaimTemplates
	// are immutable, so it is rendered with the claim template it was created with, for
	// ever: a larger spec.controlPlane.etcd.storage.size is realised by expanding each
	// member's PersistentVolumeClaim (controllers/tenantcluster/volumes.go), and the claim
	// of a member added later starts at this size and is expanded by the controller too.
	EtcdClaimTemplate *EtcdStorageValue
	// EtcdVolumeCapacity is the smallest capacity a member's volume reports; nil means the
	// spec's size. etcd's backend quota is sized from it while it is below the spec's size
	// (volumes being expanded, or that cannot be), so the quota never outgrows the volume;
	// the members roll once to the larger quota when every volume has grown.
	EtcdVolumeCapacity *resource.Quantity
	// ManagerPodLabels override ManagerPodLabels(); empty means those.
	ManagerPodLabels map[string]string
	// ManagerNamespace is the manager's namespace, the only one etcd admits its pods from;
	// empty means DefaultManagerNamespace.
	ManagerNamespace string
	// TunnelDisabled leaves the tunnel out (docs/tunnel.md): the apiserver then dials the
	// tenant's nodes directly, which needs a route from the seed.
	TunnelDisabled bool
	// TunnelImage overrides TunnelImage(ImageRegistry) (not prefixed by ImageRegistry).
	TunnelImage string
	// TunnelServer is TunnelServerKubeseed (empty) or TunnelServerKonnectivity, whose
	// image TunnelImage must then name.
	TunnelServer string
	// TunnelNodePort is the node port the seed allocated to the Service's tunnel port,
	// pinned like NodePort.
	TunnelNodePort int32
	// Autoscaler renders the tenant's autoscaler: a WorkerPool of the tenant has
	// spec.autoscaling (the controller decides). AutoscalerSettings are the operator's;
	// nil means DefaultAutoscalerSettings.
	Autoscaler         bool
	AutoscalerSettings *AutoscalerSettings
}

// DefaultImageRegistry is where the upstream images live.
const DefaultImageRegistry = "registry.k8s.io"

// Ports and fixed paths the flags, probes and Services agree on.
const (
	APIServerPort         int32 = 6443
	ControllerManagerPort int32 = 10257
	SchedulerPort         int32 = 10259
	EtcdClientPort        int32 = 2379
	EtcdPeerPort          int32 = 2380
	EtcdMetricsPort       int32 = 2381

	pkiDir        = "/etc/kubernetes/pki"
	kubeconfigDir = "/etc/kubernetes/kubeconfig"
	// etcdDataDir lies on the chart's data volume, mounted at /var/lib/etcd, but not at its
	// root: etcd creates it with the 0700 it wants, and a filesystem's lost+found stays out.
	etcdDataDir = "/var/lib/etcd/data"
)

// Defaults the CRD applies on the server; they matter only for objects built in Go (tests,
// tools). TestDefaultsAgreeWithCRD keeps them equal to the CRD's.
const (
	defaultReplicas     int32 = 2
	defaultEtcdReplicas int32 = 3
	defaultEtcdStorage        = "8Gi"
	defaultServiceCIDR        = "10.96.0.0/12"
	defaultPodCIDR            = "10.244.0.0/16"
	defaultDNSDomain          = "cluster.local"

	// MaxNameLength bounds a TenantCluster's name (the CRD says the same): the longest
	// Service name, "<name>-kube-apiserver", must stay a DNS-1035 label.
	MaxNameLength = 40
)

// ValuesFor computes the chart values of tc. It is pure: everything observed comes in
// through in. Input that retrying cannot fix (an unsupported version, a protected extra
// argument) comes back as an error wrapping *InvalidSpecError.
func ValuesFor(tc *v1alpha1.TenantCluster, in Inputs) (Values, error) {
	if tc == nil {
		return Values{}, errors.New("compute control-plane values: nil TenantCluster")
	}
	v, err := valuesFor(tc, in)
	if err != nil {
		return Values{}, fmt.Errorf("compute control-plane values of %s/%s: %w", tc.Namespace, tc.Name, err)
	}
	return v, nil
}

func valuesFor(tc *v1alpha1.TenantCluster, in Inputs) (Values, error) {
	name, ns := tc.Name, NamespaceOf(tc)
	if err := ValidateName(name); err != nil {
		return Values{}, err
	}
	if tc.Namespace == "" {
		return Values{}, invalid("metadata.namespace", "must be set")
	}
	spec := tc.Spec
	cp := spec.ControlPlane

	version := orDefault(spec.Version, versions.Default)
	if !versions.IsSupported(version) {
		return Values{}, invalid("spec.version", "%s is not one of the supported versions %v", version, versions.Supported)
	}
	// An upgrade waiting for its backup keeps the apiservers at the version they run.
	apiServerVersion, err := heldVersion("kube-apiserver", version, in.APIServerVersion)
	if err != nil {
		return Values{}, err
	}
	controllersVersion, err := heldVersion("controllers", apiServerVersion, in.ControllersVersion)
	if err != nil {
		return Values{}, err
	}

	netw, err := networkOf(spec.Network)
	if err != nil {
		return Values{}, err
	}
	serviceType, err := serviceTypeOf(spec.Endpoint.Type)
	if err != nil {
		return Values{}, err
	}
	if in.NodePort < 0 || in.NodePort > 65535 {
		return Values{}, fmt.Errorf("observed node port %d is out of range", in.NodePort)
	}

	// In the order of Components, so that the first invalid field reported is always the same.
	specs := map[Component]struct {
		replicas  *int32
		resources *corev1.ResourceRequirements
	}{
		Etcd:              {cp.Etcd.Replicas, cp.Etcd.Resources},
		APIServer:         {cp.APIServer.Replicas, cp.APIServer.Resources},
		ControllerManager: {cp.ControllerManager.Replicas, cp.ControllerManager.Resources},
		Scheduler:         {cp.Scheduler.Replicas, cp.Scheduler.Resources},
	}
	size := in.Size
	if size == "" {
		size = EffectiveSize(tc, "")
	}
	count := make(map[Component]int32, len(Registry))
	res := make(map[Component]corev1.ResourceRequirements, len(Registry))
	for _, c := range Components() {
		if count[c], err = replicasOf(c, specs[c].replicas); err != nil {
			return Values{}, err
		}
		if res[c], err = resourcesFor(c, size, specs[c].resources); err != nil {
			return Values{}, err
		}
	}

	storage, quotaSize, err := etcdVolumesOf(cp.Etcd.Storage, in)
	if err != nil {
		return Values{}, err
	}
	etcdReplicas, etcdMembers, err := etcdSizeOf(count[Etcd], in)
	if err != nil {
		return Values{}, err
	}
	count[Etcd] = etcdReplicas
	for c, held := range in.Held {
		if _, known := count[c]; known && held {
			count[c] = 0
		}
	}
	etcdState := EtcdClusterStateNew
	if in.EtcdClusterExisting {
		etcdState = EtcdClusterStateExisting
	}
	managerLabels := in.ManagerPodLabels
	if len(managerLabels) == 0 {
		managerLabels = ManagerPodLabels()
	}

	registry := strings.TrimSuffix(orDefault(in.ImageRegistry, DefaultImageRegistry), "/")
	mounts := secretMounts(name)

	tunnel, err := tunnelValues(name, in, netw, count[APIServer], size)
	if err != nil {
		return Values{}, err
	}
	apiFlags := apiServerFlags(name, ns, netw, in.EndpointHost)
	if tunnel.Enabled {
		apiFlags["egress-selector-config-file"] = egressSelectorFile
	}
	apiArgs, err := withExtraArgs(APIServer, apiFlags, sizeFlags(APIServer, size, cp.APIServer.ExtraArgs), cp.APIServer.ExtraArgs)
	if err != nil {
		return Values{}, err
	}
	kcmArgs, err := withExtraArgs(ControllerManager, controllerManagerFlags(name, netw), sizeFlags(ControllerManager, size, cp.ControllerManager.ExtraArgs), cp.ControllerManager.ExtraArgs)
	if err != nil {
		return Values{}, err
	}
	schedArgs, err := withExtraArgs(Scheduler, schedulerFlags(), sizeFlags(Scheduler, size, cp.Scheduler.ExtraArgs), cp.Scheduler.ExtraArgs)
	if err != nil {
		return Values{}, err
	}

	autoscaler, err := autoscalerValues(tc, ns, in, size, mounts[Autoscaler])
	if err != nil {
		return Values{}, err
	}

	pod := func(c Component, image string, args []string) PodValues {
		checksummed := mounts[c]
		if c == APIServer && tunnel.Enabled {
			// The sidecar's Secrets roll the pod too.
			checksummed = append(slices.Clone(checksummed), tunnel.Secrets...)
		}
		return PodValues{
			Replicas:    count[c],
			Image:       image,
			Args:        args,
			Resources:   res[c],
			GoMemLimit:  goMemLimit(res[c]),
			Secrets:     mounts[c],
			PKIChecksum: pkiChecksum(checksummed, in),
		}
	}

	return Values{
		Name:              name,
		Namespace:         ns,
		PriorityClassName: in.PriorityClassName,
		Spread:            orDefault(in.Spread, SpreadRequired),
		ManagerPodLabels:  managerLabels,
		ManagerNamespace:  orDefault(in.ManagerNamespace, DefaultManagerNamespace),
		Etcd: EtcdValues{
			PodValues:             pod(Etcd, etcdImage(registry), etcdFlags(name, ns, quotaSize).args()),
			InitialClusterMembers: etcdMembers,
			InitialClusterState:   etcdState,
			Wipe:                  in.EtcdWipe,
			WipeImage:             etcdWipeImage(in, etcdImage(registry)),
			WipeArgs:              EtcdWipeArgs(),
			ClientPort:            EtcdClientPort,
			PeerPort:              EtcdPeerPort,
			MetricsPort:           EtcdMetricsPort,
			MaxUnavailable:        etcdMaxUnavailable(count[Etcd]),
			Storage:               storage,
			Restore:               etcdRestoreValues(name, ns, in),
		},
		APIServer: APIServerValues{
			ComponentValues: ComponentValues{
				PodValues: pod(APIServer, kubeImage(registry, APIServer, apiServerVersion), apiArgs),
				Port:      APIServerPort,
			},
			Service: ServiceValues{Type: serviceType, NodePort: in.NodePort},
			Audit:   AuditValues{PolicyDir: auditPolicyDir, LogDir: auditLogDir, VolumeSizeLimit: auditVolumeSizeLimit()},
		},
		ControllerManager: ComponentValues{
			PodValues: pod(ControllerManager, kubeImage(registry, ControllerManager, controllersVersion), kcmArgs),
			Port:      ControllerManagerPort,
		},
		Scheduler: ComponentValues{
			PodValues: pod(Scheduler, kubeImage(registry, Scheduler, controllersVersion), schedArgs),
			Port:      SchedulerPort,
		},
		Tunnel:     tunnel,
		Autoscaler: autoscaler,
	}, nil
}

func kubeImage(registry string, c Component, version string) string {
	return registry + "/" + string(c) + ":" + version
}

// etcdImage follows registry.k8s.io's tags: the release without its "v", and a build suffix.
func etcdImage(registry string) string {
	return registry + "/etcd:" + strings.TrimPrefix(versions.Etcd, "v") + "-0"
}
