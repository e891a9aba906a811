package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// workers sums a tenant's WorkerPools.
type workers struct {
	pools, ready, desired int32
}

func (w workers) String() string { return fmt.Sprintf("%d/%d", w.ready, w.desired) }

// workersByTenant sums the WorkerPools of each tenant: a pool belongs to the TenantCluster
// named by its spec.clusterName, in its own namespace. Ready is status.readyReplicas,
// desired spec.replicas (1 when unset, the API's default).
func workersByTenant(pools []v1alpha1.WorkerPool) map[types.NamespacedName]workers {
	out := map[types.NamespacedName]workers{}
	for _, p := range pools {
		key := types.NamespacedName{Namespace: p.Namespace, Name: p.Spec.ClusterName}
		w := out[key]
		w.pools++
		w.ready += p.Status.ReadyReplicas
		if p.Spec.Replicas != nil {
			w.desired += *p.Spec.Replicas
		} else {
			w.desired++
		}
		out[key] = w
	}
	return out
}

// tenantColumns are the columns of `kubeseed get`; Priority 1 ones show with -o wide.
var tenantColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "metadata.name"},
	{Name: "Phase", Type: "string", Description: "status.phase"},
	{Name: "Version", Type: "string", Description: "status.version: the version every component runs"},
	{Name: "Endpoint", Type: "string", Description: "status.endpoint"},
	{Name: "Workers", Type: "string", Description: "ready/desired servers, summed over the tenant's WorkerPools"},
	{Name: "Age", Type: "string", Description: "since metadata.creationTimestamp"},
	{Name: "Spec Version", Type: "string", Priority: 1, Description: "spec.version: the version asked for"},
	{Name: "Endpoint Type", Type: "string", Priority: 1, Description: "spec.endpoint.type"},
	{Name: "Pools", Type: "integer", Priority: 1, Description: "WorkerPools of the tenant"},
	{Name: "Not Ready", Type: "string", Priority: 1, Description: "conditions that are not True"},
}

// tenantTable is the table `kubeseed get` prints, one row per TenantCluster, in order.
func tenantTable(tcs []v1alpha1.TenantCluster, byTenant map[types.NamespacedName]workers, now time.Time) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: tenantColumns}
	for i := range tcs {
		tc := &tcs[i]
		w := byTenant[types.NamespacedName{Namespace: tc.Namespace, Name: tc.Name}]
		t.Rows = append(t.Rows, metav1.TableRow{
			Cells: []any{
				tc.Name, orNone(string(tc.Status.Phase)), orNone(tc.Status.Version), orNone(tc.Status.Endpoint),
				w.String(), age(tc.CreationTimestamp, now),
				orNone(tc.Spec.Version), orNone(string(tc.Spec.Endpoint.Type)), int64(w.pools), orNone(strings.Join(notTrue(tc.Status.Conditions), ",")),
			},
			Object: runtime.RawExtension{Object: tc},
		})
	}
	return t
}

// notTrue lists the types of the conditions that are not True, Ready last.
func notTrue(conds []metav1.Condition) []string {
	var out []string
	for _, c := range conds {
		if c.Status != metav1.ConditionTrue && c.Type != v1alpha1.ReadyCondition {
			out = append(out, c.Type)
		}
	}
	if c := meta.FindStatusCondition(conds, v1alpha1.ReadyCondition); c != nil && c.Status != metav1.ConditionTrue {
		out = append(out, c.Type)
	}
	return out
}

// sortTenants orders tenants by namespace, then name, as kubectl lists them.
func sortTenants(tcs []v1alpha1.TenantCluster) {
	slices.SortFunc(tcs, func(a, b v1alpha1.TenantCluster) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// age is kubectl's AGE: a short human duration since t.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}
