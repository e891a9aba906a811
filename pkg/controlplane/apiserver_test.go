//go:build envtest

package controlplane_test

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestRenderedObjectsAreAccepted creates every golden case's objects in a real
// kube-apiserver, so its validation (selectors matching labels, probe ports naming container
// ports, PodDisruptionBudget and StatefulSet fields) judges the chart, not only our tests.
// It needs the envtest binaries, which `make test` builds; it fails, never skips, without them.
func TestRenderedObjectsAreAccepted(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, which builds kube-apiserver and etcd for this test")
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, gc := range goldenCases {
		t.Run(gc.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlplane.NamespaceOf(gc.tc)}}
			if err := c.Create(ctx, ns); err != nil {
				t.Fatalf("create namespace: %v", err)
			}
			for _, obj := range renderCase(t, gc.tc, gc.in) {
				if err := c.Create(ctx, obj); err != nil {
					t.Errorf("%s %s refused: %v", obj.GetKind(), obj.GetName(), err)
				}
			}
		})
	}
}
