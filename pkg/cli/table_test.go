package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

var now = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

func pool(ns, name, cluster string, replicas *int32, ready int32) v1alpha1.WorkerPool {
	return v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.WorkerPoolSpec{ClusterName: cluster, Replicas: replicas},
		Status:     v1alpha1.WorkerPoolStatus{ReadyReplicas: ready},
	}
}

func TestWorkersByTenant(t *testing.T) {
	pools := []v1alpha1.WorkerPool{
		pool("p1", "a-1", "acme", ptr.To[int32](3), 2),
		pool("p1", "a-2", "acme", nil, 1), // replicas defaults to 1
		pool("p1", "g-1", "globex", ptr.To[int32](0), 0),
		pool("p2", "a-1", "acme", ptr.To[int32](5), 5), // same tenant name, other namespace
	}
	got := workersByTenant(pools)
	for key, want := range map[types.NamespacedName]string{
		{Namespace: "p1", Name: "acme"}:   "3/4",
		{Namespace: "p1", Name: "globex"}: "0/0",
		{Namespace: "p2", Name: "acme"}:   "5/5",
		{Namespace: "p3", Name: "acme"}:   "0/0", // no pool at all
	} {
		if s := got[key].String(); s != want {
			t.Errorf("%s: workers %s, want %s", key, s, want)
		}
	}
	if got[types.NamespacedName{Namespace: "p1", Name: "acme"}].pools != 2 {
		t.Errorf("p1/acme has 2 pools: %+v", got)
	}
}

func tenant(name string, phase v1alpha1.TenantClusterPhase, conds ...metav1.Condition) v1alpha1.TenantCluster {
	tc := v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "p1", Name: name, CreationTimestamp: metav1.NewTime(now.Add(-90 * time.Minute))},
		Spec: v1alpha1.TenantClusterSpec{
			Version:  "v1.36.3",
			Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort},
		},
		Status: v1alpha1.TenantClusterStatus{Phase: phase, Conditions: conds},
	}
	if phase == v1alpha1.TenantClusterReady || phase == v1alpha1.TenantClusterDegraded {
		tc.Status.Version, tc.Status.Endpoint = "v1.36.3", "https://192.0.2.10:31443"
	}
	return tc
}

func cond(t string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}
}

func TestPrintTenants(t *testing.T) {
	tcs := func() []v1alpha1.TenantCluster {
		return []v1alpha1.TenantCluster{
			tenant("acme", v1alpha1.TenantClusterReady, cond("Ready", "True", "Available", "")),
			tenant("globex", v1alpha1.TenantClusterProvisioning,
				cond("CertificatesReady", "False", "WaitingForCertificates", "3 of 14"),
				cond("Ready", "False", "ComponentsNotReady", "..."),
				cond("EtcdAvailable", "False", "Progressing", "")),
		}
	}
	pools := []v1alpha1.WorkerPool{pool("p1", "acme-a", "acme", ptr.To[int32](3), 2)}
	for _, c := range []struct {
		name   string
		opts   getOptions
		single bool
		want   string
	}{{
		name: "table",
		want: `NAME     PHASE          VERSION   ENDPOINT                   WORKERS   AGE
acme     Ready          v1.36.3   https://192.0.2.10:31443   2/3       90m
globex   Provisioning   <none>    <none>                     0/0       90m
`,
	}, {
		name: "wide, every namespace",
		opts: getOptions{output: "wide", allNamespaces: true},
		want: `NAMESPACE   NAME     PHASE          VERSION   ENDPOINT                   WORKERS   AGE   SPEC VERSION   ENDPOINT TYPE   POOLS   NOT READY
p1          acme     Ready          v1.36.3   https://192.0.2.10:31443   2/3       90m   v1.36.3        NodePort        1       <none>
p1          globex   Provisioning   <none>    <none>                     0/0       90m   v1.36.3        NodePort        0       CertificatesReady,EtcdAvailable,Ready
`,
	}, {
		name: "no headers",
		opts: getOptions{noHeaders: true},
		want: `acme     Ready          v1.36.3   https://192.0.2.10:31443   2/3   90m
globex   Provisioning   <none>    <none>                     0/0   90m
`,
	}, {
		name: "name",
		opts: getOptions{output: "name"},
		want: "tenantcluster.kubeseed.io/acme\ntenantcluster.kubeseed.io/globex\n",
	}} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printTenants(&out, &c.opts, tcs(), pools, c.single, now); err != nil {
				t.Fatal(err)
			}
			if out.String() != c.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), c.want)
			}
		})
	}
}

func TestPrintTenantsYAMLAndJSON(t *testing.T) {
	tcs := []v1alpha1.TenantCluster{tenant("acme", v1alpha1.TenantClusterReady)}
	tcs[0].ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubeseed"}}
	for _, c := range []struct {
		output string
		single bool
		kind   string
	}{{"yaml", true, "TenantCluster"}, {"yaml", false, "List"}, {"json", true, "TenantCluster"}, {"json", false, "List"}} {
		var out bytes.Buffer
		if err := printTenants(&out, &getOptions{output: c.output}, tcs, nil, c.single, now); err != nil {
			t.Fatal(err)
		}
		var obj struct {
			APIVersion, Kind string
			Metadata         metav1.ObjectMeta
			Items            []struct{ APIVersion, Kind string }
		}
		if err := yaml.Unmarshal(out.Bytes(), &obj); err != nil {
			t.Fatalf("-o %s: %v\n%s", c.output, err, out.String())
		}
		if obj.Kind != c.kind {
			t.Errorf("-o %s single=%v: kind %q, want %q", c.output, c.single, obj.Kind, c.kind)
		}
		if c.kind == "List" && (len(obj.Items) != 1 || obj.Items[0].Kind != "TenantCluster" || obj.Items[0].APIVersion != "kubeseed.io/v1alpha1") {
			t.Errorf("-o %s: items %+v", c.output, obj.Items)
		}
		if strings.Contains(out.String(), "managedFields") {
			t.Errorf("-o %s prints managedFields, kubectl does not:\n%s", c.output, out.String())
		}
	}
}

func TestParseNames(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		err  string
	}{
		{args: nil, want: ""},
		{args: []string{"acme"}, want: "acme"},
		{args: []string{"tc", "acme", "globex"}, want: "acme,globex"},
		{args: []string{"tenants"}, want: ""},
		{args: []string{"TenantClusters.kubeseed.io", "acme"}, want: "acme"},
		{args: []string{"tc/acme", "tenant/globex"}, want: "acme,globex"},
		{args: []string{"tc", "tc"}, want: "tc"},
		{args: []string{"pod/acme"}, err: "only knows TenantClusters"},
		{args: []string{"tc/"}, err: "empty name"},
	} {
		got, err := parseNames(c.args)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseNames(%q) error %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("parseNames(%q) = %q, %v; want %q", c.args, got, err, c.want)
		}
	}
}

func TestNotTrue(t *testing.T) {
	got := notTrue([]metav1.Condition{
		cond("Ready", "False", "ComponentsNotReady", ""),
		cond("EtcdAvailable", "True", "Available", ""),
		cond("AddonsReady", "False", "WaitingForNodes", ""),
		cond("SchedulerAvailable", "Unknown", "Progressing", ""),
	})
	if strings.Join(got, ",") != "AddonsReady,SchedulerAvailable,Ready" {
		t.Errorf("notTrue = %v", got)
	}
}
