//go:build envtest

package apply_test

import (
	"context"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/pkg/apply"
)

// sendCounter counts the server-side applies sent through it.
type sendCounter struct {
	client.Client
	sent atomic.Int32
}

func (c *sendCounter) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.sent.Add(1)
	return c.Client.Apply(ctx, obj, opts...)
}

// TestApplySendsOnlyWhatMayChange: an object nobody wrote since its last apply, rendered the
// same, is not sent again; any write to it by anyone (an edit, a deletion), a new rendering
// or a new Applier (a restarted manager) sends it, and the edit is undone.
func TestApplySendsOnlyWhatMayChange(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	owner := newOwner(t, ns, "owner")
	counter := &sendCounter{Client: k8sClient}
	a := &apply.Applier{Client: counter, APIReader: k8sClient, FieldOwner: fieldOwner}
	set := func(web string) []*unstructured.Unstructured {
		return []*unstructured.Unstructured{
			configMap(ns, "a", map[string]string{"k": "a"}), configMap(ns, "b", map[string]string{"k": "b"}),
			service("", "web"), deployment(ns, "api", web),
		}
	}
	steps := []struct {
		name     string
		before   func(t *testing.T)
		applier  *apply.Applier
		objs     []*unstructured.Unstructured
		wantSent int32
	}{
		{name: "first apply sends every object", objs: set("pause:1"), wantSent: 4},
		{name: "nothing written since: nothing sent", objs: set("pause:1"), wantSent: 0},
		{name: "an edit by someone else: that object is sent, and undone", objs: set("pause:1"), wantSent: 1, before: func(t *testing.T) {
			cm := &corev1.ConfigMap{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, cm); err != nil {
				t.Fatal(err)
			}
			cm.Data["k"] = "edited"
			if err := k8sClient.Update(ctx, cm); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a deletion: that object is sent again", objs: set("pause:1"), wantSent: 1, before: func(t *testing.T) {
			if err := k8sClient.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b"}}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a new rendering of one object: that one is sent", objs: set("pause:2"), wantSent: 1},
		{name: "a new Applier remembers nothing: every object is sent once", objs: set("pause:2"), wantSent: 4,
			applier: &apply.Applier{Client: counter, APIReader: k8sClient, FieldOwner: fieldOwner}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.before != nil {
				step.before(t)
			}
			ap := a
			if step.applier != nil {
				ap = step.applier
			}
			counter.sent.Store(0)
			if _, err := ap.Apply(ctx, owner, inventoryOf(owner), step.objs); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got := counter.sent.Load(); got != step.wantSent {
				t.Errorf("sent %d applies, want %d", got, step.wantSent)
			}
			for _, obj := range step.objs {
				assertManaged(t, owner, obj)
			}
			cm := &corev1.ConfigMap{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, cm); err != nil || cm.Data["k"] != "a" {
				t.Errorf("ConfigMap a holds %v (%v), want k=a as applied", cm.Data, err)
			}
		})
	}
}
