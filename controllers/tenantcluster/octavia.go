package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/octavia"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// CredentialsFinalizer holds a credentials Secret while a TenantCluster may still need it
// to delete what it created in the customer's project: deleting a namespace deletes the
// Secret and the TenantCluster together, and without the Secret the load balancer would
// be left behind.
const CredentialsFinalizer = "kubeseed.io/cloud-credentials"

// Requeue intervals of an Octavia endpoint. A customer's problem (quota, credentials, a
// wrong ID) is looked at again every few minutes, not in a hot loop; a fixed Secret wakes
// the reconciler at once through its watch.
const (
	octaviaStepInterval     = 2 * time.Second
	customerProblemInterval = 2 * time.Minute
	sweepInterval           = 10 * time.Minute
)

// credentialsSecretIndex indexes TenantClusters by the credentials Secret they name.
const credentialsSecretIndex = ".spec.endpoint.octavia.credentialsSecretRef.name"

func credentialsSecretOf(tc *v1alpha1.TenantCluster) string {
	if tc.Spec.Endpoint.Type != v1alpha1.EndpointOctavia || tc.Spec.Endpoint.Octavia == nil {
		return ""
	}
	return tc.Spec.Endpoint.Octavia.CredentialsSecretRef.Name
}

// cloudMemory remembers when each credentials Secret's project was last swept.
type cloudMemory struct {
	mu        sync.Mutex
	lastSweep map[string]time.Time
	seedID    string
}

// reconcileOctavia converges the tenant's load balancer in the customer's project and
// returns the endpoint to publish, known as soon as the VIP (or floating IP) is allocated.
func (r *Reconciler) reconcileOctavia(ctx context.Context, tc *v1alpha1.TenantCluster, svc *corev1.Service, o *observed) (pki.Endpoint, check, time.Duration, error) {
	clients, c, err := r.cloudClients(ctx, tc)
	if clients == nil {
		return pki.Endpoint{}, c, customerProblemInterval, err
	}
	ports := []octavia.Port{{Name: "apiserver", Port: apiServerPort, NodePort: nodePortOf(svc)}}
	if np := tunnelNodePortOf(svc); np != 0 {
		ports = append(ports, octavia.Port{Name: "tunnel", Port: int(controlplane.TunnelPort), NodePort: np})
	}
	if ports[0].NodePort == 0 {
		return pki.Endpoint{}, check{reason: v1alpha1.WaitingForEndpointReason, message: "the kube-apiserver Service has no node port yet"}, octaviaStepInterval, nil
	}
	backends, err := r.octaviaBackends(ctx)
	if err != nil {
		return pki.Endpoint{}, check{}, 0, err
	}
	if len(backends) == 0 {
		return pki.Endpoint{}, check{reason: v1alpha1.WaitingForEndpointReason, message: "no Ready seed node has an InternalIP for the load balancer's pool"}, octaviaStepInterval, nil
	}
	seedID, err := r.seedID(ctx)
	if err != nil {
		return pki.Endpoint{}, check{}, 0, err
	}
	spec := tc.Spec.Endpoint.Octavia
	var prev v1alpha1.OctaviaEndpointStatus
	if tc.Status.Octavia != nil {
		prev = *tc.Status.Octavia
	}
	st, err := octavia.Ensure(ctx, octavia.Clients{LoadBalancer: clients.LoadBalancer, Network: clients.Network}, octavia.Desired{
		TenantUID: string(tc.UID), SeedID: seedID,
		Name:     "kubeseed-" + tc.Namespace + "-" + tc.Name,
		SubnetID: spec.SubnetID, FloatingNetworkID: spec.FloatingNetworkID, AllowedCIDRs: spec.AllowedCIDRs,
		VIPAddress: prev.VIPAddress, // a replaced load balancer keeps the published address
		Backends:   backends, Ports: ports,
	})
	if st.LoadBalancerID != "" {
		o.octavia = &v1alpha1.OctaviaEndpointStatus{LoadBalancerID: st.LoadBalancerID, VIPAddress: st.VIP, FloatingIP: st.FloatingIP}
	}
	var ep pki.Endpoint
	if st.Address != "" {
		ep = pki.Endpoint{Host: st.Address, Port: apiServerPort}
	}
	if err != nil {
		c, requeue, retErr := cloudCheck(err, "the tenant's load balancer")
		return ep, c, requeue, retErr
	}
	if !st.Ready {
		// A load balancer that served keeps serving while Octavia applies a change (a member
		// added or removed, allowed CIDRs): the endpoint stays Ready through it.
		if wasReady := meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.EndpointReadyCondition); wasReady &&
			prev.LoadBalancerID == st.LoadBalancerID && ep.URL() == tc.Status.Endpoint && ep.Host != "" {
			return ep, check{ok: true, reason: v1alpha1.AvailableReason, message: fmt.Sprintf(
				"published at %s by Octavia load balancer %s; updating: %s", ep.URL(), st.LoadBalancerID, st.Progress)}, octaviaStepInterval, nil
		}
		return ep, check{reason: v1alpha1.WaitingForEndpointReason, message: st.Progress}, octaviaStepInterval, nil
	}
	r.sweep(ctx, tc, clients, seedID)
	return ep, check{ok: true, reason: v1alpha1.AvailableReason, message: fmt.Sprintf(
		"published at %s by Octavia load balancer %s in the customer's project", ep.URL(), st.LoadBalancerID)}, 0, nil
}

// cloudClients reads the credentials Secret, holds it with CredentialsFinalizer and builds
// the clients. Nil clients come with the check saying why.
func (r *Reconciler) cloudClients(ctx context.Context, tc *v1alpha1.TenantCluster) (*openstack.Clients, check, error) {
	if r.Clouds == nil {
		return nil, check{reason: v1alpha1.InvalidSpecReason, message: "this kubeseed manager was started without OpenStack support: spec.endpoint.type Octavia cannot be served"}, nil
	}
	name := credentialsSecretOf(tc)
	secret := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: tc.Namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, check{reason: v1alpha1.CloudCredentialsInvalidReason, message: fmt.Sprintf(
				"Secret %s named by spec.endpoint.octavia.credentialsSecretRef does not exist: create it with key clouds.yaml holding the customer's clouds.yaml",
				name)}, nil
		}
		return nil, check{}, fmt.Errorf("get credentials Secret %s: %w", name, err)
	}
	if secret.DeletionTimestamp.IsZero() && controllerutil.AddFinalizer(secret, CredentialsFinalizer) {
		if err := r.Client.Update(ctx, secret); err != nil {
			return nil, check{}, fmt.Errorf("hold credentials Secret %s: %w", name, err)
		}
	}
	clients, err := r.Clouds.ForSecret(ctx, secret)
	if err != nil {
		c, _, retErr := cloudCheck(err, "Secret "+name)
		return nil, c, retErr
	}
	return clients, check{}, nil
}

// cloudCheck turns a cloud error into the EndpointReady condition, a requeue and the error
// to return: the customer's problems are reported and looked at again later without an
// error (no hot loop); the cloud's own failures are returned, for the backoff.
func cloudCheck(err error, what string) (check, time.Duration, error) {
	if errors.Is(err, octavia.ErrInvalidSpec) {
		return check{reason: v1alpha1.InvalidSpecReason, message: err.Error()}, customerProblemInterval, nil
	}
	switch openstack.Classify(err) {
	case openstack.ProblemQuota:
		res, _ := openstack.IsQuota(err)
		return check{reason: v1alpha1.QuotaExceededReason, message: fmt.Sprintf(
			"the customer's project is out of its %s quota: raise it or free some (%v)", orUnnamed(res), err)}, customerProblemInterval, nil
	case openstack.ProblemInvalid:
		return check{reason: v1alpha1.InvalidSpecReason, message: err.Error()}, customerProblemInterval, nil
	case openstack.ProblemCredentials:
		return check{reason: v1alpha1.CloudCredentialsInvalidReason, message: fmt.Sprintf("%s: %v", what, err)}, customerProblemInterval, nil
	case openstack.ProblemProvisioning:
		return check{reason: v1alpha1.ProvisioningFailedReason, message: err.Error()}, octaviaStepInterval, nil
	default:
		return check{reason: v1alpha1.CloudUnavailableReason, message: fmt.Sprintf("%s: %v", what, err)}, 0, fmt.Errorf("%s: %w", what, err)
	}
}

func orUnnamed(resource string) string {
	if resource == "" {
		return "(unnamed)"
	}
	return resource
}

// octaviaBackends are the seed addresses the customer's load balancer forwards to: the
// configured NodeAddress, or every Ready node's InternalIP.
func (r *Reconciler) octaviaBackends(ctx context.Context) ([]string, error) {
	if r.NodeAddress != "" {
		return []string{r.NodeAddress}, nil
	}
	nodes := &corev1.NodeList{}
	if err := r.Client.List(ctx, nodes); err != nil {
		return nil, fmt.Errorf("list seed nodes: %w", err)
	}
	var out []string
	for _, n := range nodes.Items {
		if a := nodeAddress([]corev1.Node{n}); a != "" {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out, nil
}

// seedID identifies this seed in the tags of what it creates: the UID of its kube-system
// namespace, which lives as long as the cluster does.
func (r *Reconciler) seedID(ctx context.Context) (string, error) {
	r.cloud.mu.Lock()
	defer r.cloud.mu.Unlock()
	if r.SeedID != "" {
		return r.SeedID, nil
	}
	if r.cloud.seedID != "" {
		return r.cloud.seedID, nil
	}
	// Read once, uncached: a cached Get would start an informer on every namespace, which
	// the manager may not list.
	var reader client.Reader = r.Client
	if r.Applier != nil && r.Applier.APIReader != nil {
		reader = r.Applier.APIReader
	}
	ns := &corev1.Namespace{}
	if err := reader.Get(ctx, client.ObjectKey{Name: "kube-system"}, ns); err != nil {
		return "", fmt.Errorf("identify the seed by namespace kube-system: %w", err)
	}
	r.cloud.seedID = string(ns.UID)
	return r.cloud.seedID, nil
}

// sweep removes, at most every sweepInterval per credentials Secret, load balancers and
// floating IPs this seed made for TenantClusters that no longer exist (a finalizer removed
// by hand). Failures are logged: a sweep is housekeeping, never a reason to hold a tenant.
func (r *Reconciler) sweep(ctx context.Context, tc *v1alpha1.TenantCluster, clients *openstack.Clients, seedID string) {
	key := tc.Namespace + "/" + credentialsSecretOf(tc)
	r.cloud.mu.Lock()
	if time.Since(r.cloud.lastSweep[key]) < sweepInterval {
		r.cloud.mu.Unlock()
		return
	}
	if r.cloud.lastSweep == nil {
		r.cloud.lastSweep = map[string]time.Time{}
	}
	r.cloud.lastSweep[key] = time.Now()
	r.cloud.mu.Unlock()

	log := logf.FromContext(ctx)
	// Tenants anywhere in the seed: one customer project may serve several namespaces.
	list := &v1alpha1.TenantClusterList{}
	if err := r.Client.List(ctx, list); err != nil {
		log.Error(err, "sweep: list TenantClusters")
		return
	}
	alive := map[string]bool{}
	for _, t := range list.Items {
		alive[string(t.UID)] = true
	}
	deleted, err := octavia.Sweep(ctx, octavia.Clients{LoadBalancer: clients.LoadBalancer, Network: clients.Network}, seedID,
		func(uid string) bool { return alive[uid] })
	if err != nil {
		log.Error(err, "sweep of the customer's project failed", "secret", key)
	}
	for _, d := range deleted {
		r.Recorder.Eventf(tc, nil, corev1.EventTypeNormal, "OrphanDeleted", "Sweep",
			"deleted %s left in the customer's project by a TenantCluster that no longer exists", d)
	}
}

// deleteOctavia removes the tenant's load balancer and floating IP; done is false while
// Octavia is still deleting. When the credentials Secret is gone nothing can be done: the
// deletion goes on with a warning (the Secret's finalizer makes that rare).
func (r *Reconciler) deleteOctavia(ctx context.Context, tc *v1alpha1.TenantCluster, blocked *check) (done bool, err error) {
	name := credentialsSecretOf(tc)
	if name == "" || r.Clouds == nil {
		return true, nil
	}
	secret := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: tc.Namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, v1alpha1.CloudCredentialsInvalidReason, "Delete",
				"credentials Secret %s is gone: the load balancer in the customer's project (if any) cannot be deleted and is left there", name)
			return true, nil
		}
		return false, fmt.Errorf("get credentials Secret %s: %w", name, err)
	}
	clients, err := r.Clouds.ForSecret(ctx, secret)
	if err == nil {
		var gone bool
		gone, err = octavia.Delete(ctx, octavia.Clients{LoadBalancer: clients.LoadBalancer, Network: clients.Network}, string(tc.UID))
		if err == nil && !gone {
			*blocked = check{reason: v1alpha1.DeletingReason, message: "waiting for Octavia to delete the load balancer in the customer's project"}
			return false, nil
		}
	}
	if err != nil {
		// Say why the deletion waits: refused credentials, for one, need the customer.
		c, _, retErr := cloudCheck(err, "delete the load balancer in the customer's project")
		*blocked = c
		if retErr == nil {
			return false, errCustomerProblem
		}
		return false, retErr
	}
	return true, r.releaseSecret(ctx, tc, secret)
}

// errCustomerProblem: the deletion waits for the customer (credentials, quota); requeue in
// minutes, no backoff storm.
var errCustomerProblem = errors.New("waiting for the customer")

// releaseSecret drops CredentialsFinalizer from the Secret once no other TenantCluster
// names it.
func (r *Reconciler) releaseSecret(ctx context.Context, tc *v1alpha1.TenantCluster, secret *corev1.Secret) error {
	users := &v1alpha1.TenantClusterList{}
	if err := r.Client.List(ctx, users, client.InNamespace(tc.Namespace), client.MatchingFields{credentialsSecretIndex: secret.Name}); err != nil {
		return fmt.Errorf("list users of Secret %s: %w", secret.Name, err)
	}
	for _, u := range users.Items {
		if u.UID != tc.UID {
			return nil
		}
	}
	if controllerutil.RemoveFinalizer(secret, CredentialsFinalizer) {
		if err := r.Client.Update(ctx, secret); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("release credentials Secret %s: %w", secret.Name, err)
		}
	}
	return nil
}
