package tenantcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// namespaceWait is how often a TenantCluster looks whether the control-plane namespace it
// waits for (its own being deleted, or an earlier one's) is gone; the Namespace watch
// usually wakes it sooner.
const namespaceWait = 5 * time.Second

// ensureNamespace makes tc's control-plane namespace and returns it as the API server has
// it (with its UID: it is the controller owner of everything inside). A namespace of that
// name that is not tc's is never adopted: an earlier TenantCluster's being deleted is
// waited for; anything else is a conflict a seed admin must resolve. Either way the
// returned check says why, and the namespace is nil.
func (r *Reconciler) ensureNamespace(ctx context.Context, tc *v1alpha1.TenantCluster) (*corev1.Namespace, check, error) {
	name := controlplane.NamespaceOf(tc)
	live := &corev1.Namespace{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: name}, live)
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return nil, check{}, fmt.Errorf("get control-plane namespace %s: %w", name, err)
	}
	if live != nil {
		owner := live.Labels[controlplane.LabelTenantUID]
		switch {
		case owner == string(tc.UID) && live.DeletionTimestamp.IsZero():
			// Ours: apply below keeps its labels as they should be.
		case owner == string(tc.UID):
			// Someone deleted this TenantCluster's own namespace: its control plane, etcd
			// data and CAs go with it. Say so; a new, empty one follows once it is gone.
			return nil, check{reason: v1alpha1.WaitingForNamespaceReason, message: fmt.Sprintf(
				"the control-plane namespace %s is being deleted, not by kubeseed: this control plane and its data are lost; a new, empty one starts once the namespace is gone",
				name)}, nil
		case !live.DeletionTimestamp.IsZero():
			return nil, check{reason: v1alpha1.WaitingForNamespaceReason, message: fmt.Sprintf(
				"the control-plane namespace %s of an earlier TenantCluster %s/%s is being deleted; this one starts once it is gone",
				name, tc.Namespace, tc.Name)}, nil
		default:
			return nil, check{reason: v1alpha1.NamespaceConflictReason, message: fmt.Sprintf(
				"namespace %s exists and is not this TenantCluster's (label %s=%q, want %q): a seed admin must delete it",
				name, controlplane.LabelTenantUID, owner, tc.UID)}, nil
		}
	}
	desired := controlplane.Namespace(tc)
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return nil, check{}, fmt.Errorf("convert namespace %s: %w", name, err)
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec")
	unstructured.RemoveNestedField(u.Object, "status")
	if live != nil && labelsContain(live.Labels, desired.Labels) {
		return live, check{ok: true}, nil // nothing to write
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return nil, check{}, fmt.Errorf("apply control-plane namespace %s: %w", name, err)
	}
	applied := &corev1.Namespace{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, applied); err != nil {
		return nil, check{}, fmt.Errorf("read applied namespace %s: %w", name, err)
	}
	return applied, check{ok: true}, nil
}

func labelsContain(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// deleteNamespace deletes tc's control-plane namespace (and so everything in it: pods,
// PVCs, cert-manager's Secrets) and says whether it is gone. A namespace that is not tc's is
// left alone.
func (r *Reconciler) deleteNamespace(ctx context.Context, tc *v1alpha1.TenantCluster) (bool, error) {
	// Read live, not from the cache: a namespace made moments ago may not be cached yet, and
	// taking it for gone would leave it, and its etcd data and CA keys, behind for good.
	ns := &corev1.Namespace{}
	err := r.apiReader().Get(ctx, client.ObjectKey{Name: controlplane.NamespaceOf(tc)}, ns)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("get control-plane namespace: %w", err)
	}
	if ns.Labels[controlplane.LabelTenantUID] != string(tc.UID) {
		return true, nil // never made by this TenantCluster
	}
	if ns.DeletionTimestamp.IsZero() {
		uid := ns.UID
		if err := r.Client.Delete(ctx, ns, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			return false, fmt.Errorf("delete control-plane namespace %s: %w", ns.Name, err)
		}
	}
	return false, nil
}

// apiReader reads past the cache: APIReader, or Client in tests that set none.
func (r *Reconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}
