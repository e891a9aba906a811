// Package tenantcluster reconciles TenantClusters: it renders each customer's control plane
// into its namespace of the seed, has cert-manager issue its PKI, publishes its endpoint and
// admin kubeconfig, and reports what it observed. Orchestration only: values, rendering,
// applying, PKI and health checks live in pkg/.
package tenantcluster

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/internal/reconcileutil"
	"github.com/kubeseed/kubeseed/pkg/apply"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/metrics"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/pki"
	"github.com/kubeseed/kubeseed/pkg/tenantaccess"
)

// FieldOwner is kubeseed's server-side apply field manager.
const FieldOwner = "kubeseed"

// requeueWhileProgressing polls a control plane that is coming up; watches on the owned
// objects usually wake the reconciler sooner.
const requeueWhileProgressing = 10 * time.Second

// Reconciler turns TenantClusters into running control planes.
type Reconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Applier  *apply.Applier
	// APIReader reads what the manager does not cache (the pods of a component that does
	// not serve); nil means Client.
	APIReader client.Reader
	// ImageRegistry prefixes control-plane images; empty means registry.k8s.io.
	ImageRegistry string
	// ManagerNamespace is where the manager runs, the one namespace tenants' etcd admits
	// its pods from; empty means controlplane.DefaultManagerNamespace.
	ManagerNamespace string
	// PriorityClassName is given to every control-plane pod; empty leaves it unset.
	PriorityClassName string
	// Spread is how each component's replicas spread over the seed's nodes
	// (controlplane.SpreadRequired, the default, or SpreadPreferred).
	Spread string
	// DefaultSize is the seed's size for a TenantCluster that names none, recorded in its
	// status when first reconciled; empty means controlplane.DefaultSize.
	DefaultSize v1alpha1.ControlPlaneSize
	// NodeAddress is the seed address published for NodePort endpoints; empty means the
	// InternalIP of the first Ready node.
	NodeAddress string
	// EtcdDialer connects to a tenant's etcd through its client Service, to add members when
	// etcd grows; nil means etcd.Dial, which needs the manager in the seed's pod network.
	// Tests without etcd pods (envtest) inject a fake.
	EtcdDialer EtcdDialer
	// Tenants are the clients of tenants' kube-apiservers (to bootstrap the tenant, approve
	// kubelet serving CSRs and apply the addons), shared with the WorkerPool controller;
	// deleting a TenantCluster evicts its client. Nil makes a cache of the reconciler's own
	// that dials with TenantDialer.
	Tenants *tenantaccess.Cache
	// TenantDialer connects to a tenant's kube-apiserver through its Service when Tenants is
	// nil; nil means tenantaccess.Dial, which needs the manager in the seed's pod network.
	// Tests without apiserver pods (envtest) inject one.
	TenantDialer tenantaccess.Dialer
	// Clouds builds OpenStack clients from a credentials Secret, for Octavia endpoints;
	// nil refuses Octavia endpoints with a condition. Tests inject a fake cloud.
	Clouds openstack.ClientFactory
	// OperatorClouds builds the clients of the admin's operator-wide backup store
	// (backup.StoreSecretName), unrestricted by the customers' allowed auth URLs; nil uses
	// Clouds.
	OperatorClouds openstack.ClientFactory
	// SeedID tags what kubeseed creates in customers' projects, so that a sweep only
	// removes this seed's orphans; empty means the UID of namespace kube-system.
	SeedID string
	// Release is the kubeseed release stamped on every rendered workload; empty means
	// versions.Kubeseed. MaxConcurrentRollouts bounds how many tenants roll at once because
	// another release (or operator setting) renders them anew; 0 means no bound.
	Release               string
	MaxConcurrentRollouts int
	// AutoscalerSettings are every tenant autoscaler's timings and seed egress; nil means
	// controlplane.DefaultAutoscalerSettings.
	AutoscalerSettings *controlplane.AutoscalerSettings
	// Backups runs tenants' etcd backups off the reconcile; SetupWithManager makes one when
	// nil. BackupSnapshotter streams their snapshots; nil dials the tenant's etcd, which
	// needs the manager in the seed's pod network (envtest injects one).
	Backups *backup.Runner
	// PodExec streams a restore's snapshot into its pod (spec.restore); nil refuses
	// restores with a message saying so.
	PodExec PodExec
	// PodLogs reads an etcd pod's last words to tell a member whose data is lost; nil
	// leaves such a member to a person (docs/tenantcluster.md, "A member whose volume is lost or whose data is corrupt").
	PodLogs           PodLogs
	restores          restoreMemory
	BackupSnapshotter BackupSnapshotter

	tenantMemory
	cloud cloudMemory
}

// Reconcile follows Cluster API's skeleton: get, finalizer, snapshot, one status patch in a
// defer, then delete or normal.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	// Deferred first, so it runs last and counts the error the status patch may add.
	defer func() { metrics.RecordReconcileError(metrics.TenantClusterController, reterr) }()
	tc := &v1alpha1.TenantCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, tc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if tc.DeletionTimestamp.IsZero() && controllerutil.AddFinalizer(tc, v1alpha1.Finalizer) {
		// The update's watch event runs the next reconcile.
		return ctrl.Result{}, r.Client.Update(ctx, tc)
	}
	before := tc.DeepCopy()
	defer func() {
		if reterr == nil {
			tc.Status.ObservedGeneration = tc.Generation
		}
		unchanged := equality.Semantic.DeepEqual(before.Status, tc.Status)
		// Optimistic: a reconcile that read a cached copy older than the last status write
		// (a requeue racing the watch) must not put older conditions and backups back.
		reterr = reconcileutil.PatchStatus(ctx, r.Client, before, tc, unchanged, reterr, func() { r.recordTransitions(before, tc) },
			client.MergeFromWithOptimisticLock{})
	}()
	if !tc.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, tc)
	}
	// Recorded before anything else, paused or not: a tenant keeps the size it got first,
	// and the source of its CAs (cert-manager's, or a backup's) for good.
	tc.Status.ControlPlaneSize = controlplane.EffectiveSize(tc, r.DefaultSize)
	if tc.Status.CAsFromBackup == nil {
		v := pki.CAsFromBackup(tc)
		tc.Status.CAsFromBackup = &v
	}
	if tc.Spec.Paused {
		setPaused(tc)
		return ctrl.Result{}, nil
	}
	return r.reconcileNormal(ctx, tc)
}

// warningReasons are reasons someone must act on.
var warningReasons = map[string]bool{
	v1alpha1.TenantUnreachableReason:       true,
	v1alpha1.QuotaExceededReason:           true,
	v1alpha1.CloudCredentialsInvalidReason: true,
	v1alpha1.CloudUnavailableReason:        true,
	v1alpha1.ProvisioningFailedReason:      true,
	v1alpha1.InvalidSpecReason:             true,
	v1alpha1.AuthURLNotAllowedReason:       true,
}

// upgradeReasons take UpToDate from True on purpose: an upgrade starting is no warning.
var upgradeReasons = map[string]bool{
	v1alpha1.WaitingForBackupReason:     true,
	v1alpha1.UpgradingAPIServersReason:  true,
	v1alpha1.UpgradingControllersReason: true,
	v1alpha1.UpgradingAddonsReason:      true,
}

// recordTransitions emits events only when the phase, the Ready condition or a condition the
// registry marks for events (controlplane.Conditions; EndpointReady's progress excepted)
// changes status or reason.
func (r *Reconciler) recordTransitions(before, after *v1alpha1.TenantCluster) {
	for _, spec := range controlplane.Conditions() {
		if !spec.Events {
			continue
		}
		t := spec.Type
		was := meta.FindStatusCondition(before.Status.Conditions, t)
		now := meta.FindStatusCondition(after.Status.Conditions, t)
		if now == nil || (was != nil && was.Status == now.Status && was.Reason == now.Reason) {
			continue
		}
		if t == v1alpha1.EndpointReadyCondition && now.Reason == v1alpha1.WaitingForEndpointReason {
			continue // progress, reported by the condition; not worth an event each step
		}
		kind := "Normal"
		if warningReasons[now.Reason] || (was != nil && was.Status == "True" && now.Status != "True" && !upgradeReasons[now.Reason]) {
			kind = "Warning"
		}
		// The condition as the action: the event library merges events of one object, type,
		// reason and action into one series and keeps the first message only, and conditions
		// that turn True in one reconcile share the reason Available.
		r.Recorder.Eventf(after, nil, kind, now.Reason, t, "%s=%s: %s", t, now.Status, now.Message)
	}
	if a := after.Status.Addons; a != nil && !equality.Semantic.DeepEqual(before.Status.Addons, a) {
		r.Recorder.Eventf(after, nil, "Normal", "AddonsPinned", "Reconcile",
			"addons pinned for Kubernetes %s: kube-proxy %s, CoreDNS %s", a.KubernetesVersion, a.KubeProxy, a.CoreDNS)
	}
	if b := after.Status.Backup; b != nil && b.LastBackup != "" && (before.Status.Backup == nil || before.Status.Backup.LastBackup != b.LastBackup) {
		// After the write: a reconcile on a stale copy, which sees the same backup as new,
		// is refused its write and tells nothing.
		r.Recorder.Eventf(after, nil, "Normal", "BackupWritten", "Backup",
			"etcd backup %s written to Swift: revision %d, %d bytes stored", b.LastBackup, b.Revision, b.SizeBytes)
	}
	if before.Status.Phase != after.Status.Phase && after.Status.Phase != "" {
		r.Recorder.Eventf(after, nil, "Normal", "Phase", "Reconcile", "Phase %s", after.Status.Phase)
	}
	was := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ReadyCondition)
	now := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ReadyCondition)
	if now != nil && (was == nil || was.Status != now.Status) {
		kind := "Normal"
		if was != nil && was.Status == "True" {
			kind = "Warning" // it served and no longer does
		}
		r.Recorder.Eventf(after, nil, kind, now.Reason, v1alpha1.ReadyCondition, "Ready=%s: %s", now.Status, now.Message)
	}
}
