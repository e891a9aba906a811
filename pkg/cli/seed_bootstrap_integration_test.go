//go:build envtest

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeseed/kubeseed/pkg/cli/certmanager"
	"github.com/kubeseed/kubeseed/pkg/install"
)

// playDeploymentController stands in for kube-controller-manager in the given namespaces
// until the test ends: each Deployment gets a ReplicaSet of its current template (Helm's
// wait looks for it) and every replica is reported ready. cert-manager's webhook
// configurations are removed: nothing serves the webhook in envtest.
func playDeploymentController(t *testing.T, c client.Client, namespaces ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		_ = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			for _, ns := range namespaces {
				deps := &appsv1.DeploymentList{}
				if err := c.List(ctx, deps, client.InNamespace(ns)); err != nil {
					continue
				}
				for i := range deps.Items {
					rollOut(ctx, c, &deps.Items[i])
				}
			}
			_ = c.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "cert-manager-webhook"}})
			_ = c.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "cert-manager-webhook"}})
			return false, nil
		})
	}()
}

func rollOut(ctx context.Context, c client.Client, d *appsv1.Deployment) {
	raw, _ := json.Marshal(d.Spec.Template)
	h := fnv.New32a()
	_, _ = h.Write(raw)
	hash := fmt.Sprintf("%08x", h.Sum32())
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name + "-" + hash}}
	if err := c.Get(ctx, client.ObjectKeyFromObject(rs), rs); apierrors.IsNotFound(err) {
		template := d.Spec.Template.DeepCopy()
		template.Labels = maps.Clone(template.Labels)
		template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		selector := d.Spec.Selector.DeepCopy()
		selector.MatchLabels = maps.Clone(selector.MatchLabels)
		selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		rs.Labels = template.Labels
		rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}
		rs.Spec = appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Selector: selector, Template: *template}
		if err := c.Create(ctx, rs); err != nil {
			return
		}
	} else if err != nil {
		return
	}
	if rs.Status.ReadyReplicas != replicas {
		rs.Status = appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas, FullyLabeledReplicas: replicas, ObservedGeneration: rs.Generation}
		_ = c.Status().Update(ctx, rs)
	}
	if d.Status.ObservedGeneration != d.Generation || d.Status.AvailableReplicas != replicas {
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas}
		_ = c.Status().Update(ctx, d)
	}
}

// TestSeedBootstrap installs cert-manager from the embedded chart and the operator from its
// chart into the envtest seed, then runs again, unchanged, then changes a value.
func TestSeedBootstrap(t *testing.T) {
	c := seed(t)
	ctx := context.Background()
	playDeploymentController(t, c, "cert-manager", install.DefaultNamespace)

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"--skip-cert-manager", "--cert-manager-version", "v1.21.2"},
			{"--cert-manager-manifest", "cm.yaml", "--cert-manager-set", "replicaCount=2"},
			{"--image", "kubeseed/manager"},
			{"--set", "novalue"},
			{"extra"},
		} {
			if code, _, errOut := kubeseed(t, append([]string{"seed", "bootstrap"}, args...)...); code != ExitUsage {
				t.Errorf("%v: exit %d, %q", args, code, errOut)
			}
		}
	})

	managerGeneration := func() int64 {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: install.DefaultNamespace, Name: "kubeseed-manager"}, d); err != nil {
			t.Fatal(err)
		}
		return d.Generation
	}
	var generation int64
	for _, run := range []struct {
		name string
		args []string
		want []string
	}{{
		name: "first run installs both",
		want: []string{
			"cert-manager " + certmanager.EmbeddedVersion + ": installed (Deployment cert-manager/cert-manager)\n",
			"kubeseed operator (chart kubeseed-0.1.0): installed (release kubeseed in namespace kubeseed-system, revision 1)\n",
		},
	}, {
		name: "second run changes nothing",
		want: []string{
			"cert-manager " + certmanager.EmbeddedVersion + ": unchanged (Deployment cert-manager/cert-manager is available, installed by kubeseed)\n",
			"kubeseed operator (chart kubeseed-0.1.0): unchanged (release kubeseed in namespace kubeseed-system, revision 2)\n",
		},
	}, {
		name: "a new value upgrades the operator",
		args: []string{"--set", "manager.logLevel=debug"},
		want: []string{"kubeseed operator (chart kubeseed-0.1.0): upgraded from revision 2 (release kubeseed in namespace kubeseed-system, revision 3)\n"},
	}} {
		t.Run(run.name, func(t *testing.T) {
			code, out, errOut := kubeseed(t, append([]string{"seed", "bootstrap", "--timeout", "1m"}, run.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
			}
			t.Logf("stdout:\n%sstderr:\n%s", out, errOut)
			for _, want := range run.want {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			switch g := managerGeneration(); {
			case generation == 0:
			case len(run.args) == 0 && g != generation:
				t.Errorf("an unchanged run changed the manager Deployment: generation %d → %d", generation, g)
			case len(run.args) > 0 && g == generation:
				t.Errorf("a new value did not reach the manager Deployment")
			}
			generation = managerGeneration()
		})
	}

	t.Run("a cert-manager of another version is refused", func(t *testing.T) {
		code, _, errOut := kubeseed(t, "seed", "bootstrap", "--cert-manager-version", "v1.19.0", "--timeout", "10s")
		if code != ExitError || !strings.Contains(errOut, "does not downgrade cert-manager") {
			t.Errorf("exit %d, %q", code, errOut)
		}
	})
}
