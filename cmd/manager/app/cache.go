package app

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// CacheOptions sets what the manager keeps of the seed in memory. Customers and the seed's
// other users write objects into their namespaces, as many and as large as their quota
// allows; a cache of every object of a kind would grow the manager with them.
//   - No Secret is cached: the client reads a Secret from the API each time (a handful per
//     reconcile), and the controllers watch Secrets by their metadata, of which the cache
//     keeps only the name and owner.
//   - ConfigMaps, Services, Deployments and StatefulSets are cached when they carry
//     app.kubernetes.io/part-of=kubeseed, as everything the manager renders does: the
//     manager reads no other from the cache (the seed's node ports it reads from the API).
//     PVCs and Certificates are cached whole (etcd's claims are read in the control-plane
//     namespace only; a customer allowed to make claims or Certificates adds to the cache).
//   - No cached object keeps its managedFields, which nothing in the manager reads.
func CacheOptions(o *ctrl.Options) {
	if o.Client.Cache == nil {
		o.Client.Cache = &client.CacheOptions{}
	}
	o.Client.Cache.DisableFor = append(o.Client.Cache.DisableFor, &corev1.Secret{})
	o.Cache.DefaultTransform = cache.TransformStripManagedFields()
	if o.Cache.ByObject == nil {
		o.Cache.ByObject = map[client.Object]cache.ByObject{}
	}
	o.Cache.ByObject[&corev1.Secret{}] = cache.ByObject{Transform: secretReference()}
	ours := labels.SelectorFromSet(labels.Set{controlplane.LabelPartOf: controlplane.PartOf})
	for _, obj := range []client.Object{
		&corev1.ConfigMap{}, &corev1.Service{}, &appsv1.Deployment{}, &appsv1.StatefulSet{},
	} {
		o.Cache.ByObject[obj] = cache.ByObject{Label: ours}
	}
}

// secretReference keeps of a Secret watched by its metadata what the controllers map its
// events with: name, namespace and owner references (labels and annotations are the
// customer's to fill).
func secretReference() toolscache.TransformFunc {
	return func(in any) (any, error) {
		if obj, err := meta.Accessor(in); err == nil {
			obj.SetManagedFields(nil)
			obj.SetAnnotations(nil)
			obj.SetLabels(nil)
		}
		return in, nil
	}
}
