package cli

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

func TestParseFor(t *testing.T) {
	for _, c := range []struct {
		in   string
		want waitFor
		err  bool
	}{
		{in: "Ready", want: waitFor{condition: "Ready", status: "True"}},
		{in: "condition=AddonsReady", want: waitFor{condition: "AddonsReady", status: "True"}},
		{in: "condition=Ready=false", want: waitFor{condition: "Ready", status: "False"}},
		{in: "condition=Ready=Unknown", want: waitFor{condition: "Ready", status: "Unknown"}},
		{in: "delete", want: waitFor{deleted: true}},
		{in: "condition=Ready=maybe", err: true},
		{in: "", err: true},
		{in: "jsonpath={.status.phase}", err: true},
	} {
		got, err := parseFor(c.in)
		if (err != nil) != c.err || (err == nil && got != c.want) {
			t.Errorf("parseFor(%q) = %+v, %v", c.in, got, err)
		}
		if err != nil && !errors.As(err, new(*UsageError)) {
			t.Errorf("parseFor(%q): %v is not a usage error", c.in, err)
		}
	}
}

func TestConditionMet(t *testing.T) {
	tc := tenant("acme", v1alpha1.TenantClusterReady)
	tc.Generation = 3
	ready := func(status metav1.ConditionStatus, gen int64) []metav1.Condition {
		c := cond("Ready", status, "Available", "")
		c.ObservedGeneration = gen
		return []metav1.Condition{c}
	}
	for _, c := range []struct {
		name  string
		conds []metav1.Condition
		what  waitFor
		met   bool
	}{
		{"Ready for this generation", ready("True", 3), waitFor{condition: "Ready", status: "True"}, true},
		{"Ready for an older spec", ready("True", 2), waitFor{condition: "Ready", status: "True"}, false},
		{"no observedGeneration", ready("True", 0), waitFor{condition: "Ready", status: "True"}, true},
		{"not Ready", ready("False", 3), waitFor{condition: "Ready", status: "True"}, false},
		{"waiting for False", ready("False", 3), waitFor{condition: "Ready", status: "False"}, true},
		{"no such condition", ready("True", 3), waitFor{condition: "AddonsReady", status: "True"}, false},
	} {
		tc.Status.Conditions = c.conds
		if got := conditionMet(&tc, c.what); got != c.met {
			t.Errorf("%s: met %v, want %v", c.name, got, c.met)
		}
	}
}

func TestProgressLineAndTimeoutError(t *testing.T) {
	tc := tenant("acme", v1alpha1.TenantClusterProvisioning,
		cond("Ready", "False", "ComponentsNotReady", "..."),
		cond("EndpointReady", "True", "Available", "published"),
		cond("SchedulerAvailable", "False", "WaitingForDependency", "waiting for the kube-apiserver to answer"),
		cond("APIServerAvailable", "False", "Progressing", "Deployment acme-kube-apiserver: 0 of 1\nreplicas available"))
	tc.Generation, tc.Status.ObservedGeneration = 2, 1
	want := `Provisioning (the controller has not seen the latest spec yet)
        APIServerAvailable=False Progressing: Deployment acme-kube-apiserver: 0 of 1 replicas available
        SchedulerAvailable=False WaitingForDependency: waiting for the kube-apiserver to answer`
	if got := progressLine(&tc, waitFor{condition: "Ready", status: "True"}); got != want {
		t.Errorf("progress line\n%s\nwant\n%s", got, want)
	}

	w := &waiter{key: client.ObjectKey{Namespace: "p1", Name: "acme"}, what: waitFor{condition: "Ready", status: "True"}, total: 5 * time.Minute}
	err := w.timeoutError(&tc)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("%v is not ErrWaitTimeout", err)
	}
	for _, part := range []string{
		"timed out after 5m0s waiting for TenantCluster p1/acme to be Ready: phase Provisioning",
		"not yet: APIServerAvailable=False (Progressing: Deployment acme-kube-apiserver: 0 of 1 replicas available), SchedulerAvailable=False (WaitingForDependency",
		"(kubeseed describe acme -n p1)",
	} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("%q lacks %q", err, part)
		}
	}
	if err := w.timeoutError(nil); !strings.Contains(err.Error(), "waiting for TenantCluster p1/acme to be Ready") {
		t.Errorf("timeout before the first read: %v", err)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 41*time.Second + 400*time.Millisecond: "41s", 2*time.Minute + 5*time.Second: "2m05s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

func TestSplitImage(t *testing.T) {
	cases := []struct{ ref, repo, tag, err string }{
		{ref: "kubeseed/manager:dev", repo: "kubeseed/manager", tag: "dev"},
		{ref: "registry.local:5000/kubeseed/manager:v1", repo: "registry.local:5000/kubeseed/manager", tag: "v1"},
		{ref: "registry.local:5000/kubeseed/manager", err: "has no tag"},
		{ref: "manager:", err: "want repository:tag"},
	}
	for _, c := range cases {
		repo, tag, err := splitImage(c.ref)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("splitImage(%q) error = %v, want %q", c.ref, err, c.err)
			}
			continue
		}
		if err != nil || repo != c.repo || tag != c.tag {
			t.Errorf("splitImage(%q) = %q, %q, %v; want %q, %q", c.ref, repo, tag, err, c.repo, c.tag)
		}
	}
}

func TestParseSets(t *testing.T) {
	got, err := parseSets("--set", []string{"manager.logLevel=debug", `podAnnotations.kubeseed\.io/image-id=abc`, "replicas=2"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[manager:map[logLevel:debug] podAnnotations:map[kubeseed.io/image-id:abc] replicas:2]" {
		t.Errorf("values %v", got)
	}
	if _, err := parseSets("--set", []string{"a.b"}); err == nil || !errors.As(err, new(*UsageError)) || !strings.Contains(err.Error(), "--set a.b") {
		t.Errorf("a value without = : %v", err)
	}
}

func TestReleaseAction(t *testing.T) {
	crds := func(data string) *chart.Chart {
		return &chart.Chart{Metadata: &chart.Metadata{Name: "kubeseed"}, Files: []*chart.File{{Name: "crds/a.yaml", Data: []byte(data)}}}
	}
	rel := func(version int, status release.Status, manifest, crd string) *release.Release {
		return &release.Release{Version: version, Manifest: manifest, Info: &release.Info{Status: status}, Chart: crds(crd)}
	}
	now := rel(4, release.StatusDeployed, "m1", "c1")
	for _, c := range []struct {
		name string
		prev *release.Release
		want string
	}{
		{"first install", nil, "installed"},
		{"same objects and CRDs", rel(3, release.StatusDeployed, "m1", "c1"), "unchanged"},
		{"other objects", rel(3, release.StatusDeployed, "m0", "c1"), "upgraded from revision 3"},
		{"other CRDs", rel(3, release.StatusDeployed, "m1", "c0"), "upgraded from revision 3"},
		{"a failed release before", rel(3, release.StatusFailed, "m1", "c1"), "upgraded from revision 3"},
	} {
		if got := releaseAction(c.prev, now); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestPrintError(t *testing.T) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "kubeseed.io", Resource: "tenantclusters"}, "acme")
	for _, c := range []struct {
		err  error
		want string
	}{
		{notFound, `Error from server (NotFound): tenantclusters.kubeseed.io "acme" not found` + "\n"},
		{fmt.Errorf("the admin kubeconfig Secret: %w", notFound), `error: the admin kubeconfig Secret: tenantclusters.kubeseed.io "acme" not found` + "\n"},
		{errors.New("boom"), "error: boom\n"},
	} {
		var out bytes.Buffer
		printError(&out, c.err)
		if out.String() != c.want {
			t.Errorf("printError(%v) = %q, want %q", c.err, out.String(), c.want)
		}
	}
}

func TestMissing(t *testing.T) {
	base := []metav1.Condition{
		cond("EndpointReady", "True", "Available", ""),
		cond("SchedulerAvailable", "False", "Progressing", ""),
		cond("AddonsReady", "False", "WaitingForNodes", ""),
		cond("TunnelReady", "True", "Available", ""),
	}
	ready := func(status metav1.ConditionStatus, reason string) []metav1.Condition {
		return append(slices.Clone(base), cond("Ready", status, reason, ""))
	}
	for _, c := range []struct {
		name  string
		conds []metav1.Condition
		what  waitFor
		want  string
	}{
		{"Ready: the components only", ready("False", "ComponentsNotReady"), waitFor{condition: "Ready", status: "True"}, "SchedulerAvailable"},
		{"AddonsReady: awaited, so listed", ready("False", "ComponentsNotReady"), waitFor{condition: "AddonsReady", status: "True"}, "SchedulerAvailable,AddonsReady"},
		{"an invalid spec holds Ready", ready("False", "InvalidSpec"), waitFor{condition: "Ready", status: "True"}, "SchedulerAvailable,Ready"},
		{"paused", ready("Unknown", "Paused"), waitFor{condition: "Ready", status: "True"}, "SchedulerAvailable,Ready"},
		{"waiting for Ready=False", ready("True", "Available"), waitFor{condition: "Ready", status: "False"}, "SchedulerAvailable,Ready"},
		{"TunnelReady met", ready("True", "Available"), waitFor{condition: "TunnelReady", status: "True"}, "SchedulerAvailable"},
	} {
		tc := tenant("acme", v1alpha1.TenantClusterProvisioning, c.conds...)
		var got []string
		for _, m := range missing(&tc, c.what) {
			got = append(got, m.Type)
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("%s: %v, want %s", c.name, got, c.want)
		}
	}
}
