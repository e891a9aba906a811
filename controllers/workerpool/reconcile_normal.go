package workerpool

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/internal/cloud"
	"github.com/kubeseed/kubeseed/controllers/internal/reconcileutil"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// pass is what one reconcile of a WorkerPool knows; its phases read and update it, never
// the API.
type pass struct {
	wp      *v1alpha1.WorkerPool
	tc      *v1alpha1.TenantCluster
	cloud   *openstack.Clients
	tenant  *tenantAccess
	desired int
	now     time.Time
	// members are the pool's servers as Nova lists them (with their Nodes), less those
	// this pass deleted, plus those it created.
	members []*member
	// removing are the servers being drained for a scale-down, not deleted yet.
	removing []*member
	nodes    map[string]*corev1.Node
	tokens   []corev1.Secret
	// version and hash are what new servers are made with (poolVersion, TemplateHash);
	// versionCheck is not ok when the control plane does not allow version.
	version, hash string
	versionCheck  check
	// held is the refusal of spec.version while the pool keeps its previous version.
	held check
	// healthHold, when set, is why no sick server is replaced (too many at once).
	healthHold *check
	rolling    bool
	floor      int
}

// tenantError is a failure inside the tenant, reported as TenantUnreachable.
type tenantError struct{ err error }

func (e *tenantError) Error() string { return e.err.Error() }
func (e *tenantError) Unwrap() error { return e.err }

func tenantErr(err error) error {
	if err == nil {
		return nil
	}
	return &tenantError{err: err}
}

// reconcileNormal observes the pool's servers in Nova and its Nodes in the tenant, then
// converges: Nodes and tokens of servers that are gone are deleted, servers in ERROR are
// replaced, missing servers created, surplus ones drained and deleted. It never blocks:
// what is not there yet is a condition and a requeue.
func (r *Reconciler) reconcileNormal(ctx context.Context, wp *v1alpha1.WorkerPool) (ctrl.Result, error) {
	var o observed
	defer func() { setStatus(wp, o) }()
	p := &pass{wp: wp, desired: int(ptr.Deref(wp.Spec.Replicas, 1)), now: r.now()}

	tc, clusterOK, err := r.cluster(ctx, wp)
	if err != nil {
		return ctrl.Result{}, err
	}
	p.tc = tc
	hibernated := tc != nil && tc.Spec.Hibernated && tc.DeletionTimestamp.IsZero()
	if hibernated {
		// A hibernating tenant's pools count as zero: drained and deleted while the control
		// plane serves; spec.replicas is kept for the wake.
		p.desired = 0
	}
	// From here on the reconcile talks to the customer's cloud: a cloud that hangs holds
	// this worker for cloud.Deadline at most.
	ctx, cancel := cloud.WithDeadline(ctx)
	defer cancel()
	clients, c, err := r.cloudClients(ctx, wp, tc)
	if clients == nil {
		o.servers = c
		return ctrl.Result{RequeueAfter: r.CustomerProblemInterval}, err
	}
	p.cloud = clients
	o.allocatable, o.allocatableKnown = nodeAllocatable(ctx, clients.Compute, wp), true
	if p.members, err = r.inventory(ctx, clients.Compute, wp, p.now); err != nil {
		c, requeue, err := cloudCheck(err, "list the pool's servers", r.CustomerProblemInterval)
		o.servers = c
		return ctrl.Result{RequeueAfter: requeue}, err
	}
	o.counted, o.replicas = true, int32(len(p.members))
	if hibernated && !clusterOK.ok {
		return r.hibernated(ctx, p, &o)
	}
	if !clusterOK.ok {
		// Nothing can join, drain or be told apart from a lost server: wait. The
		// TenantCluster's watch wakes the pool when it changes.
		o.servers, o.nodes = serversCheck(p.desired, p.members, nil, false, p.desired), clusterOK
		if len(p.members) < p.desired {
			o.servers = check{reason: clusterOK.reason, message: fmt.Sprintf("%d of %d servers exist; %s", len(p.members), p.desired, clusterOK.message)}
		}
		return reconcileutil.Poll(r.PollInterval), nil
	}
	p.floor = p.desired
	p.version, p.versionCheck = poolVersion(wp, tc)
	if !p.versionCheck.ok && wp.Spec.Version != "" && wp.Status.Version != "" && wp.Status.Version != wp.Spec.Version {
		// A refused spec.version holds the pool at the version it has: it still scales
		// and repairs, it only does not roll.
		held := wp.DeepCopy()
		held.Spec.Version = wp.Status.Version
		if v, c := poolVersion(held, tc); c.ok {
			p.held, p.version, p.versionCheck = p.versionCheck, v, c
		}
	}
	if p.versionCheck.ok {
		p.hash = TemplateHash(wp, p.version)
		r.stampLegacyServers(ctx, p)
		for _, m := range p.members {
			m.outdated = m.Metadata[MetadataTemplateHash] != p.hash
		}
	}
	if err := r.observeTenant(ctx, p); err != nil {
		o.servers = serversCheck(p.desired, p.members, nil, false, p.desired)
		o.nodes = check{reason: v1alpha1.TenantUnreachableReason, message: err.Error()}
		return reconcileutil.Poll(r.NodePollInterval), nil
	}
	err = r.cleanupTenant(ctx, p)
	if err == nil && !hibernated {
		// Health checks leave a hibernating pool alone: its servers are on their way out.
		p.healthHold, err = r.checkHealth(ctx, p)
	}
	if err == nil && p.versionCheck.ok {
		// A version the control plane refuses makes and replaces nothing: the servers
		// there keep running.
		if err = r.replaceFailed(ctx, p); err == nil {
			err = r.scale(ctx, p)
		}
	}
	return r.result(p, &o, err)
}

// result turns the pass into the conditions and counts, and says when to look again.
func (r *Reconciler) result(p *pass, o *observed, err error) (ctrl.Result, error) {
	o.counted, o.nodesCounted, o.replicas = true, true, int32(len(p.members))
	for _, m := range p.members {
		if m.nodeReady() {
			o.ready++
		}
	}
	o.servers = serversCheck(p.desired, p.members, p.removing, p.rolling, p.floor)
	o.nodes = nodesCheck(p.desired, p.floor, p.members)
	if p.healthHold != nil {
		o.nodes = *p.healthHold
	}
	if !p.versionCheck.ok {
		o.servers = p.versionCheck
	} else {
		o.version = p.version
		rc := rolloutCheck(p.version, p.members, p.removing, p.desired)
		if p.held.reason != "" {
			// The pool is not rolling to spec.version: that is what Progressing says.
			if rc.ok {
				rc.message += "; and " + p.held.message
			} else {
				rc = p.held
			}
		}
		o.rollout = &rc
		for _, m := range p.members {
			if !m.outdated {
				o.updated++
			}
		}
	}
	var requeue time.Duration
	var te *tenantError
	switch {
	case errors.As(err, &te):
		o.nodes = check{reason: v1alpha1.TenantUnreachableReason, message: err.Error()}
		requeue, err = r.NodePollInterval, nil
	case err != nil:
		o.servers, requeue, err = cloudCheck(err, fmt.Sprintf("scaling to %d", p.desired), r.CustomerProblemInterval)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	next := r.PollInterval
	if !o.nodes.ok {
		next = min(next, r.NodePollInterval)
	}
	if len(p.removing) > 0 {
		next = min(next, drainPollInterval)
	}
	if slices.ContainsFunc(p.members, (*member).building) {
		next = min(next, r.BuildPollInterval)
	}
	if requeue > 0 {
		// A customer's problem (quota, a wrong flavor) sets the pace: polling servers in
		// BUILD sooner would retry the failed create with them.
		next = requeue
	}
	return reconcileutil.Poll(next), nil
}

// cluster gets the pool's TenantCluster, gives the pool an owner reference to it (so that
// deleting the cluster deletes its pools, and their servers), and says whether servers
// can join it.
func (r *Reconciler) cluster(ctx context.Context, wp *v1alpha1.WorkerPool) (*v1alpha1.TenantCluster, check, error) {
	tc := &v1alpha1.TenantCluster{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: wp.Namespace, Name: wp.Spec.ClusterName}, tc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, check{reason: v1alpha1.WaitingForDependencyReason, message: fmt.Sprintf(
				"TenantCluster %s named by spec.clusterName does not exist in namespace %s", wp.Spec.ClusterName, wp.Namespace)}, nil
		}
		return nil, check{}, fmt.Errorf("get TenantCluster %s: %w", wp.Spec.ClusterName, err)
	}
	if !hasOwner(wp, tc) {
		patch := client.MergeFrom(wp.DeepCopy())
		if err := controllerutil.SetOwnerReference(tc, wp, r.Scheme); err != nil {
			return nil, check{}, fmt.Errorf("own WorkerPool by TenantCluster %s: %w", tc.Name, err)
		}
		status := wp.Status.DeepCopy() // the patch answers with the stored status
		if err := r.Client.Patch(ctx, wp, patch); err != nil {
			return nil, check{}, fmt.Errorf("own WorkerPool by TenantCluster %s: %w", tc.Name, err)
		}
		wp.Status = *status
	}
	return tc, clusterCheck(tc), nil
}

func hasOwner(wp *v1alpha1.WorkerPool, tc *v1alpha1.TenantCluster) bool {
	return slices.ContainsFunc(wp.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == tc.UID })
}

// observeTenant reads the pool's Nodes and bootstrap tokens in the tenant.
func (r *Reconciler) observeTenant(ctx context.Context, p *pass) error {
	t, err := r.tenant(ctx, p.tc)
	if err != nil {
		return err
	}
	p.tenant = t
	if p.nodes, err = poolNodes(ctx, t.client, p.wp.Name); err != nil {
		return err
	}
	if p.tokens, err = poolTokens(ctx, t.client, p.wp.UID); err != nil {
		return err
	}
	for _, m := range p.members {
		m.node = p.nodes[m.Name]
	}
	return nil
}

// stampLegacyServers gives servers made before templates existed (no
// MetadataTemplateHash) the current one: their spec is unknown, and taking them as made from
// the spec of the first reconcile that sees them lets a later change replace them, where
// replacing them at once would roll every pool of the seed on an operator upgrade. A
// failure leaves them unstamped (taken as current) for the next pass.
func (r *Reconciler) stampLegacyServers(ctx context.Context, p *pass) {
	for _, m := range p.members {
		if m.Metadata[MetadataTemplateHash] != "" || m.failed() {
			continue
		}
		if err := p.cloud.Compute.SetServerMetadata(ctx, m.ID, map[string]string{MetadataTemplateHash: p.hash}); err != nil {
			logf.FromContext(ctx).Info("Could not stamp a server with its template hash", "server", m.Name, "error", err.Error())
		}
		// Current for this pass either way.
		m.Metadata = maps.Clone(m.Metadata)
		if m.Metadata == nil {
			m.Metadata = map[string]string{}
		}
		m.Metadata[MetadataTemplateHash] = p.hash
	}
}

// cleanupTenant deletes the pool's Nodes whose server is gone (deleted behind kubeseed's
// back, or replaced) and the bootstrap tokens no server needs any more: those of servers
// whose Node registered, and of servers that are gone.
func (r *Reconciler) cleanupTenant(ctx context.Context, p *pass) error {
	byName := map[string]*member{}
	for _, m := range p.members {
		byName[m.Name] = m
	}
	var errs []error
	for _, name := range sortedKeys(p.nodes) {
		if byName[name] != nil {
			continue
		}
		logf.FromContext(ctx).Info("Deleting Node whose server is gone", "node", name)
		if err := deleteNode(ctx, p.tenant.client, name); err != nil {
			errs = append(errs, err)
			continue
		}
		r.Recorder.Eventf(p.wp, nil, corev1.EventTypeNormal, "NodeDeleted", "Cleanup", "deleted Node %s: its server no longer exists", name)
		delete(p.nodes, name)
	}
	kept := p.tokens[:0]
	for i := range p.tokens {
		m := byName[p.tokens[i].Labels[TokenServerLabel]]
		if m != nil && m.node == nil {
			kept = append(kept, p.tokens[i])
			continue
		}
		if err := deleteToken(ctx, p.tenant.client, &p.tokens[i]); err != nil {
			errs = append(errs, err)
		}
	}
	p.tokens = kept
	return tenantErr(errors.Join(errs...))
}

// replaceFailed deletes the servers Nova put in ERROR; scale then creates their
// replacements under the same names.
func (r *Reconciler) replaceFailed(ctx context.Context, p *pass) error {
	for _, m := range slices.Clone(p.members) {
		if !m.failed() {
			continue
		}
		if err := r.deleteServer(ctx, p, m); err != nil {
			return err
		}
		r.Recorder.Eventf(p.wp, nil, corev1.EventTypeWarning, v1alpha1.ProvisioningFailedReason, "Replace",
			"server %s (%s) is in ERROR (%s): deleted, a new one replaces it", m.Name, m.ID, orNone(m.Fault))
	}
	return nil
}
