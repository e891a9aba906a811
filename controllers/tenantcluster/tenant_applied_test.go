package tenantcluster

import (
	"crypto/sha256"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// TestTenantAppliedSendsASettledTenantNothing: a part applied once is applied again only
// when rendered anew, when it was not healthy, after the drift period, or after a failure.
func TestTenantAppliedSendsASettledTenantNothing(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	one, two := sha256.Sum256([]byte("one")), sha256.Sum256([]byte("two"))
	for _, tt := range []struct {
		name    string
		prepare func(a *tenantApplied)
		sum     [sha256.Size]byte
		healthy bool
		at      time.Time
		want    bool
	}{
		{name: "never applied", sum: one, healthy: true, at: t0, want: true},
		{name: "applied, same render, healthy", prepare: applied(one, t0), sum: one, healthy: true, at: t0.Add(time.Minute), want: false},
		{name: "rendered anew", prepare: applied(one, t0), sum: two, healthy: true, at: t0.Add(time.Minute), want: true},
		{name: "not healthy when last observed", prepare: applied(one, t0), sum: one, healthy: false, at: t0.Add(time.Minute), want: true},
		{name: "within the drift period, jitter included", prepare: applied(one, t0), sum: one, healthy: true, at: t0.Add(tenantDriftPeriod * 94 / 100), want: false},
		{name: "drift period over, jitter included", prepare: applied(one, t0), sum: one, healthy: true, at: t0.Add(tenantDriftPeriod * 106 / 100), want: true},
		{name: "the last apply failed", prepare: func(a *tenantApplied) { applied(one, t0)(a); a.failed("u", tenantPartAddons) }, sum: one, healthy: true, at: t0, want: true},
		{name: "another part's apply counts not", prepare: func(a *tenantApplied) { a.done("u", tenantPartBootstrap, one, t0) }, sum: one, healthy: true, at: t0, want: true},
		{name: "the tenant forgotten", prepare: func(a *tenantApplied) { applied(one, t0)(a); a.forget("u") }, sum: one, healthy: true, at: t0, want: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &tenantApplied{}
			if tt.prepare != nil {
				tt.prepare(a)
			}
			if got := a.due("u", tenantPartAddons, tt.sum, tt.healthy, tt.at); got != tt.want {
				t.Errorf("due = %v, want %v", got, tt.want)
			}
		})
	}
}

func applied(sum [sha256.Size]byte, at time.Time) func(*tenantApplied) {
	return func(a *tenantApplied) { a.done("u", tenantPartAddons, sum, at) }
}

// TestTenantSumChangesWithARestore: a restore puts the backup's objects back; what the
// manager applied since is applied again though rendered the same.
func TestTenantSumChangesWithARestore(t *testing.T) {
	objs := []map[string]string{{"kind": "ConfigMap", "name": "a"}}
	tc := &v1alpha1.TenantCluster{}
	before, err := tenantSum(tc, objs)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := tenantSum(tc, []map[string]string{{"name": "a", "kind": "ConfigMap"}})
	if again != before {
		t.Error("the same objects digest differently")
	}
	tc.Status.Restore = &v1alpha1.RestoreStatus{Backup: "b-1", CompletedTime: &metav1.Time{Time: time.Now()}}
	if after, _ := tenantSum(tc, objs); after == before {
		t.Error("a restore leaves the digest as it was: the restored tenant would keep the backup's objects for a drift period")
	}
}
