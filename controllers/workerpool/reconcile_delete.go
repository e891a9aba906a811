package workerpool

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/internal/cloud"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// reconcileDelete removes what the pool made outside the seed: its servers (found by the
// pool tag), their ports, then the server group; once Nova no longer lists a server, the
// pool's Nodes and bootstrap tokens in the tenant (best effort: a tenant that is gone or
// unreachable is warned about and left). Then the credentials Secret is released and the
// finalizer removed. No drain: deleting a pool drops its workers.
func (r *Reconciler) reconcileDelete(ctx context.Context, wp *v1alpha1.WorkerPool) (ctrl.Result, error) {
	o := observed{deleting: true}
	defer func() { setStatus(wp, o) }()
	o.nodes = check{reason: v1alpha1.DeletingReason, message: "the pool's Nodes are deleted once its servers are gone"}

	cloudCtx, cancel := cloud.WithDeadline(ctx) // a cloud that hangs holds this worker that long at most
	done, ref, err := r.deleteCloud(cloudCtx, wp, &o)
	cancel()
	if err != nil || !done {
		return ctrl.Result{RequeueAfter: o.requeue}, err
	}
	r.deleteFromTenant(ctx, wp)
	if ref.Name != "" {
		if err := r.markCloudReleased(ctx, wp); err != nil {
			return ctrl.Result{}, err
		}
		wait, err := r.releaseSecret(ctx, wp, ref)
		if err != nil {
			return ctrl.Result{}, err
		}
		if wait {
			return ctrl.Result{RequeueAfter: releaseWaitInterval}, nil
		}
	}
	if controllerutil.RemoveFinalizer(wp, v1alpha1.Finalizer) {
		if err := r.Client.Update(ctx, wp); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
		}
	}
	return ctrl.Result{}, nil
}

// releaseWaitInterval is how soon a pool being deleted looks again for the mark of
// another being deleted with it.
const releaseWaitInterval = 2 * time.Second

// markCloudReleased sets CloudReleasedAnnotation on a pool whose servers are gone.
func (r *Reconciler) markCloudReleased(ctx context.Context, wp *v1alpha1.WorkerPool) error {
	if _, ok := wp.Annotations[CloudReleasedAnnotation]; ok {
		return nil
	}
	patch := client.MergeFrom(wp.DeepCopy())
	metav1.SetMetaDataAnnotation(&wp.ObjectMeta, CloudReleasedAnnotation, "true")
	status := wp.Status.DeepCopy() // the patch answers with the stored status
	if err := r.Client.Patch(ctx, wp, patch); err != nil {
		return fmt.Errorf("mark the pool's servers gone: %w", err)
	}
	wp.Status = *status
	return nil
}

// deleteCloud deletes the pool's servers, ports and server group; done is false while Nova
// still lists a server. ref is the credentials Secret to release, if any. Without its
// credentials nothing can be done: the deletion goes on with a warning (the Secret's
// finalizer makes that rare).
func (r *Reconciler) deleteCloud(ctx context.Context, wp *v1alpha1.WorkerPool, o *observed) (done bool, ref cloud.Ref, err error) {
	// The cluster names the credentials of a pool that names none. It outlives its pools
	// (it deletes them first), unless its finalizer was removed by hand.
	tc := &v1alpha1.TenantCluster{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: wp.Namespace, Name: wp.Spec.ClusterName}, tc); err != nil {
		if !apierrors.IsNotFound(err) {
			return false, cloud.Ref{}, fmt.Errorf("get TenantCluster %s: %w", wp.Spec.ClusterName, err)
		}
		tc = nil
	}
	ref, ok := credentialsRef(wp, tc)
	if r.Clouds == nil {
		return true, ref, nil // nothing can be deleted, but a hold of an earlier run is released
	}
	if !ok {
		if tc == nil {
			r.Recorder.Eventf(wp, nil, corev1.EventTypeWarning, v1alpha1.CloudCredentialsInvalidReason, "Delete",
				"TenantCluster %s, whose spec.cloud.credentialsSecretRef the pool acts with, is gone: the pool's servers in the customer's project (if any) cannot be deleted and are left there", wp.Spec.ClusterName)
		}
		return true, cloud.Ref{}, nil // a pool that never had credentials never made anything
	}
	creds := r.credentials()
	secret, _, err := creds.Get(ctx, ref)
	if err != nil {
		return false, ref, err
	}
	if secret == nil {
		r.Recorder.Eventf(wp, nil, corev1.EventTypeWarning, v1alpha1.CloudCredentialsInvalidReason, "Delete",
			"credentials Secret %s is gone: the pool's servers in the customer's project (if any) cannot be deleted and are left there", ref.Name)
		return true, ref, nil
	}
	clients, v := creds.Build(ctx, secret, "delete the pool's servers: Secret "+ref.Name)
	if v.Reason == v1alpha1.AuthURLNotAllowedReason && wp.Status.Replicas == 0 {
		// Never allowed into that cloud, the pool never counted a server there: nothing to
		// wait for. A pool that has servers keeps its finalizer until the operator allows
		// the cloud again (or someone removes it by hand), as with refused credentials.
		return true, ref, nil
	}
	if clients == nil {
		// Credentials the customer must fix (or a finalizer to remove by hand, when the
		// project is gone): said in the condition, looked at again in a while.
		o.servers, o.requeue, err = verdictCheck(v, r.CustomerProblemInterval)
		return false, ref, err
	}
	left, err := r.deleteServers(ctx, clients.Compute, wp)
	o.counted, o.replicas = true, int32(len(left))
	if err != nil {
		o.servers, o.requeue, err = cloudCheck(err, "delete the pool's servers", r.CustomerProblemInterval)
		return false, ref, err
	}
	if len(left) > 0 {
		o.servers = check{reason: v1alpha1.DeletingReason, message: fmt.Sprintf("waiting for Nova to delete %d servers: %s",
			len(left), describeMembers(left, func(m *member) string { return m.Name }))}
		o.requeue = r.BuildPollInterval
		return false, ref, nil
	}
	o.servers = check{reason: v1alpha1.DeletingReason, message: "every server is deleted"}
	if clients.Network != nil {
		if err := deletePorts(ctx, clients.Network, string(wp.UID), ""); err != nil {
			o.servers, o.requeue, err = cloudCheck(err, "delete the pool's ports", r.CustomerProblemInterval)
			return false, ref, err
		}
	}
	// Every group of that name: a create whose answer was lost and retried makes two.
	groups, err := clients.Compute.ListServerGroups(ctx)
	for _, g := range groups {
		if err != nil {
			break
		}
		if g.Name == serverGroupName(wp.Name, string(wp.UID)) {
			err = openstack.IgnoreNotFound(clients.Compute.DeleteServerGroup(ctx, g.ID))
		}
	}
	if err != nil {
		o.servers, o.requeue, err = cloudCheck(err, "delete the pool's server group", r.CustomerProblemInterval)
		return false, ref, err
	}
	return true, ref, nil
}

// deleteServers asks Nova to delete every server of the pool it has not been asked to
// delete recently, and returns those still listed.
func (r *Reconciler) deleteServers(ctx context.Context, compute openstack.Compute, wp *v1alpha1.WorkerPool) ([]*member, error) {
	list, err := compute.ListServers(ctx, openstack.PoolTag(string(wp.UID)))
	if err != nil {
		return nil, err
	}
	now := r.now()
	var left []*member
	for _, s := range list {
		if s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
			continue
		}
		left = append(left, &member{Server: s})
		if r.recentlyDeleted(wp, s.ID, now) {
			continue
		}
		logf.FromContext(ctx).Info("Deleting server", "server", s.Name, "id", s.ID)
		if err := openstack.IgnoreNotFound(compute.DeleteServer(ctx, s.ID)); err != nil {
			return left, err
		}
		r.markDeleted(wp, s.ID, now)
		r.Recorder.Eventf(wp, nil, corev1.EventTypeNormal, "ServerDeleted", "Delete", "deleted server %s (%s): the WorkerPool is being deleted", s.Name, s.ID)
	}
	return left, nil
}

// deleteFromTenant deletes the pool's Nodes and bootstrap tokens in the tenant, when it
// can be reached; otherwise it warns and leaves them (a deleted tenant has none).
func (r *Reconciler) deleteFromTenant(ctx context.Context, wp *v1alpha1.WorkerPool) {
	tc := &v1alpha1.TenantCluster{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: wp.Namespace, Name: wp.Spec.ClusterName}, tc); err != nil || !tc.DeletionTimestamp.IsZero() {
		return // the tenant is gone, or going, with its Nodes
	}
	err := func() error {
		if c := clusterCheck(tc); !c.ok {
			return errors.New(c.message)
		}
		t, err := r.tenant(ctx, tc)
		if err != nil {
			return err
		}
		nodes, err := poolNodes(ctx, t.client, wp.Name)
		if err != nil {
			return err
		}
		tokens, err := poolTokens(ctx, t.client, wp.UID)
		if err != nil {
			return err
		}
		var errs []error
		for _, name := range sortedKeys(nodes) {
			errs = append(errs, deleteNode(ctx, t.client, name))
		}
		for i := range tokens {
			errs = append(errs, deleteToken(ctx, t.client, &tokens[i]))
		}
		return errors.Join(errs...)
	}()
	if err != nil {
		r.Recorder.Eventf(wp, nil, corev1.EventTypeWarning, v1alpha1.TenantUnreachableReason, "Delete",
			"the pool's Nodes and bootstrap tokens in TenantCluster %s are left there: %v", tc.Name, err)
	}
}
