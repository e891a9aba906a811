package reconcileutil

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestPatchStatus: no write for an unchanged status, one patch and the transitions for a
// changed one, and a gone object is no error. The API server is controller-runtime's fake
// client here: what is checked is which calls are made.
func TestPatchStatus(t *testing.T) {
	earlier := errors.New("reconcile failed")
	for _, c := range []struct {
		name        string
		exists      bool
		unchanged   bool
		reterr      error
		wantErr     error
		wantPhase   corev1.PodPhase
		transitions bool
	}{
		{name: "unchanged: no write", exists: true, unchanged: true, wantPhase: corev1.PodPending},
		{name: "changed: patched, transitions recorded", exists: true, wantPhase: corev1.PodRunning, transitions: true},
		{name: "the reconcile's error is kept", exists: true, reterr: earlier, wantErr: earlier, wantPhase: corev1.PodRunning, transitions: true},
		{name: "gone: no error, no transitions"},
	} {
		t.Run(c.name, func(t *testing.T) {
			stored := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
			b := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithStatusSubresource(&corev1.Pod{})
			if c.exists {
				b = b.WithObjects(stored.DeepCopy())
			}
			cl := b.Build()
			before := stored.DeepCopy()
			if c.exists {
				if err := cl.Get(context.Background(), key(stored), before); err != nil {
					t.Fatal(err)
				}
			}
			after := before.DeepCopy()
			after.Status.Phase = corev1.PodRunning
			called := false
			err := PatchStatus(context.Background(), cl, before, after, c.unchanged, c.reterr, func() { called = true })
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if called != c.transitions {
				t.Errorf("transitions recorded: %t, want %t", called, c.transitions)
			}
			if c.exists {
				got := &corev1.Pod{}
				if err := cl.Get(context.Background(), key(stored), got); err != nil {
					t.Fatal(err)
				}
				if got.Status.Phase != c.wantPhase {
					t.Errorf("stored phase %s, want %s", got.Status.Phase, c.wantPhase)
				}
			}
		})
	}
}

func key(p *corev1.Pod) ctrlclient.ObjectKey { return ctrlclient.ObjectKeyFromObject(p) }
