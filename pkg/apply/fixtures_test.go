//go:build envtest

package apply_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// newNamespace creates a namespace for one test. envtest runs no namespace controller, so
// namespaces are never removed; their generated names keep tests apart.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "apply-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// newOwner creates a ConfigMap standing in for the TenantCluster: any namespaced object
// can own. envtest has no garbage collector, so its owned objects would outlive it; no test
// deletes it.
func newOwner(t *testing.T, ns, name string) *corev1.ConfigMap {
	t.Helper()
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := k8sClient.Create(context.Background(), owner); err != nil {
		t.Fatalf("create owner: %v", err)
	}
	return owner
}

func controllerRef(owner *corev1.ConfigMap) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}
}

// id names an object the way Result does.
func id(kind, ns, name string) string { return kind + " " + ns + "/" + name }

func object(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	maps.Copy(u.Object, fields)
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	if ns != "" {
		u.SetNamespace(ns)
	}
	return u
}

func configMap(ns, name string, data map[string]string) *unstructured.Unstructured {
	d := map[string]any{}
	for k, v := range data {
		d[k] = v
	}
	return object("v1", "ConfigMap", ns, name, map[string]any{"data": d})
}

func service(ns, name string) *unstructured.Unstructured {
	return object("v1", "Service", ns, name, map[string]any{"spec": map[string]any{
		"selector": map[string]any{"app": name},
		"ports":    []any{map[string]any{"name": "https", "port": int64(443), "targetPort": int64(6443)}},
	}})
}

// deployment leaves replicas out, as a manifest does when an autoscaler owns them.
func deployment(ns, name, image string) *unstructured.Unstructured {
	labels := map[string]any{"app": name}
	return object("apps/v1", "Deployment", ns, name, map[string]any{"spec": map[string]any{
		"selector": map[string]any{"matchLabels": labels},
		"template": map[string]any{
			"metadata": map[string]any{"labels": labels},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "main", "image": image}}},
		},
	}})
}

// snapshot reads the resourceVersion of every ConfigMap, Service and Deployment in the
// namespaces, by id.
func snapshot(t *testing.T, namespaces ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	rvs := map[string]string{}
	for _, ns := range namespaces {
		cms, svcs, deps := &corev1.ConfigMapList{}, &corev1.ServiceList{}, &appsv1.DeploymentList{}
		for _, l := range []client.ObjectList{cms, svcs, deps} {
			if err := k8sClient.List(ctx, l, client.InNamespace(ns)); err != nil {
				t.Fatalf("list: %v", err)
			}
		}
		for _, o := range cms.Items {
			rvs[id("ConfigMap", o.Namespace, o.Name)] = o.ResourceVersion
		}
		for _, o := range svcs.Items {
			rvs[id("Service", o.Namespace, o.Name)] = o.ResourceVersion
		}
		for _, o := range deps.Items {
			rvs[id("Deployment.apps", o.Namespace, o.Name)] = o.ResourceVersion
		}
	}
	return rvs
}

// diff returns, sorted, the objects created or written between two snapshots and those
// deleted.
func diff(before, after map[string]string) (changed, deleted []string) {
	for k, rv := range after {
		if before[k] != rv {
			changed = append(changed, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			deleted = append(deleted, k)
		}
	}
	slices.Sort(changed)
	slices.Sort(deleted)
	return changed, deleted
}

// assertManaged checks that the live object carries the inventory label and a controller
// reference to owner, and that our field manager applied it.
func assertManaged(t *testing.T, owner *corev1.ConfigMap, obj *unstructured.Unstructured) {
	t.Helper()
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(obj.GroupVersionKind())
	key := client.ObjectKey{Namespace: owner.Namespace, Name: obj.GetName()}
	if err := k8sClient.Get(context.Background(), key, live); err != nil {
		if apierrors.IsNotFound(err) {
			t.Errorf("%s %s was not applied", obj.GetKind(), key)
			return
		}
		t.Fatal(err)
	}
	if v := live.GetLabels()[inventoryKey]; v != string(owner.UID) {
		t.Errorf("%s %s: inventory label = %q, want %q", obj.GetKind(), key, v, owner.UID)
	}
	ref := metav1.GetControllerOf(live)
	if ref == nil || ref.UID != owner.UID || ref.Kind != "ConfigMap" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("%s %s: controller reference = %+v, want the owner's, blocking deletion", obj.GetKind(), key, ref)
	}
	if !slices.ContainsFunc(live.GetManagedFields(), func(e metav1.ManagedFieldsEntry) bool {
		return e.Manager == fieldOwner && e.Operation == metav1.ManagedFieldsOperationApply
	}) {
		t.Errorf("%s %s: no server-side apply entry of %s in managedFields", obj.GetKind(), key, fieldOwner)
	}
}

// fieldManagers returns the managers whose fieldsV1 hold the field at path, e.g.
// "f:spec", "f:replicas".
func fieldManagers(entries []metav1.ManagedFieldsEntry, path ...string) []string {
	var out []string
	for _, e := range entries {
		if e.FieldsV1 == nil {
			continue
		}
		fields := map[string]any{}
		if err := json.Unmarshal(e.FieldsV1.GetRawBytes(), &fields); err != nil {
			continue
		}
		var cur any = fields
		for _, p := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[p]
		}
		if cur != nil {
			out = append(out, e.Manager)
		}
	}
	slices.Sort(out)
	return out
}
