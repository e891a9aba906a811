package testenv

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"
)

// SpecFuzzer drives fuzzed specs through the real apiserver and a running controller. Each
// input is either refused at admission with a message that names a field, or accepted and
// then reconciled without a panic, a TerminalError or a status the Check refuses, settles,
// and once settled reconciles at most MaxPerMinute times a minute; deleting it then
// completes. The controller must be the only one reconciling Kind meanwhile: the counts
// come from controller-runtime's metrics, per controller.
type SpecFuzzer struct {
	Client     client.Client
	GVK        schema.GroupVersionKind
	Namespace  string
	Controller string // the controller's name in controller-runtime's metrics
	// Check refuses a settled object's status, e.g. a condition that says the controller
	// found the spec invalid (admission should have).
	Check func(*unstructured.Unstructured) error
	// MaxPerMinute bounds reconciles of a settled object: more is a hot loop.
	MaxPerMinute int

	isolated bool
}

const (
	fuzzSettleQuiet = 3 * time.Second  // no status change for this long: settled
	fuzzSettleMax   = 45 * time.Second // an object that never settles is a hot loop
	fuzzWindow      = 5 * time.Second  // reconciles are counted over this window
)

// Run takes one input: a YAML or JSON object for .spec.
func (f *SpecFuzzer) Run(t *testing.T, input []byte) {
	t.Helper()
	if !f.isolated {
		f.isolate(t)
	}
	spec := map[string]any{}
	if err := yaml.Unmarshal(input, &spec); err != nil || len(spec) == 0 {
		return // not a spec: nothing for the apiserver to judge
	}
	ctx := context.Background()
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(f.GVK)
	u.SetNamespace(f.Namespace)
	u.SetGenerateName("fuzz-")
	before := f.counts(t)
	if err := f.Client.Create(ctx, u); err != nil {
		if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
			t.Fatalf("spec %s: create failed without a verdict on the input: %v", input, err)
		}
		if !namesAField(err) {
			t.Fatalf("spec %s: refused with a message that names no field: %v", input, err)
		}
		return
	}
	defer f.remove(t, u)
	if err := f.settle(ctx, u); err != nil {
		t.Fatalf("spec %s: %v; status %v", input, err, u.Object["status"])
	}
	if f.Check != nil {
		if err := f.Check(u); err != nil {
			t.Fatalf("spec %s was admitted, but: %v", input, err)
		}
	}
	mid := f.counts(t)
	if mid.reconciles == before.reconciles {
		t.Fatalf("no reconcile of controller %q was counted: is that its name?", f.Controller)
	}
	if n := mid.panics - before.panics; n > 0 {
		t.Fatalf("spec %s: %v reconcile panics", input, n)
	}
	if n := mid.terminal - before.terminal; n > 0 {
		t.Fatalf("spec %s: %v TerminalErrors: the controller refused what admission accepted", input, n)
	}
	time.Sleep(fuzzWindow)
	after := f.counts(t)
	if n := after.reconciles - mid.reconciles; n*float64(time.Minute)/float64(fuzzWindow) > float64(f.MaxPerMinute) {
		by := map[string]float64{}
		for k, v := range after.byResult {
			if d := v - mid.byResult[k]; d > 0 {
				by[k] = d
			}
		}
		t.Fatalf("spec %s: %v reconciles in %s once settled (%v): more than %d a minute", input, n, fuzzWindow, by, f.MaxPerMinute)
	}
}

// isolate deletes every object of the kind, once: the counts are the controller's, so the
// objects other tests of the package left (the corpus runs after them) must be gone.
func (f *SpecFuzzer) isolate(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(f.GVK.GroupVersion().WithKind(f.GVK.Kind + "List"))
	if err := f.Client.List(ctx, list); err != nil {
		t.Fatalf("list %s: %v", f.GVK.Kind, err)
	}
	for i := range list.Items {
		f.remove(t, &list.Items[i])
	}
	f.isolated = true
}

// namesAField says whether a refusal names a field of the spec: a cause's field, or a
// path such as spec.controlPlane.etcd.replicas in the message.
func namesAField(err error) bool {
	var se *apierrors.StatusError
	if errors.As(err, &se) && se.ErrStatus.Details != nil {
		for _, c := range se.ErrStatus.Details.Causes {
			if strings.HasPrefix(c.Field, "spec.") || c.Field == "spec" {
				return true
			}
		}
	}
	return fieldPath.MatchString(err.Error())
}

var fieldPath = regexp.MustCompile(`\bspec(\.[A-Za-z][A-Za-z0-9]*(\[[^\]]*\])?)+`)

// settle waits for the controller to have observed the object's generation and for its
// status to stop changing.
func (f *SpecFuzzer) settle(ctx context.Context, u *unstructured.Unstructured) error {
	lastRV, since := "", time.Now()
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, fuzzSettleMax, true, func(ctx context.Context) (bool, error) {
		if err := f.Client.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return false, err
		}
		if u.GetResourceVersion() != lastRV {
			lastRV, since = u.GetResourceVersion(), time.Now()
			return false, nil
		}
		observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		return observed == u.GetGeneration() && time.Since(since) >= fuzzSettleQuiet, nil
	})
	if err != nil {
		return fmt.Errorf("did not settle within %s (status observed and unchanged for %s): %w", fuzzSettleMax, fuzzSettleQuiet, err)
	}
	return nil
}

// remove deletes the object and waits for its finalizers: nothing may be left stuck.
func (f *SpecFuzzer) remove(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	if err := f.Client.Delete(ctx, u); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete %s: %v", u.GetName(), err)
	}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(f.Client.Get(ctx, client.ObjectKeyFromObject(u), &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": f.GVK.GroupVersion().String(), "kind": f.GVK.Kind,
		}})), nil
	})
	if err != nil {
		t.Fatalf("%s %s still exists a minute after delete", f.GVK.Kind, u.GetName())
	}
}

type fuzzCounts struct {
	reconciles, panics, terminal float64
	byResult                     map[string]float64 // reconciles by result: success, error, requeue_after, ...
}

// counts reads the controller's counters from controller-runtime's registry.
func (f *SpecFuzzer) counts(t *testing.T) fuzzCounts {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather controller metrics: %v", err)
	}
	c := fuzzCounts{byResult: map[string]float64{}}
	for _, fam := range families {
		var into *float64
		switch fam.GetName() {
		case "controller_runtime_reconcile_total":
			into = &c.reconciles
		case "controller_runtime_reconcile_panics_total":
			into = &c.panics
		case "controller_runtime_terminal_reconcile_errors_total":
			into = &c.terminal
		default:
			continue
		}
		for _, m := range fam.GetMetric() {
			if labelOf(m, "controller") == f.Controller {
				*into += m.GetCounter().GetValue()
				if into == &c.reconciles {
					c.byResult[labelOf(m, "result")] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return c
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
