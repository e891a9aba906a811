package tenantcluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/kubeseed/kubeseed/controllers/internal/cloud"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// credentialsCopyKeys are the keys of a credentials Secret that are copied: the data
// openstack.ClientCache reads, nothing else.
var credentialsCopyKeys = []string{openstack.SecretKeyCloudsYAML, openstack.SecretKeyCloud, openstack.SecretKeyCACert}

// cloudCredentialsName is the control plane's copy of the customer's cloud credentials.
func cloudCredentialsName(cluster string) string { return cluster + "-cloud-credentials" }

// reconcileCloudCredentials copies the customer's credentials Secret the tenant's cloud
// resources are made with into the control-plane namespace, and holds the original with
// CredentialsFinalizer. Everything kubeseed does in the customer's project for this tenant
// then reads the copy, which only kubeseed writes. The copy is server-side applied: it
// changes (and so do the clients built from it) only when the customer edits their Secret,
// which is how credentials rotate. A Secret that cannot be read is left for the endpoint
// phase to report.
func (r *Reconciler) reconcileCloudCredentials(ctx context.Context, s *scope) (bool, error) {
	oc, ok := octaviaCloudOf(s.tc)
	if !ok || oc.ref.Name == "" || r.Clouds == nil {
		return false, nil
	}
	creds := r.credentials()
	secret, v, err := creds.Get(ctx, oc.ref)
	if secret == nil {
		s.cloudVerdict = v
		return err != nil, err
	}
	if err := creds.Hold(ctx, secret); err != nil {
		return true, err
	}
	copied, err := r.applyCredentialsCopy(ctx, s, secret)
	if err != nil {
		return true, err
	}
	s.cloudCredentials = copied
	return false, nil
}

// applyCredentialsCopy applies the copy as the control plane's apply would (same labels,
// owner and field manager, so that the later apply of the whole set, which keeps it, writes
// nothing), and returns it as stored, with the resourceVersion the client cache keys on.
func (r *Reconciler) applyCredentialsCopy(ctx context.Context, s *scope, from *corev1.Secret) (*corev1.Secret, error) {
	labels := pki.Labels(s.tc.Name)
	labels[InventoryLabel] = string(s.tc.UID)
	data := map[string][]byte{}
	for _, k := range credentialsCopyKeys {
		if v, ok := from.Data[k]; ok {
			data[k] = v
		}
	}
	desired := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: cloudCredentialsName(s.tc.Name), Namespace: s.namespace(), Labels: labels,
			Annotations: map[string]string{openstack.CredentialsSourceAnnotation: from.Namespace + "/" + from.Name},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	if err := controllerutil.SetControllerReference(s.ns, desired, r.Scheme); err != nil {
		return nil, fmt.Errorf("own the credentials copy: %w", err)
	}
	s.extra = append(s.extra, desired.DeepCopy())
	objs, err := r.toUnstructured([]client.Object{desired})
	if err != nil {
		return nil, err
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(objs[0]), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return nil, fmt.Errorf("copy credentials Secret %s into %s: %w", from.Name, s.namespace(), err)
	}
	applied := &corev1.Secret{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, applied); err != nil {
		return nil, fmt.Errorf("read the credentials copy: %w", err)
	}
	return applied, nil
}

// copiedCloudClients builds the clients of the credentials copy made this reconcile; without
// one, the verdict the copy phase found (the Secret is missing) or the shared layer's.
func (r *Reconciler) copiedCloudClients(ctx context.Context, s *scope, ref cloud.Ref) (*openstack.Clients, cloud.Verdict, error) {
	if s.cloudCredentials == nil {
		if !s.cloudVerdict.IsZero() {
			return nil, s.cloudVerdict, nil
		}
		return r.credentials().Clients(ctx, ref)
	}
	clients, v := r.credentials().Build(ctx, s.cloudCredentials, "Secret "+ref.Name)
	return clients, v, v.Err
}
