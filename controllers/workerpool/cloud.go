package workerpool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// CredentialsFinalizer holds a credentials Secret while a WorkerPool may still need it to
// delete its servers: deleting a namespace deletes the Secret and the WorkerPool together.
// A finalizer of its own, not the TenantCluster controller's, so that each controller
// releases the Secret only when none of its own objects names it.
const CredentialsFinalizer = "kubeseed.io/workerpool-cloud-credentials"

// invalidSpecError is a spec field the cloud cannot realise: a flavor, image, network or
// subnet it does not know, or kubelet overrides that leave nothing for pods.
type invalidSpecError struct {
	field string
	err   error
}

func (e *invalidSpecError) Error() string { return e.field + ": " + e.err.Error() }
func (e *invalidSpecError) Unwrap() error { return e.err }

func invalidSpec(field string, err error) error { return &invalidSpecError{field: field, err: err} }

// asInvalidSpec makes a lookup's "not found" or "ambiguous name" an invalidSpecError of
// field; other errors (the cloud failing, credentials) pass unchanged.
func asInvalidSpec(field string, err error) error {
	if openstack.IsNotFound(err) || openstack.IsInvalidInput(err) {
		return invalidSpec(field, err)
	}
	return err
}

// cloudCheck turns a cloud error into the ServersReady condition, a requeue and the error
// to return. The customer's problems (quota, an invalid spec, credentials) are reported
// and looked at again after customerProblem, without an error: no hot loop, and a fixed
// Secret or spec wakes the reconciler through its watch. The cloud's own failures are
// returned, for controller-runtime's backoff.
func cloudCheck(err error, what string, customerProblem time.Duration) (check, time.Duration, error) {
	var invalid *invalidSpecError
	if errors.As(err, &invalid) {
		return check{reason: v1alpha1.InvalidSpecReason, message: fmt.Sprintf("%s: %v", what, err)}, customerProblem, nil
	}
	switch openstack.Classify(err) {
	case openstack.ProblemQuota:
		res, _ := openstack.IsQuota(err)
		if res == "" {
			res = "(unnamed)"
		}
		return check{reason: v1alpha1.QuotaExceededReason, message: fmt.Sprintf(
			"%s: the customer's project is out of its %s quota: raise it or free some (%v)", what, res, err)}, customerProblem, nil
	case openstack.ProblemCredentials:
		return check{reason: v1alpha1.CloudCredentialsInvalidReason, message: fmt.Sprintf("%s: %v", what, err)}, customerProblem, nil
	case openstack.ProblemInvalid:
		// Refused by the cloud as invalid although every field was looked up: the spec
		// as a whole (an image too big for the flavor, an AZ that does not exist...).
		return check{reason: v1alpha1.InvalidSpecReason, message: fmt.Sprintf("%s: %v", what, err)}, customerProblem, nil
	default:
		// A server in ERROR is replaced by the next pass; the cloud's own failures back off.
		return check{reason: v1alpha1.CloudUnavailableReason, message: fmt.Sprintf("%s: %v", what, err)}, 0, fmt.Errorf("%s: %w", what, err)
	}
}

// cloudClients reads the credentials Secret, holds it with CredentialsFinalizer and builds
// the clients. Nil clients come with the check saying why.
func (r *Reconciler) cloudClients(ctx context.Context, wp *v1alpha1.WorkerPool) (*openstack.Clients, check, error) {
	if r.Clouds == nil {
		return nil, check{reason: v1alpha1.InvalidSpecReason, message: "this kubeseed manager was started without OpenStack support: WorkerPools cannot be served"}, nil
	}
	name := wp.Spec.CredentialsSecretRef.Name
	secret := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: wp.Namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, check{reason: v1alpha1.CloudCredentialsInvalidReason, message: fmt.Sprintf(
				"Secret %s named by spec.credentialsSecretRef does not exist: create it with key %q holding the customer's clouds.yaml",
				name, openstack.SecretKeyCloudsYAML)}, nil
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
		c, _, retErr := cloudCheck(err, "Secret "+name, r.CustomerProblemInterval)
		return nil, c, retErr
	}
	return clients, check{}, nil
}

// releaseSecret drops CredentialsFinalizer from the Secret once no other WorkerPool names it.
func (r *Reconciler) releaseSecret(ctx context.Context, wp *v1alpha1.WorkerPool) error {
	name := wp.Spec.CredentialsSecretRef.Name
	users := &v1alpha1.WorkerPoolList{}
	if err := r.Client.List(ctx, users, client.InNamespace(wp.Namespace), client.MatchingFields{credentialsSecretIndex: name}); err != nil {
		return fmt.Errorf("list users of Secret %s: %w", name, err)
	}
	for _, u := range users.Items {
		if u.UID != wp.UID {
			return nil
		}
	}
	secret := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: wp.Namespace, Name: name}, secret); err != nil {
		return client.IgnoreNotFound(err)
	}
	if controllerutil.RemoveFinalizer(secret, CredentialsFinalizer) {
		if err := r.Client.Update(ctx, secret); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("release credentials Secret %s: %w", name, err)
		}
	}
	return nil
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
	if flavor.VCPUs <= 0 || flavor.RAMMiB <= 0 {
		return nil, invalidSpec("spec.flavor", fmt.Errorf("flavor %s has %d vCPUs and %d MiB of RAM", flavor.Name, flavor.VCPUs, flavor.RAMMiB))
	}
	reserved, err := bootstrap.Reservations(*resource.NewQuantity(int64(flavor.VCPUs), resource.DecimalSI),
		*resource.NewQuantity(int64(flavor.RAMMiB)<<20, resource.BinarySI), spec.Kubelet)
	if err != nil {
		return nil, invalidSpec("spec.kubelet", err)
	}
	// The overrides must leave something for pods.
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(flavor.VCPUs), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(flavor.RAMMiB)<<20, resource.BinarySI),
	}
	if _, err := bootstrap.Allocatable(capacity, reserved); err != nil {
		return nil, invalidSpec("spec.kubelet", fmt.Errorf("with flavor %s: %w", flavor.Name, err))
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
