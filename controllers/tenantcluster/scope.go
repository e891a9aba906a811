package tenantcluster

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/internal/cloud"
	"github.com/kubeseed/kubeseed/controllers/internal/reconcileutil"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// scope is what one reconcile of a TenantCluster read and decided, handed from phase to
// phase. It is made afresh each reconcile: nothing survives in it.
//
// The only inputs taken back from the TenantCluster's status (everything else is read from
// the spec, the seed or the cloud):
//   - status.endpoint: kept while the cloud cannot be read, so certificates and kubeconfigs
//     are not withdrawn (publishedEndpoint);
//   - status.octavia: the load balancer's VIP, kept when a load balancer is replaced;
//   - status.version: the version the control plane runs, for the tenant bootstrap;
//   - status.addons: the addon versions pinned when first applied;
//   - status.conditions: EndpointReady, so that an Octavia update keeps a serving endpoint
//     Ready;
//   - status.backup: when the last backup was taken, which says when the next is due;
//   - status.restore: spec.restore's backup is in etcd (restore.go), so it is not read
//     again; its casFromBackup says the CAs are a backup's (pki.CAsFromBackup).
type scope struct {
	tc *v1alpha1.TenantCluster
	// stamps are the rendered workloads' stamps (release, pod-template hash) by name, once
	// rendered; a rollout slot is released when the live workloads carry them.
	stamps map[string]controlplane.Stamp
	// ns is the control-plane namespace, as the API server has it (the owner of everything
	// applied in it).
	ns *corev1.Namespace
	// svc is the kube-apiserver Service; nil until first applied.
	svc *corev1.Service
	// endpoint is the published address; empty Host until known.
	endpoint pki.Endpoint
	// desired are the typed objects of the control-plane namespace: the PKI and, once the
	// certificates are issued, the kubeconfig Secrets.
	desired []client.Object
	// secrets are the issued PKI Secrets by name, sums their checksums (which roll the pods
	// that mount them).
	secrets map[string]*corev1.Secret
	sums    map[string]string
	// adminKubeconfig is assembled once the certificates are issued and the endpoint known.
	adminKubeconfig []byte
	// cloudCredentials is the control plane's copy of the customer's credentials Secret, as
	// stored; nil without a cloud, or when the customer's Secret could not be read, which
	// cloudVerdict then says.
	cloudCredentials *corev1.Secret
	cloudVerdict     cloud.Verdict
	// extra are objects of the control-plane namespace applied by an earlier phase, which
	// the apply of the whole set must keep (the credentials copy).
	extra []client.Object
	// restoreObjs are the restore pod and the first etcd member's claim, rendered while
	// etcd is restored and made by the restore, not the applier (restore.go).
	restoreObjs []*unstructured.Unstructured
	// autoscaledPools are the WorkerPools of the tenant with spec.autoscaling: the
	// autoscaler runs while there is one, and may resize those only.
	autoscaledPools []string

	o observed
	// requeue is the earliest time a phase wants to look again; 0: none asked.
	requeue time.Duration
	// cloudErr is a cloud failure to return after the other phases ran (backoff).
	cloudErr error
}

// requeueAfter asks to look again after d at the latest.
func (s *scope) requeueAfter(d time.Duration) {
	if d > 0 && (s.requeue == 0 || d < s.requeue) {
		s.requeue = d
	}
}

// namespace is the control-plane namespace's name.
func (s *scope) namespace() string { return s.ns.Name }

// renders says whether this reconcile renders the component: every one but an optional
// component the tenant does not need.
func (s *scope) renders(c controlplane.ComponentSpec) bool {
	return !c.Optional || (c.Component == controlplane.Autoscaler && len(s.autoscaledPools) > 0)
}

// reconcilePhase is one step of reconcileNormal. stop ends the reconcile after it (what follows cannot
// run yet: its status is in the scope); an error ends it with that error.
type reconcilePhase struct {
	name string
	run  func(ctx context.Context, s *scope) (stop bool, err error)
}

// phases are the steps of a TenantCluster's reconcile, in order. Each reads what the phases
// before it put in the scope:
//
//	namespace → autoscaler → hibernation → cloud credentials → restore (its keys) → endpoint
//	→ PKI and kubeconfigs → encryption key → etcd membership → holds → upgrade → render and
//	apply → observe → etcd restore → backup → inside the tenant
func (r *Reconciler) phases() []reconcilePhase {
	return []reconcilePhase{
		{"namespace", r.reconcileNamespace},
		{"autoscaler", r.reconcileAutoscaler},
		{"hibernation", r.reconcileHibernation},
		{"cloud credentials", r.reconcileCloudCredentials},
		{"restore", r.reconcileRestore},
		{"endpoint", r.reconcileEndpoint},
		{"certificate authorities", r.reconcileProvidedCAs},
		{"pki", r.reconcilePKI},
		{"encryption key", r.reconcileEncryptionKey},
		{"etcd membership", r.reconcileEtcdMembership},
		{"holds", r.reconcileHolds},
		{"upgrade", r.reconcileUpgrade},
		{"render and apply", r.reconcileApply},
		{"observe", r.observeComponents},
		{"etcd restore", r.reconcileEtcdRestore},
		{"backup", r.reconcileBackup},
		{"inside the tenant", r.reconcileInside},
	}
}

// reconcileNormal recomputes the whole desired state from the spec and what it observes, in
// the phase list's order. It never blocks: what is not ready yet is a condition and a
// requeue. Status is written from the scope's observation only, by setStatus.
func (r *Reconciler) reconcileNormal(ctx context.Context, tc *v1alpha1.TenantCluster) (ctrl.Result, error) {
	s := &scope{tc: tc, o: newObserved()}
	defer func() { setStatus(tc, s.o) }()
	for _, p := range r.phases() {
		stop, err := p.run(ctx, s)
		if err != nil {
			return ctrl.Result{}, err
		}
		if stop {
			break
		}
	}
	for _, c := range controlplane.Conditions() {
		// A hibernated tenant is not Ready on purpose: nothing to poll for.
		if c.Ready && !s.o.checks[c.Type].ok && s.o.hibernation.stage != stopped {
			s.requeueAfter(requeueWhileProgressing)
		}
	}
	if s.cloudErr != nil {
		return ctrl.Result{}, s.cloudErr // the cloud failed: backoff
	}
	return reconcileutil.Poll(s.requeue), nil
}
