package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/internal/cloud"
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

// credentialsSecretIndex indexes TenantClusters by the credentials Secret their Octavia
// endpoint uses: its own, else spec.cloud's.
const credentialsSecretIndex = "octavia.credentialsSecret"

// octaviaCloud is where an Octavia endpoint acts: spec.endpoint.octavia's credentials,
// subnet and floating network, each defaulting to spec.cloud's (the API makes sure that
// credentials and a subnet come from one or the other).
type octaviaCloud struct {
	ref                         cloud.Ref
	subnetID, floatingNetworkID string
	// fromCloud renames, in pkg/octavia's messages, which name spec.endpoint.octavia's
	// fields, those taken from spec.cloud: the customer is pointed at what they wrote.
	fromCloud *strings.Replacer
}

// octaviaCloudOf is tc's Octavia placement; false without an Octavia endpoint.
func octaviaCloudOf(tc *v1alpha1.TenantCluster) (octaviaCloud, bool) {
	o := tc.Spec.Endpoint.Octavia
	if tc.Spec.Endpoint.Type != v1alpha1.EndpointOctavia || o == nil {
		return octaviaCloud{}, false
	}
	def := v1alpha1.CloudSpec{}
	if tc.Spec.Cloud != nil {
		def = *tc.Spec.Cloud
	}
	oc := octaviaCloud{
		ref:      cloud.Ref{Namespace: tc.Namespace, Name: o.CredentialsSecretRef.Name, Field: "spec.endpoint.octavia.credentialsSecretRef"},
		subnetID: o.SubnetID, floatingNetworkID: o.FloatingNetworkID,
	}
	var renames []string
	if oc.ref.Name == "" {
		oc.ref.Name, oc.ref.Field = def.CredentialsSecretRef.Name, "spec.cloud.credentialsSecretRef"
	}
	if oc.subnetID == "" {
		oc.subnetID = def.SubnetID
		renames = append(renames, "spec.endpoint.octavia.subnetID", "spec.cloud.subnetID")
	}
	if oc.floatingNetworkID == "" && def.FloatingNetworkID != "" {
		oc.floatingNetworkID = def.FloatingNetworkID
		renames = append(renames, "spec.endpoint.octavia.floatingNetworkID", "spec.cloud.floatingNetworkID")
	}
	oc.fromCloud = strings.NewReplacer(renames...)
	return oc, true
}

// credentialsSecretOf is the credentials Secret tc's Octavia endpoint uses, or "".
func credentialsSecretOf(tc *v1alpha1.TenantCluster) string {
	oc, _ := octaviaCloudOf(tc)
	return oc.ref.Name
}

// credentials is the shared credentials layer, with this controller's finalizer.
func (r *Reconciler) credentials() cloud.Credentials {
	return cloud.Credentials{Client: r.Client, Clouds: r.Clouds, Finalizer: CredentialsFinalizer, Serves: "spec.endpoint.type Octavia"}
}

// octaviaVerdict maps a cloud verdict onto EndpointReady and the requeue: the customer's
// problems are looked at again in minutes without an error (no hot loop), a load balancer
// Octavia put in ERROR is replaced at the next step, and the cloud's own failures are
// returned for the backoff.
func octaviaVerdict(v cloud.Verdict) (check, time.Duration, error) {
	c := check{reason: v.Reason, message: v.Message}
	switch {
	case v.Customer:
		return c, customerProblemInterval, nil
	case v.Reason == v1alpha1.ProvisioningFailedReason:
		return c, octaviaStepInterval, nil
	default:
		return c, 0, v.Err
	}
}

// cloudMemory remembers when each credentials Secret's project was last swept.
type cloudMemory struct {
	mu        sync.Mutex
	lastSweep map[string]time.Time
	seedID    string
}

// reconcileOctavia converges the tenant's load balancer in the customer's project and
// returns the endpoint to publish, known as soon as the VIP (or floating IP) is allocated.
func (r *Reconciler) reconcileOctavia(ctx context.Context, s *scope, svc *corev1.Service) (pki.Endpoint, check, time.Duration, error) {
	tc, o := s.tc, &s.o
	// A customer's cloud that hangs holds this worker for cloud.Deadline at most.
	ctx, cancel := cloud.WithDeadline(ctx)
	defer cancel()
	oc, ok := octaviaCloudOf(tc)
	if !ok || oc.ref.Name == "" {
		// The API refuses this; an object stored before its rules were is told so.
		return pki.Endpoint{}, check{reason: v1alpha1.InvalidSpecReason, message: "an Octavia endpoint needs spec.endpoint.octavia and credentials: set spec.cloud.credentialsSecretRef or spec.endpoint.octavia.credentialsSecretRef"}, customerProblemInterval, nil
	}
	clients, v, err := r.copiedCloudClients(ctx, s, oc.ref)
	if clients == nil {
		return pki.Endpoint{}, check{reason: v.Reason, message: v.Message}, customerProblemInterval, err
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
	var prev v1alpha1.OctaviaEndpointStatus
	if tc.Status.Octavia != nil {
		prev = *tc.Status.Octavia
	}
	st, err := octavia.Ensure(ctx, octavia.Clients{LoadBalancer: clients.LoadBalancer, Network: clients.Network}, octavia.Desired{
		TenantUID: string(tc.UID), SeedID: seedID,
		Name:     "kubeseed-" + tc.Namespace + "-" + tc.Name,
		SubnetID: oc.subnetID, FloatingNetworkID: oc.floatingNetworkID, AllowedCIDRs: tc.Spec.Endpoint.Octavia.AllowedCIDRs,
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
		if errors.Is(err, octavia.ErrInvalidSpec) {
			err = cloud.InvalidSpec("", err) // the message names the field
		}
		v := cloud.Classify(err, "the tenant's load balancer")
		v.Message = oc.fromCloud.Replace(v.Message)
		c, requeue, retErr := octaviaVerdict(v)
		return ep, c, requeue, retErr
	}
	if !st.Ready {
		// A load balancer that served keeps serving while Octavia applies a change (a member
		// added or removed, allowed CIDRs): the endpoint stays Ready through it.
		if wasReady := meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.EndpointReadyCondition); wasReady &&
			prev.LoadBalancerID == st.LoadBalancerID && ep.URL() == tc.Status.Endpoint && ep.Host != "" {
			return ep, check{ok: true, reason: v1alpha1.AvailableReason, message: fmt.Sprintf(
				"published at %s by Octavia load balancer %s; updating: %s", ep.URL(), st.LoadBalancerID, openstack.CleanMessage(st.Progress, cloud.MaxMessage))}, octaviaStepInterval, nil
		}
		return ep, check{reason: v1alpha1.WaitingForEndpointReason, message: openstack.CleanMessage(st.Progress, cloud.MaxMessage)}, octaviaStepInterval, nil
	}
	r.sweep(ctx, tc, oc.ref, clients, seedID)
	return ep, check{ok: true, reason: v1alpha1.AvailableReason, message: fmt.Sprintf(
		"published at %s by Octavia load balancer %s in the customer's project", ep.URL(), st.LoadBalancerID)}, 0, nil
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
		if a := nodeAddress([]corev1.Node{n}, ""); a != "" {
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
func (r *Reconciler) sweep(ctx context.Context, tc *v1alpha1.TenantCluster, ref cloud.Ref, clients *openstack.Clients, seedID string) {
	key := ref.Key().String()
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
			"deleted %s left in the customer's project by a TenantCluster that no longer exists", openstack.CleanMessage(d, cloud.MaxMessage))
	}
}

// deleteOctavia removes the tenant's load balancer and floating IP; done is false while
// Octavia is still deleting. When the credentials Secret is gone nothing can be done: the
// deletion goes on with a warning (the Secret's finalizer makes that rare).
func (r *Reconciler) deleteOctavia(ctx context.Context, tc *v1alpha1.TenantCluster, blocked *check) (done bool, err error) {
	oc, ok := octaviaCloudOf(tc)
	if !ok || oc.ref.Name == "" || r.Clouds == nil {
		return true, nil
	}
	ctx, cancel := cloud.WithDeadline(ctx) // a cloud that hangs holds this worker that long at most
	defer cancel()
	creds := r.credentials()
	secret, _, err := creds.Get(ctx, oc.ref)
	if err != nil {
		return false, err
	}
	if secret == nil {
		r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, v1alpha1.CloudCredentialsInvalidReason, "Delete",
			"credentials Secret %s is gone: the load balancer in the customer's project (if any) cannot be deleted and is left there", oc.ref.Name)
		return true, nil
	}
	const what = "delete the load balancer in the customer's project"
	clients, v := creds.Build(ctx, secret, what)
	if v.Reason == v1alpha1.AuthURLNotAllowedReason && tc.Status.Octavia == nil {
		// Never allowed into that cloud, the tenant never recorded a load balancer there:
		// nothing to wait for. One that has a load balancer waits, as with refused credentials.
		return true, r.releaseSecret(ctx, tc, oc.ref)
	}
	if clients != nil {
		gone, err := octavia.Delete(ctx, octavia.Clients{LoadBalancer: clients.LoadBalancer, Network: clients.Network}, string(tc.UID))
		if err != nil {
			v = cloud.Classify(err, what)
		} else if !gone {
			*blocked = check{reason: v1alpha1.DeletingReason, message: "waiting for Octavia to delete the load balancer in the customer's project"}
			return false, nil
		}
	}
	if !v.IsZero() {
		// Say why the deletion waits: refused credentials, for one, need the customer.
		// A deletion Octavia put in ERROR is retried at the customer's pace, as before.
		*blocked = check{reason: v.Reason, message: v.Message}
		if v.Customer || v.Reason == v1alpha1.ProvisioningFailedReason {
			return false, errCustomerProblem
		}
		return false, v.Err
	}
	return true, r.releaseSecret(ctx, tc, oc.ref)
}

// errCustomerProblem: the deletion waits for the customer (credentials, quota); requeue in
// minutes, no backoff storm.
var errCustomerProblem = errors.New("waiting for the customer")

// releaseSecret drops CredentialsFinalizer from the Secret once no other TenantCluster
// uses it.
func (r *Reconciler) releaseSecret(ctx context.Context, tc *v1alpha1.TenantCluster, ref cloud.Ref) error {
	users := &v1alpha1.TenantClusterList{}
	if err := r.Client.List(ctx, users, client.InNamespace(tc.Namespace), client.MatchingFields{credentialsSecretIndex: ref.Name}); err != nil {
		return fmt.Errorf("list users of Secret %s: %w", ref.Name, err)
	}
	return r.credentials().Release(ctx, ref, tc.UID, users)
}
