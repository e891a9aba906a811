//go:build envtest

package certmanager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// These tests run Ensure against a real kube-apiserver (envtest). envtest runs no pods: a
// goroutine plays the Deployment controller (it marks cert-manager's Deployments available)
// and the webhook (it removes the webhook configurations, which would point the API at a
// Service nothing serves).

// newSeed starts an apiserver of the test's own, stopped when the test ends.
func newSeed(t *testing.T) client.Client {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run these tests with `make test`, which builds kube-apiserver and etcd offline")
	}
	e := &envtest.Environment{}
	cfg, err := e.Start()
	if err != nil {
		t.Fatalf("envtest: %v", err)
	}
	t.Cleanup(func() { _ = e.Stop() })
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = apiextensionsv1.AddToScheme(s)
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// playControllers makes cert-manager's Deployments in ns available and removes its webhook
// configurations until the test ends.
func playControllers(t *testing.T, c client.Client, ns string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		_ = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			deps := &appsv1.DeploymentList{}
			if err := c.List(ctx, deps, client.InNamespace(ns)); err == nil {
				for i := range deps.Items {
					markAvailable(ctx, c, &deps.Items[i])
				}
			}
			_ = c.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "cert-manager-webhook"}})
			_ = c.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "cert-manager-webhook"}})
			return false, nil
		})
	}()
}

func markAvailable(ctx context.Context, c client.Client, d *appsv1.Deployment) {
	r := ptr.Deref(d.Spec.Replicas, 1)
	if DeploymentAvailable(d) {
		return
	}
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r,
	}
	_ = c.Status().Update(ctx, d)
}

func logf(t *testing.T) func(string, ...any) {
	return func(format string, args ...any) { t.Logf(format, args...) }
}

// TestEnsure walks one seed through every case, in order: a foreign cert-manager with
// pieces missing, one of another version, one not available; then kubeseed's own install
// of an older release, its upgrade, a run that changes nothing, and a refused downgrade.
func TestEnsure(t *testing.T) {
	c := newSeed(t)
	ctx := context.Background()
	opts := func(src Source, version string) Options {
		return Options{Source: src, Version: version, Timeout: time.Minute, Interval: 100 * time.Millisecond, Logf: logf(t)}
	}

	t.Run("nothing there, and a version the embedded chart is not", func(t *testing.T) {
		_, err := Ensure(ctx, c, opts(Source{}, "v1.22.0"))
		want := fmt.Sprintf("cert-manager v1.22.0 is wanted but the embedded chart (cert-manager %s) holds %s: give its manifest, e.g. --cert-manager-manifest=%s",
			EmbeddedVersion, EmbeddedVersion, UpstreamManifestURL("v1.22.0"))
		if err == nil || err.Error() != want {
			t.Errorf("err = %v\nwant  %s", err, want)
		}
	})

	// A foreign install: upstream's CRDs, applied by someone else.
	objs, err := RenderChart(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("helm"), client.ForceOwnership); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("CRDs without a controller are refused", func(t *testing.T) {
		_, err := Ensure(ctx, c, opts(Source{}, ""))
		if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "--skip-cert-manager") {
			t.Fatalf("err = %v, want ErrIncomplete", err)
		}
		if err := c.Get(ctx, client.ObjectKey{Name: Namespace}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
			t.Errorf("a refused Ensure created namespace %s: %v", Namespace, err)
		}
	})

	foreign := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "my-cert-manager", Labels: map[string]string{
			LabelName: NameValue, LabelComponent: ControllerComponent,
		}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cm"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cm"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "controller", Image: "quay.io/jetstack/cert-manager-controller:v1.19.0"}}},
			},
		},
	}
	if err := c.Create(ctx, foreign, client.FieldOwner("helm")); err != nil {
		t.Fatal(err)
	}

	t.Run("a foreign cert-manager that is not available is waited for, in vain", func(t *testing.T) {
		o := opts(Source{}, "v1.19.0")
		o.Timeout = 500 * time.Millisecond
		_, err := Ensure(ctx, c, o)
		if !errors.Is(err, ErrNotAvailable) || !strings.Contains(err.Error(), "kubectl -n default describe deployment my-cert-manager") {
			t.Fatalf("err = %v, want ErrNotAvailable naming the Deployment", err)
		}
	})
	markAvailable(ctx, c, foreign)

	t.Run("a foreign cert-manager of another version is refused, untouched", func(t *testing.T) {
		_, err := Ensure(ctx, c, opts(Source{}, ""))
		if !errors.Is(err, ErrVersionMismatch) {
			t.Fatalf("err = %v, want ErrVersionMismatch", err)
		}
		for _, part := range []string{"cert-manager v1.19.0 runs in the seed (Deployment default/my-cert-manager)", EmbeddedVersion + " is wanted", "did not install it", "--cert-manager-version=v1.19.0"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%q lacks %q", err, part)
			}
		}
		got := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(foreign), got); err != nil || got.Generation != 1 {
			t.Errorf("the foreign Deployment changed: generation %d, %v", got.Generation, err)
		}
	})

	t.Run("a foreign cert-manager of the wanted version is used as it is", func(t *testing.T) {
		res, err := Ensure(ctx, c, opts(Source{}, "v1.19.0"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != Unchanged || res.Version != "v1.19.0" || res.Controller != "default/my-cert-manager" || res.Ours {
			t.Errorf("result %+v", res)
		}
	})

	// kubeseed's own install starts from an empty seed of its own. Deleting cert-manager's
	// CRDs from this one to clear it sometimes left the envtest apiserver's requests for
	// them hanging for minutes, which is not what this test is about.
	c = newSeed(t)
	playControllers(t, c, Namespace)

	t.Run("nothing there: install an older release from its manifest", func(t *testing.T) {
		res, err := Ensure(ctx, c, opts(Source{Manifest: manifestOf(t, "v1.20.0")}, ""))
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != Installed || res.Version != "v1.20.0" || res.Controller != "cert-manager/cert-manager" || !res.Ours {
			t.Errorf("result %+v", res)
		}
		inst, err := Detect(ctx, c)
		if err != nil || !inst.Ours || inst.Version != "v1.20.0" || len(inst.MissingCRDs) > 0 || !inst.Available {
			t.Errorf("detected %+v, %v", inst, err)
		}
	})

	t.Run("kubeseed's own older install is upgraded", func(t *testing.T) {
		res, err := Ensure(ctx, c, opts(Source{}, ""))
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != Upgraded || res.Previous != "v1.20.0" || res.Version != EmbeddedVersion {
			t.Errorf("result %+v", res)
		}
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: "cert-manager-webhook"}, d); err != nil {
			t.Fatal(err)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "quay.io/jetstack/cert-manager-webhook:"+EmbeddedVersion {
			t.Errorf("webhook image %s", img)
		}
	})

	t.Run("a second run changes nothing", func(t *testing.T) {
		before := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: "cert-manager"}, before); err != nil {
			t.Fatal(err)
		}
		res, err := Ensure(ctx, c, opts(Source{}, ""))
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != Unchanged || !res.Ours || res.Version != EmbeddedVersion {
			t.Errorf("result %+v", res)
		}
		after := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(before), after); err != nil || after.Generation != before.Generation {
			t.Errorf("the controller Deployment changed: generation %d → %d (%v)", before.Generation, after.Generation, err)
		}
	})

	t.Run("no downgrade, even of kubeseed's own", func(t *testing.T) {
		_, err := Ensure(ctx, c, opts(Source{Manifest: manifestOf(t, "v1.20.0")}, ""))
		if !errors.Is(err, ErrVersionMismatch) || !strings.Contains(err.Error(), "does not downgrade") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("a newer version than the embedded chart needs its manifest", func(t *testing.T) {
		_, err := Ensure(ctx, c, opts(Source{}, "v1.22.0"))
		if err == nil || !strings.Contains(err.Error(), "give its manifest, e.g. --cert-manager-manifest="+UpstreamManifestURL("v1.22.0")) {
			t.Fatalf("err = %v", err)
		}
	})
}
