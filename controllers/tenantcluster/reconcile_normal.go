package tenantcluster

import (
	"context"
	"fmt"
	"slices"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

// issuedSecrets reads the tenant's PKI Secrets that exist, and their checksums, which roll
// the pods that mount them when cert-manager renews a certificate.
func (r *Reconciler) issuedSecrets(ctx context.Context, s *scope) (map[string]*corev1.Secret, map[string]string, error) {
	tc := s.tc
	list := &corev1.SecretList{}
	if err := r.Client.List(ctx, list, client.InNamespace(s.namespace()), client.MatchingLabels{controlplane.LabelTenantCluster: tc.Name}); err != nil {
		return nil, nil, fmt.Errorf("list secrets of %s: %w", tc.Name, err)
	}
	secrets := map[string]*corev1.Secret{}
	sums := map[string]string{}
	for i := range list.Items {
		s := &list.Items[i]
		secrets[s.Name] = s
		sums[s.Name] = controlplane.SecretDataChecksum(s.Data)
	}
	return secrets, sums, nil
}

// caChecksums digests the CA of each PKI Secret: what a component that reloads the
// Secret's renewed certificate restarts for.
func caChecksums(secrets map[string]*corev1.Secret) map[string]string {
	sums := make(map[string]string, len(secrets))
	for name, s := range secrets {
		sums[name] = controlplane.SecretCAChecksum(s.Data)
	}
	return sums
}

func toCheck(ok bool, msg string) check {
	if ok {
		return check{ok: true, reason: v1alpha1.AvailableReason, message: msg}
	}
	return check{reason: v1alpha1.ProgressingReason, message: msg}
}

// certificatesCheck says whether every desired Certificate but those named in optional is
// issued, and names those that are not.
func certificatesCheck(live []cmv1.Certificate, desired []client.Object, optional ...string) check {
	byName := map[string]*cmv1.Certificate{}
	for i := range live {
		byName[live[i].Name] = &live[i]
	}
	want, ready := 0, 0
	var waiting []string
	for _, obj := range desired {
		if _, isCert := obj.(*cmv1.Certificate); !isCert || slices.Contains(optional, obj.GetName()) {
			continue
		}
		want++
		if c, ok := byName[obj.GetName()]; ok {
			if isReady, _ := pki.Ready(c); isReady {
				ready++
				continue
			}
		}
		waiting = append(waiting, obj.GetName())
	}
	if ready == want && want > 0 {
		return check{ok: true, reason: v1alpha1.AvailableReason, message: fmt.Sprintf("%d certificates issued", want)}
	}
	return check{reason: v1alpha1.WaitingForCertificatesReason, message: fmt.Sprintf("%d of %d certificates issued; waiting for %v", ready, want, waiting)}
}

func nodePortOf(svc *corev1.Service) int32 {
	if svc == nil {
		return 0
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == apiServerPort {
			return p.NodePort
		}
	}
	return 0
}

// tunnelNodePortOf is the node port the seed gave the apiserver Service's tunnel port.
func tunnelNodePortOf(svc *corev1.Service) int32 {
	if svc == nil {
		return 0
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "tunnel" {
			return p.NodePort
		}
	}
	return 0
}

// tunnelAgentOf is where the tenant's tunnel agents dial: the endpoint's host on the
// tunnel's node port (NodePort) or port (LoadBalancer). Nil until the port exists.
func tunnelAgentOf(tc *v1alpha1.TenantCluster, ep pki.Endpoint, svc *corev1.Service) *tunnelAgent {
	if ep.Host == "" {
		return nil
	}
	port := controlplane.TunnelPort
	if tc.Spec.Endpoint.Type == v1alpha1.EndpointNodePort {
		if port = tunnelNodePortOf(svc); port == 0 {
			return nil
		}
	}
	return &tunnelAgent{host: ep.Host, port: port}
}

// publish writes what kubeseed keeps in the TenantCluster's own namespace, owned by the
// TenantCluster: the admin kubeconfig, for the customer and Magnum to read (kubeseed never
// reads this copy back: a customer may change it), and, while pools autoscale, the
// autoscaler's Role and RoleBinding (autoscaler.go), pruned once none does.
func (r *Reconciler) publish(ctx context.Context, tc *v1alpha1.TenantCluster, kubeconfig []byte, autoscaled []string, o *observed) error {
	name := controlplane.AdminKubeconfigSecret.Name(tc.Name)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tc.Namespace, Labels: pki.Labels(tc.Name)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{controlplane.KubeconfigKey: kubeconfig},
	}
	published := []client.Object{secret}
	if len(autoscaled) > 0 {
		if err := r.clearForeignRoleBinding(ctx, tc); err != nil {
			return err
		}
		published = append(published, AutoscalerRBAC(tc, autoscaled)...)
	}
	objs, err := r.toUnstructured(published)
	if err != nil {
		return err
	}
	if _, err := r.Applier.Apply(ctx, tc, publishedInventory(tc), objs); err != nil {
		return fmt.Errorf("publish the admin kubeconfig of %s: %w", tc.Name, err)
	}
	o.kubeconfigSecret = name
	return nil
}

// toUnstructured converts typed objects for the applier, with their GVK set from the scheme.
func (r *Reconciler) toUnstructured(objs []client.Object) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		gvk, err := r.Client.GroupVersionKindFor(obj)
		if err != nil {
			return nil, fmt.Errorf("kind of %s: %w", obj.GetName(), err)
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("convert %s: %w", obj.GetName(), err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetGroupVersionKind(gvk)
		// Server-side apply refuses creationTimestamp: null and an empty status.
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "status")
		out = append(out, u)
	}
	return out, nil
}

// getOptional gets an object from the cache, or from the API when the cache has none;
// nil when it does not exist.
func getOptional[T any, PT interface {
	*T
	client.Object
}](ctx context.Context, r *Reconciler, ns, name string) (*T, error) {
	obj := PT(new(T))
	key := client.ObjectKey{Namespace: ns, Name: name}
	err := r.Client.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		// The cache holds only objects labelled kubeseed's (app.CacheOptions): one whose
		// label someone removed must not read as absent, e.g. an etcd to bootstrap anew.
		err = r.apiReader().Get(ctx, key, obj)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get %s/%s: %w", ns, name, err)
	}
	return (*T)(obj), nil
}
