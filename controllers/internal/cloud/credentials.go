package cloud

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// Ref names a credentials Secret and the field that named it, so that every message
// points at what the customer wrote.
type Ref struct {
	Namespace, Name string
	// Field is where Name was read, as the customer sees it:
	// "spec.endpoint.octavia.credentialsSecretRef", or
	// "spec.cloud.credentialsSecretRef of TenantCluster acme".
	Field string
}

// Key is the Secret's object key.
func (r Ref) Key() client.ObjectKey { return client.ObjectKey{Namespace: r.Namespace, Name: r.Name} }

// Missing is the verdict on a Secret that does not exist: the customer creates it. For an
// Octavia endpoint's own Secret it reads (troubleshooting.md quotes it, with %s the name):
// "Secret %s named by spec.endpoint.octavia.credentialsSecretRef does not exist: create it with key clouds.yaml holding the customer's clouds.yaml".
func Missing(ref Ref) Verdict {
	return Verdict{Reason: v1alpha1.CloudCredentialsInvalidReason, Customer: true, Message: fmt.Sprintf(
		"Secret %s named by %s does not exist: create it with key %s holding the customer's clouds.yaml",
		ref.Name, ref.Field, openstack.SecretKeyCloudsYAML)}
}

// Credentials reads, holds and releases the credentials Secrets of one controller. The
// manager reads the customer's Secret itself; Clouds caches the clients per version of it.
type Credentials struct {
	Client client.Client
	// Clouds builds the clients; nil means the manager has no OpenStack support.
	Clouds openstack.ClientFactory
	// Finalizer holds a Secret while an object of this controller may need it to delete
	// what it made in the customer's project: deleting a namespace deletes the Secret and
	// the objects together. One per controller, so that each releases a Secret only when
	// none of its own objects needs it.
	Finalizer string
	// Serves names what the credentials serve, for Unsupported: "WorkerPools".
	Serves string
}

// Get reads the Secret ref names. A missing Secret is no error: nil and its verdict.
func (c Credentials) Get(ctx context.Context, ref Ref) (*corev1.Secret, Verdict, error) {
	secret := &corev1.Secret{}
	if err := c.Client.Get(ctx, ref.Key(), secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, Missing(ref), nil
		}
		return nil, Verdict{}, fmt.Errorf("get credentials Secret %s: %w", ref.Name, err)
	}
	return secret, Verdict{}, nil
}

// Hold adds the finalizer to a Secret that is not being deleted.
func (c Credentials) Hold(ctx context.Context, secret *corev1.Secret) error {
	if !secret.DeletionTimestamp.IsZero() || !controllerutil.AddFinalizer(secret, c.Finalizer) {
		return nil
	}
	if err := c.Client.Update(ctx, secret); err != nil {
		return fmt.Errorf("hold credentials Secret %s: %w", secret.Name, err)
	}
	return nil
}

// Build makes the clients of a Secret already read. A failure comes with its verdict,
// what prefixing the message ("Secret <name>" when empty).
func (c Credentials) Build(ctx context.Context, secret *corev1.Secret, what string) (*openstack.Clients, Verdict) {
	if c.Clouds == nil {
		return nil, Unsupported(c.Serves)
	}
	clients, err := c.Clouds.ForSecret(ctx, secret)
	if err != nil {
		if what == "" {
			what = "Secret " + secret.Name
		}
		return nil, Classify(err, what)
	}
	return clients, Verdict{}
}

// Clients reads the Secret ref names, holds it and builds its clients: what a reconcile
// that may create something in the customer's project needs. Nil clients come with the
// verdict saying why, or with the error of the seed's API.
func (c Credentials) Clients(ctx context.Context, ref Ref) (*openstack.Clients, Verdict, error) {
	if c.Clouds == nil {
		return nil, Unsupported(c.Serves), nil
	}
	secret, v, err := c.Get(ctx, ref)
	if secret == nil {
		return nil, v, err
	}
	if err := c.Hold(ctx, secret); err != nil {
		return nil, Verdict{}, err
	}
	clients, v := c.Build(ctx, secret, "")
	return clients, v, v.Err
}

// Release drops the finalizer from the Secret ref names unless users, the objects of the
// controller's kind that use it (listed by the caller), hold one other than self. A
// Secret already gone is released.
func (c Credentials) Release(ctx context.Context, ref Ref, self types.UID, users client.ObjectList) error {
	others := false
	if err := meta.EachListItem(users, func(o runtime.Object) error {
		if obj, ok := o.(client.Object); ok && obj.GetUID() != self {
			others = true
		}
		return nil
	}); err != nil {
		return fmt.Errorf("users of Secret %s: %w", ref.Name, err)
	}
	if others {
		return nil
	}
	secret := &corev1.Secret{}
	if err := c.Client.Get(ctx, ref.Key(), secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("get credentials Secret %s: %w", ref.Name, err)
	}
	if controllerutil.RemoveFinalizer(secret, c.Finalizer) {
		if err := c.Client.Update(ctx, secret); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("release credentials Secret %s: %w", ref.Name, err)
		}
	}
	return nil
}
