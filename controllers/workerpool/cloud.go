package workerpool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/internal/cloud"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// CredentialsFinalizer holds a credentials Secret (the pool's own, or its TenantCluster's
// spec.cloud one) while a WorkerPool may still need it to delete its servers: deleting a
// namespace deletes the Secret and the WorkerPool together.
// A finalizer of its own, not the TenantCluster controller's, so that each controller
// releases the Secret only when none of its own objects names it.
const CredentialsFinalizer = "kubeseed.io/workerpool-cloud-credentials"

// invalidSpecError is a spec field the cloud cannot realise: a flavor, image, network or
// subnet it does not know, or kubelet overrides that leave nothing for pods.
type invalidSpecError = cloud.SpecError

func invalidSpec(field string, err error) error { return cloud.InvalidSpec(field, err) }

// asInvalidSpec makes a lookup's "not found" or "ambiguous name" an invalidSpecError of
// field; other errors (the cloud failing, credentials) pass unchanged.
func asInvalidSpec(field string, err error) error { return cloud.AsInvalidSpec(field, err) }

// cloudCheck turns a cloud error into the ServersReady condition, a requeue and the error
// to return.
func cloudCheck(err error, what string, customerProblem time.Duration) (check, time.Duration, error) {
	return verdictCheck(cloud.Classify(err, what), customerProblem)
}

// verdictCheck maps the shared verdict onto ServersReady: the customer's problems (quota,
// an invalid spec, credentials) are reported and looked at again after customerProblem,
// without an error: no hot loop, and a fixed Secret or spec wakes the reconciler through
// its watch. Everything else is returned, for controller-runtime's backoff (a server in
// ERROR is replaced by the next pass).
func verdictCheck(v cloud.Verdict, customerProblem time.Duration) (check, time.Duration, error) {
	c := check{reason: v.Reason, message: v.Message}
	if v.Customer {
		return c, customerProblem, nil
	}
	return c, 0, v.Err
}

// credentials is the shared credentials layer, with this controller's finalizer.
func (r *Reconciler) credentials() cloud.Credentials {
	return cloud.Credentials{Client: r.Client, Clouds: r.Clouds, Finalizer: CredentialsFinalizer, Serves: "WorkerPools"}
}

// credentialsRef is the Secret the pool acts with: its own spec.credentialsSecretRef, else
// its TenantCluster's spec.cloud.credentialsSecretRef. False when neither names one (tc
// nil: the cluster is not there to ask).
func credentialsRef(wp *v1alpha1.WorkerPool, tc *v1alpha1.TenantCluster) (cloud.Ref, bool) {
	if name := wp.Spec.CredentialsSecretRef.Name; name != "" {
		return cloud.Ref{Namespace: wp.Namespace, Name: name, Field: "spec.credentialsSecretRef"}, true
	}
	if tc == nil || tc.Spec.Cloud == nil || tc.Spec.Cloud.CredentialsSecretRef.Name == "" {
		return cloud.Ref{}, false
	}
	return cloud.Ref{Namespace: wp.Namespace, Name: tc.Spec.Cloud.CredentialsSecretRef.Name,
		Field: "spec.cloud.credentialsSecretRef of TenantCluster " + tc.Name}, true
}

// noCredentials says why a pool that names no credentials has none.
func noCredentials(wp *v1alpha1.WorkerPool, tc *v1alpha1.TenantCluster) check {
	if tc == nil {
		return check{reason: v1alpha1.WaitingForDependencyReason, message: fmt.Sprintf(
			"TenantCluster %s named by spec.clusterName does not exist in namespace %s: a pool without spec.credentialsSecretRef acts with its spec.cloud.credentialsSecretRef",
			wp.Spec.ClusterName, wp.Namespace)}
	}
	return check{reason: v1alpha1.CloudCredentialsInvalidReason, message: fmt.Sprintf(
		"no credentials: set spec.credentialsSecretRef, or spec.cloud.credentialsSecretRef of TenantCluster %s", tc.Name)}
}

// cloudClients reads the pool's credentials Secret, holds it with CredentialsFinalizer and
// builds the clients. Nil clients come with the check saying why.
func (r *Reconciler) cloudClients(ctx context.Context, wp *v1alpha1.WorkerPool, tc *v1alpha1.TenantCluster) (*openstack.Clients, check, error) {
	creds := r.credentials()
	if r.Clouds == nil {
		v := cloud.Unsupported(creds.Serves)
		return nil, check{reason: v.Reason, message: v.Message}, nil
	}
	ref, ok := credentialsRef(wp, tc)
	if !ok {
		return nil, noCredentials(wp, tc), nil
	}
	clients, v, err := creds.Clients(ctx, ref)
	return clients, check{reason: v.Reason, message: v.Message}, err
}

// usersOf are the WorkerPools of namespace that act with Secret name: those that name it,
// and those that name none whose TenantCluster's spec.cloud does.
func (r *Reconciler) usersOf(ctx context.Context, namespace, name string) ([]v1alpha1.WorkerPool, error) {
	own := &v1alpha1.WorkerPoolList{}
	if err := r.Client.List(ctx, own, client.InNamespace(namespace), client.MatchingFields{credentialsSecretIndex: name}); err != nil {
		return nil, fmt.Errorf("list WorkerPools naming Secret %s: %w", name, err)
	}
	users := own.Items
	clusters := &v1alpha1.TenantClusterList{}
	if err := r.Client.List(ctx, clusters, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list TenantClusters: %w", err)
	}
	for _, tc := range clusters.Items {
		if tc.Spec.Cloud == nil || tc.Spec.Cloud.CredentialsSecretRef.Name != name {
			continue
		}
		pools := &v1alpha1.WorkerPoolList{}
		if err := r.Client.List(ctx, pools, client.InNamespace(namespace), client.MatchingFields{clusterNameIndex: tc.Name}); err != nil {
			return nil, fmt.Errorf("list WorkerPools of %s: %w", tc.Name, err)
		}
		for _, wp := range pools.Items {
			if wp.Spec.CredentialsSecretRef.Name == "" {
				users = append(users, wp)
			}
		}
	}
	return users, nil
}

// CloudReleasedAnnotation marks a WorkerPool being deleted whose servers are gone: it
// needs its credentials no more. Pools deleted at once (their TenantCluster's deletion)
// would otherwise each keep the shared Secret for the other, and neither release it.
const CloudReleasedAnnotation = "kubeseed.io/cloud-released"

// releaseSecret drops CredentialsFinalizer from the Secret once no other WorkerPool uses
// it; a pool being deleted that has marked its servers gone uses it no more. wait is true
// while another pool being deleted has not marked it yet: of pools deleted at once, the
// last to look releases the Secret.
func (r *Reconciler) releaseSecret(ctx context.Context, wp *v1alpha1.WorkerPool, ref cloud.Ref) (wait bool, err error) {
	users, err := r.usersOf(ctx, wp.Namespace, ref.Name)
	if err != nil {
		return false, err
	}
	var holding []v1alpha1.WorkerPool
	for _, u := range users {
		if u.UID == wp.UID || u.DeletionTimestamp.IsZero() {
			holding = append(holding, u)
			continue
		}
		if _, done := u.Annotations[CloudReleasedAnnotation]; !done {
			return true, nil
		}
	}
	return false, r.credentials().Release(ctx, ref, wp.UID, &v1alpha1.WorkerPoolList{Items: holding})
}

// launch is what every new server of the pool is made of, looked up in the cloud once per
// reconcile that creates servers.
type launch struct {
	flavor   *openstack.Flavor
	image    *openstack.Image
	reserved bootstrap.Reserved
	// networks of ServerSpec; with a subnet, a port per server is made instead.
	networkID, subnetID string
	serverGroupID       string
}

// resolveLaunch looks up the spec's flavor, image, network and subnet, computes the
// kubelet reservations from the flavor, and finds or creates the pool's server group. A
// field the cloud does not know is an invalidSpecError naming it.
func resolveLaunch(ctx context.Context, cloud *openstack.Clients, wp *v1alpha1.WorkerPool) (*launch, error) {
	spec := wp.Spec
	flavor, err := cloud.Compute.GetFlavor(ctx, spec.Flavor)
	if err != nil {
		return nil, asInvalidSpec("spec.flavor", err)
	}
	reserved, _, err := flavorAllocatable(flavor, spec.Kubelet)
	if err != nil {
		return nil, err
	}
	image, err := cloud.Compute.GetImage(ctx, spec.Image)
	if err != nil {
		return nil, asInvalidSpec("spec.image", err)
	}
	if image.Status != "active" {
		return nil, invalidSpec("spec.image", fmt.Errorf("image %s is %s, not active", image.Name, image.Status))
	}
	if cloud.Network != nil {
		if _, err := cloud.Network.GetNetwork(ctx, spec.NetworkID); err != nil {
			return nil, asInvalidSpec("spec.networkID", err)
		}
		if spec.SubnetID != "" {
			subnet, err := cloud.Network.GetSubnet(ctx, spec.SubnetID)
			if err != nil {
				return nil, asInvalidSpec("spec.subnetID", err)
			}
			if subnet.NetworkID != spec.NetworkID {
				return nil, invalidSpec("spec.subnetID", fmt.Errorf("subnet %s is on network %s, not on spec.networkID %s", spec.SubnetID, subnet.NetworkID, spec.NetworkID))
			}
		}
	} else if spec.SubnetID != "" {
		return nil, invalidSpec("spec.subnetID", errors.New("the cloud's credentials give no network service, which pinning a subnet needs"))
	}
	group, err := ensureServerGroup(ctx, cloud.Compute, serverGroupName(wp.Name, string(wp.UID)), spec.ServerGroupPolicy)
	if err != nil {
		return nil, err
	}
	return &launch{flavor: flavor, image: image, reserved: reserved, networkID: spec.NetworkID, subnetID: spec.SubnetID, serverGroupID: group.ID}, nil
}

// kubeletMaxPods is the kubelet's default --max-pods, which kubeseed keeps.
const kubeletMaxPods = 110

// flavorAllocatable computes the kubelet reservations of a server of the flavor and what
// its Node will offer pods; reservations that leave nothing are an invalidSpecError.
func flavorAllocatable(flavor *openstack.Flavor, kubelet v1alpha1.KubeletSpec) (bootstrap.Reserved, corev1.ResourceList, error) {
	if flavor.VCPUs <= 0 || flavor.RAMMiB <= 0 {
		return bootstrap.Reserved{}, nil, invalidSpec("spec.flavor", fmt.Errorf("flavor %s has %d vCPUs and %d MiB of RAM", flavor.Name, flavor.VCPUs, flavor.RAMMiB))
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(flavor.VCPUs), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(flavor.RAMMiB)<<20, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(kubeletMaxPods, resource.DecimalSI),
	}
	if flavor.DiskGiB > 0 { // a root disk of the flavor's (not a boot volume): the kubelet's nodefs
		capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(flavor.DiskGiB)<<30, resource.BinarySI)
	}
	reserved, err := bootstrap.Reservations(capacity[corev1.ResourceCPU], capacity[corev1.ResourceMemory], kubelet)
	if err != nil {
		return bootstrap.Reserved{}, nil, invalidSpec("spec.kubelet", err)
	}
	// The overrides must leave something for pods.
	allocatable, err := bootstrap.Allocatable(capacity, reserved)
	if err != nil {
		return bootstrap.Reserved{}, nil, invalidSpec("spec.kubelet", fmt.Errorf("with flavor %s: %w", flavor.Name, err))
	}
	return reserved, allocatable, nil
}

// nodeAllocatable is status.nodeAllocatable of an autoscaled pool: looked up once per
// generation (the flavor and kubelet are spec), nil for a pool without autoscaling. A
// lookup that fails leaves it unset (looked up again next time) rather than describe a
// flavor the spec no longer names; scaling reports the flavor's problem.
func nodeAllocatable(ctx context.Context, compute openstack.Compute, wp *v1alpha1.WorkerPool) corev1.ResourceList {
	if wp.Spec.Autoscaling == nil {
		return nil
	}
	if wp.Status.NodeAllocatable != nil && wp.Status.ObservedGeneration == wp.Generation {
		return wp.Status.NodeAllocatable
	}
	flavor, err := compute.GetFlavor(ctx, wp.Spec.Flavor)
	if err != nil {
		return nil
	}
	_, allocatable, err := flavorAllocatable(flavor, wp.Spec.Kubelet)
	if err != nil {
		return nil
	}
	return allocatable
}

// ensureServerGroup finds the pool's server group by name, or creates it.
func ensureServerGroup(ctx context.Context, compute openstack.Compute, name, policy string) (*openstack.ServerGroup, error) {
	if g, err := findServerGroup(ctx, compute, name); err != nil || g != nil {
		return g, err
	}
	if policy == "" {
		policy = openstack.PolicySoftAntiAffinity
	}
	g, err := compute.CreateServerGroup(ctx, name, policy)
	if err != nil {
		return nil, fmt.Errorf("create server group: %w", err)
	}
	return g, nil
}

// findServerGroup returns the server group called name (the lowest ID if several are), or nil.
func findServerGroup(ctx context.Context, compute openstack.Compute, name string) (*openstack.ServerGroup, error) {
	groups, err := compute.ListServerGroups(ctx)
	if err != nil {
		return nil, err
	}
	groups = slices.DeleteFunc(groups, func(g openstack.ServerGroup) bool { return g.Name != name })
	if len(groups) == 0 {
		return nil, nil
	}
	slices.SortFunc(groups, func(a, b openstack.ServerGroup) int { return strings.Compare(a.ID, b.ID) })
	return &groups[0], nil
}

// poolTags are the tags of the pool's servers and ports.
func poolTags(wp *v1alpha1.WorkerPool, tc *v1alpha1.TenantCluster) []string {
	return []string{openstack.PoolTag(string(wp.UID)), openstack.TenantTag(string(tc.UID)), openstack.RoleTag(WorkerRole)}
}

// serverNetworks attaches a new server: to spec.networkID, or, with a subnet pinned, to a
// port of the pool on that subnet, named after the server (made now, or left by an earlier
// attempt or a lost server of that name, and reused). live are the IDs of the pool's
// servers: a port still bound to another server is Nova detaching it from a lost one.
func serverNetworks(ctx context.Context, cloud *openstack.Clients, l *launch, name string, tags []string, ports []openstack.Port, live map[string]bool) ([]openstack.ServerNetwork, error) {
	if l.subnetID == "" {
		return []openstack.ServerNetwork{{NetworkID: l.networkID}}, nil
	}
	for _, p := range ports {
		if p.Name == name && !live[p.DeviceID] && p.NetworkID == l.networkID && slices.ContainsFunc(p.FixedIPs, func(ip openstack.FixedIP) bool { return ip.SubnetID == l.subnetID }) {
			return []openstack.ServerNetwork{{PortID: p.ID}}, nil
		}
	}
	p, err := cloud.Network.CreatePort(ctx, openstack.PortSpec{
		Name: name, Description: "kubeseed worker " + name, NetworkID: l.networkID,
		FixedIPs: []openstack.FixedIP{{SubnetID: l.subnetID}}, Tags: tags,
	})
	if err != nil {
		return nil, fmt.Errorf("create port: %w", err)
	}
	return []openstack.ServerNetwork{{PortID: p.ID}}, nil
}
