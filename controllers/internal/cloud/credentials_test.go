package cloud

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

const finalizer = "kubeseed.io/test-cloud-credentials"

// factory builds clients for Secrets with a clouds.yaml, as openstack.ClientCache would.
type factory struct{ fail error }

func (f factory) ForSecret(_ context.Context, s *corev1.Secret) (*openstack.Clients, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	if len(s.Data[openstack.SecretKeyCloudsYAML]) == 0 {
		return nil, fmt.Errorf("%w: Secret %s has no key clouds.yaml", openstack.ErrCredentialsSecret, s.Name)
	}
	return &openstack.Clients{}, nil
}

func world(t *testing.T, secrets ...*corev1.Secret) client.Client {
	t.Helper()
	b := fake.NewClientBuilder().WithScheme(scheme.Scheme)
	for _, s := range secrets {
		b = b.WithObjects(s)
	}
	return b.Build()
}

func secret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "project-1", Name: name}, Data: data}
}

func held(t *testing.T, c client.Client, name string) bool {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "project-1", Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return slices.Contains(s.Finalizers, finalizer)
}

func TestClients(t *testing.T) {
	ctx := context.Background()
	ref := func(name string) Ref {
		return Ref{Namespace: "project-1", Name: name, Field: "spec.cloud.credentialsSecretRef"}
	}
	good := map[string][]byte{openstack.SecretKeyCloudsYAML: []byte("clouds: {}")}
	for _, c := range []struct {
		name     string
		clouds   openstack.ClientFactory
		ref      string
		reason   string // "" for clients
		contains string
		held     bool
		retErr   bool
	}{
		{name: "good Secret", clouds: factory{}, ref: "good", held: true},
		{name: "missing Secret names the field", clouds: factory{}, ref: "nope",
			reason: v1alpha1.CloudCredentialsInvalidReason, contains: "Secret nope named by spec.cloud.credentialsSecretRef does not exist"},
		{name: "Secret without clouds.yaml is held, and refused", clouds: factory{}, ref: "empty",
			reason: v1alpha1.CloudCredentialsInvalidReason, contains: "Secret empty: ", held: true},
		{name: "Keystone down", clouds: factory{fail: openstack.TimeoutError()}, ref: "good",
			reason: v1alpha1.CloudUnavailableReason, contains: "timeout", held: true, retErr: true},
		{name: "no OpenStack support", ref: "good",
			reason: v1alpha1.InvalidSpecReason, contains: "without OpenStack support: WorkerPools cannot be served"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := world(t, secret("good", good), secret("empty", nil))
			creds := Credentials{Client: k, Clouds: c.clouds, Finalizer: finalizer, Serves: "WorkerPools"}
			clients, v, err := creds.Clients(ctx, ref(c.ref))
			if (clients != nil) != (c.reason == "") || v.Reason != c.reason || !strings.Contains(v.Message, c.contains) {
				t.Errorf("clients %v, verdict %+v; want reason %q containing %q", clients, v, c.reason, c.contains)
			}
			if (err != nil) != c.retErr {
				t.Errorf("error %v, want one: %v", err, c.retErr)
			}
			if c.ref != "nope" && held(t, k, c.ref) != c.held {
				t.Errorf("Secret held: %v, want %v", !c.held, c.held)
			}
		})
	}
}

func TestHoldSkipsADeletingSecret(t *testing.T) {
	now := metav1.Now()
	s := secret("going", nil)
	s.Finalizers, s.DeletionTimestamp = []string{"someone/else"}, &now
	k := world(t, s)
	if err := (Credentials{Client: k, Finalizer: finalizer}).Hold(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if held(t, k, "going") {
		t.Error("a Secret being deleted was held")
	}
}

func TestRelease(t *testing.T) {
	ctx := context.Background()
	pool := func(uid string) v1alpha1.WorkerPool {
		return v1alpha1.WorkerPool{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}}
	}
	for _, c := range []struct {
		name  string
		users []v1alpha1.WorkerPool
		held  bool
	}{
		{"last user", []v1alpha1.WorkerPool{pool("self")}, false},
		{"no user listed", nil, false},
		{"another user left", []v1alpha1.WorkerPool{pool("self"), pool("other")}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := secret("shared", nil)
			s.Finalizers = []string{finalizer, "someone/else"}
			k := world(t, s)
			creds := Credentials{Client: k, Finalizer: finalizer}
			ref := Ref{Namespace: "project-1", Name: "shared"}
			if err := creds.Release(ctx, ref, "self", &v1alpha1.WorkerPoolList{Items: c.users}); err != nil {
				t.Fatal(err)
			}
			if held(t, k, "shared") != c.held {
				t.Errorf("held %v, want %v", !c.held, c.held)
			}
		})
	}
	// A Secret already gone is released.
	creds := Credentials{Client: world(t), Finalizer: finalizer}
	if err := creds.Release(ctx, Ref{Namespace: "project-1", Name: "gone"}, "self", &v1alpha1.WorkerPoolList{}); err != nil {
		t.Errorf("release of a Secret that is gone: %v", err)
	}
}

func TestGetReportsTheSeedsFailure(t *testing.T) {
	// A Secret of a kind the scheme does not know stands in for the seed's API failing.
	k := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).Build()
	_, v, err := (Credentials{Client: k}).Get(context.Background(), Ref{Namespace: "project-1", Name: "x"})
	if err == nil || !v.IsZero() || !strings.Contains(err.Error(), "get credentials Secret x") {
		t.Errorf("verdict %+v, error %v; want the API's error with its context", v, err)
	}
}
