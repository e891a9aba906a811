package apply_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kubeseed/kubeseed/pkg/apply"
)

// These tests script the client: they check ApplyUnowned's own decisions (what it refuses,
// lists, deletes, and which errors it keeps) apart from the server's, which the envtest
// tests cover.

const addonKey = "kubeseed.io/addon"

var (
	cmGVK   = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	roleGVK = schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}
	secGVK  = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
)

// scripted records every call of its client and answers as told.
type scripted struct {
	applyErr  map[string]error                          // by object name
	listed    map[string][]metav1.PartialObjectMetadata // by list kind, e.g. "ConfigMapList"
	listErr   map[string]error                          // by list kind
	deleteErr map[string]error                          // by object name
	calls     []string                                  // "apply ns/name", "list Kind selector", "delete Kind ns/name"
	applied   []*unstructured.Unstructured
}

func (s *scripted) client() client.Client {
	return interceptor.NewClient(fake.NewClientBuilder().Build(), interceptor.Funcs{
		Apply: func(_ context.Context, _ client.WithWatch, obj runtime.ApplyConfiguration, _ ...client.ApplyOption) error {
			u := obj.(interface{ UnstructuredContent() map[string]any }).UnstructuredContent()
			o := (&unstructured.Unstructured{Object: u}).DeepCopy()
			s.applied = append(s.applied, o)
			s.calls = append(s.calls, "apply "+ref(o))
			return s.applyErr[o.GetName()]
		},
		List: func(_ context.Context, _ client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			kind := list.GetObjectKind().GroupVersionKind().Kind
			lo := &client.ListOptions{}
			lo.ApplyOptions(opts)
			s.calls = append(s.calls, "list "+kind+" "+lo.LabelSelector.String()+" in "+lo.Namespace)
			if err := s.listErr[kind]; err != nil {
				return err
			}
			list.(*metav1.PartialObjectMetadataList).Items = slices.Clone(s.listed[kind])
			return nil
		},
		Delete: func(_ context.Context, _ client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			do := &client.DeleteOptions{}
			do.ApplyOptions(opts)
			call := "delete " + obj.GetObjectKind().GroupVersionKind().Kind + " " + ref(obj)
			if do.Preconditions == nil || do.Preconditions.UID == nil || *do.Preconditions.UID != obj.GetUID() {
				call += " without its UID as precondition"
			}
			s.calls = append(s.calls, call)
			return s.deleteErr[obj.GetName()]
		},
	})
}

func ref(o metav1.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

func obj(gvk schema.GroupVersionKind, ns, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(labels)
	return u
}

func live(ns, name string, terminating bool) metav1.PartialObjectMetadata {
	m := metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)}}
	if terminating {
		m.DeletionTimestamp = &metav1.Time{}
	}
	return m
}

func addon(v string) map[string]string { return map[string]string{addonKey: v} }

func TestApplyUnownedRefusesBeforeWriting(t *testing.T) {
	kinds := []schema.GroupVersionKind{cmGVK, roleGVK}
	good := obj(cmGVK, "kube-system", "good", addon("coredns"))
	noKind := obj(schema.GroupVersionKind{}, "kube-system", "nokind", addon("x"))
	cases := []struct {
		name    string
		a       *apply.Applier // nil: a client and a field owner
		inv     *apply.Inventory
		bad     *unstructured.Unstructured
		wantErr string
	}{
		{name: "no client", a: &apply.Applier{FieldOwner: "kubeseed"}, wantErr: "no client"},
		{name: "no field owner", a: &apply.Applier{Client: (&scripted{}).client()}, wantErr: "no field owner"},
		{name: "bad label key", inv: &apply.Inventory{LabelKey: "not a key", PruneKinds: kinds}, wantErr: "inventory label"},
		{name: "bad label value", inv: &apply.Inventory{LabelKey: addonKey, LabelValue: "not a value", PruneKinds: kinds}, wantErr: "inventory label"},
		{name: "prune kind without version", inv: &apply.Inventory{LabelKey: addonKey, PruneKinds: []schema.GroupVersionKind{{Kind: "ConfigMap"}}}, wantErr: "needs a version and a kind"},
		{name: "nil object", wantErr: "object 1 is nil"},
		{name: "no kind", bad: noKind, wantErr: "object 1 (nokind) has no apiVersion or kind"},
		{name: "no name", bad: obj(cmGVK, "kube-system", "", addon("x")), wantErr: "object 1 (ConfigMap) has no name"},
		{name: "twice", bad: good.DeepCopy(), wantErr: "ConfigMap kube-system/good appears twice"},
		{name: "kind not prunable", bad: obj(secGVK, "kube-system", "s", addon("x")), wantErr: "Secret kube-system/s: kind Secret is not in the inventory's prune kinds"},
		{name: "no inventory label", bad: obj(roleGVK, "", "r", nil), wantErr: "ClusterRole.rbac.authorization.k8s.io r has no label " + addonKey},
		{name: "no kind without inventory", inv: nil, bad: noKind, wantErr: "has no apiVersion or kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &scripted{}
			a := c.a
			if a == nil {
				a = &apply.Applier{Client: s.client(), FieldOwner: "kubeseed"}
			}
			inv := c.inv
			if inv == nil && !strings.HasSuffix(c.name, "without inventory") {
				inv = &apply.Inventory{LabelKey: addonKey, PruneKinds: kinds}
			}
			_, err := a.ApplyUnowned(context.Background(), inv, []*unstructured.Unstructured{good, c.bad})
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %v, want one containing %q", err, c.wantErr)
			}
			if len(s.calls) > 0 {
				t.Errorf("a refused set still called the API: %q", s.calls)
			}
		})
	}
}

// TestApplyUnownedPrunes: what is applied, listed and deleted, and which errors come back.
func TestApplyUnownedPrunes(t *testing.T) {
	kinds := []schema.GroupVersionKind{cmGVK, roleGVK, secGVK}
	set := func() []*unstructured.Unstructured {
		return []*unstructured.Unstructured{obj(cmGVK, "kube-system", "a", addon("coredns")), obj(roleGVK, "", "r", addon("kube-proxy"))}
	}
	// Labelled objects in the tenant: one kept, stale ones, one already terminating, one
	// deleted meanwhile (NotFound), one re-created meanwhile (the UID precondition's
	// Conflict), one the delete is refused for.
	listed := map[string][]metav1.PartialObjectMetadata{
		"ConfigMapList": {
			live("kube-system", "a", false), live("kube-system", "stale", false), live("default", "stale", false),
			live("kube-system", "terminating", true), live("kube-system", "raced", false),
			live("kube-system", "replaced", false), live("kube-system", "stuck", false),
		},
		"ClusterRoleList": {live("", "r", false), live("", "old", false)},
	}
	deleteErr := map[string]error{
		"raced":    apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "raced"),
		"replaced": apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "replaced", errors.New("UID precondition")),
		"stuck":    apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "stuck", errors.New("no")),
	}
	deletes := []string{
		"delete ClusterRole old",
		"delete ConfigMap default/stale", "delete ConfigMap kube-system/raced", "delete ConfigMap kube-system/replaced",
		"delete ConfigMap kube-system/stale", "delete ConfigMap kube-system/stuck",
	}
	pruned := []string{"ClusterRole.rbac.authorization.k8s.io old", "ConfigMap default/stale", "ConfigMap kube-system/stale"}
	lists := func(selector string) []string {
		return []string{"list ConfigMapList " + selector + " in ", "list ClusterRoleList " + selector + " in ", "list SecretList " + selector + " in "}
	}
	applies := []string{"apply kube-system/a", "apply r"}
	cases := []struct {
		name       string
		inv        *apply.Inventory
		applyErr   map[string]error
		listErr    map[string]error
		wantCalls  []string
		wantPruned []string
		wantErr    []string // substrings; none: no error but the refused delete's
		wantLabel  string   // the value of example.com/inventory on every applied object
	}{
		{
			name:      "no inventory: apply only",
			wantCalls: applies,
		},
		{
			name:       "the key alone: any value, every namespace; one kind's or object's error spares the others",
			inv:        &apply.Inventory{LabelKey: addonKey, PruneKinds: kinds},
			listErr:    map[string]error{"SecretList": errors.New("secrets unavailable")},
			wantCalls:  slices.Concat(applies, lists(addonKey), deletes),
			wantPruned: pruned,
			wantErr:    []string{"list Secret labelled " + addonKey + ": secrets unavailable", "prune ConfigMap kube-system/stuck"},
		},
		{
			name:       "a value: stamped and selected",
			inv:        &apply.Inventory{LabelKey: "example.com/inventory", LabelValue: "tenant-1", PruneKinds: kinds},
			wantCalls:  slices.Concat(applies, lists("example.com/inventory=tenant-1"), deletes),
			wantPruned: pruned,
			wantErr:    []string{"prune ConfigMap kube-system/stuck"},
			wantLabel:  "tenant-1",
		},
		{
			name:      "a failed apply: the rest applied, nothing listed or pruned",
			inv:       &apply.Inventory{LabelKey: addonKey, PruneKinds: kinds},
			applyErr:  map[string]error{"a": errors.New("admission says no")},
			wantCalls: applies,
			wantErr:   []string{"apply ConfigMap kube-system/a: admission says no"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &scripted{applyErr: c.applyErr, listErr: c.listErr, listed: listed, deleteErr: deleteErr}
			a := &apply.Applier{Client: s.client(), FieldOwner: "kubeseed"}
			objs := set()
			got, err := a.ApplyUnowned(context.Background(), c.inv, objs)
			if len(c.wantErr) == 0 && err != nil {
				t.Errorf("error %v", err)
			}
			for _, w := range c.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want one containing %q", err, w)
				}
			}
			for _, gone := range []string{"raced", "replaced"} {
				if err != nil && strings.Contains(err.Error(), gone) {
					t.Errorf("error %v names %s, which is gone already", err, gone)
				}
			}
			if !slices.Equal(s.calls, c.wantCalls) {
				t.Errorf("calls\n%q\nwant\n%q", s.calls, c.wantCalls)
			}
			if !slices.Equal(got, c.wantPruned) {
				t.Errorf("pruned %q, want %q", got, c.wantPruned)
			}
			for i, o := range s.applied {
				if got := o.GetLabels()["example.com/inventory"]; got != c.wantLabel {
					t.Errorf("applied %s has inventory label %q, want %q", o.GetName(), got, c.wantLabel)
				}
				if !maps.Equal(objs[i].GetLabels(), set()[i].GetLabels()) {
					t.Errorf("ApplyUnowned modified the caller's %s", o.GetName())
				}
				if len(o.GetOwnerReferences()) > 0 {
					t.Errorf("applied %s has owner references", o.GetName())
				}
			}
		})
	}
}

func TestToUnstructured(t *testing.T) {
	typed := func() *appsv1.Deployment {
		return &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "coredns"},
			Status:     appsv1.DeploymentStatus{Replicas: 2},
		}
	}
	withStatus := obj(cmGVK, "kube-system", "u", nil)
	withStatus.Object["status"] = map[string]any{"x": "y"}
	cases := []struct {
		name    string
		in      client.Object
		wantErr string
	}{
		{name: "typed", in: typed()},
		{name: "unstructured, kept as given", in: withStatus},
		{name: "no kind", in: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bare"}}, wantErr: "*v1.ConfigMap bare: apiVersion and kind are not set"},
		{name: "nil", in: nil, wantErr: "object 0 is nil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := apply.ToUnstructured(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil || len(out) != 1 {
				t.Fatalf("ToUnstructured = %d objects, %v", len(out), err)
			}
			u := out[0]
			if u.GroupVersionKind() != c.in.GetObjectKind().GroupVersionKind() || u.GetName() != c.in.GetName() || u.GetNamespace() != c.in.GetNamespace() {
				t.Errorf("converted %s %s/%s", u.GroupVersionKind(), u.GetNamespace(), u.GetName())
			}
			if _, ok := u.Object["status"]; ok {
				t.Errorf("status kept: %v", u.Object["status"])
			}
			if _, ok := u.Object["metadata"].(map[string]any)["creationTimestamp"]; ok {
				t.Errorf("creationTimestamp kept: %v", u.Object["metadata"])
			}
		})
	}
	if _, ok := withStatus.Object["status"]; !ok {
		t.Errorf("ToUnstructured modified its input")
	}
	if _, err := apply.ToUnstructured(&corev1.Secret{}, &corev1.ConfigMap{}); err == nil || strings.Count(err.Error(), "not set") != 2 {
		t.Errorf("two bad objects: error %v, want both named", err)
	}
}
