package tenantcluster

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// tenantDriftPeriod is how long a tenant's bootstrap objects and addons, rendered the same
// and last seen healthy, go without being applied again (jittered by a tenth, so tenants
// created together do not all apply together). Nothing in the seed tells the manager what
// someone changes inside a tenant: an edit to a ConfigMap or Role kubeseed applied is undone
// within this long. An addon that stops being ready is applied again at the next requeue.
const tenantDriftPeriod = 10 * time.Minute

// tenantApplied remembers, per tenant and part ("bootstrap", "addons"), what was last
// applied inside the tenant: the steady reconcile of a settled tenant sends it nothing.
type tenantApplied struct{ m sync.Map } // tenantPart -> appliedSet

type tenantPart struct {
	uid  types.UID
	part string
}

type appliedSet struct {
	sum  [sha256.Size]byte
	next time.Time // apply again from then on, whatever the sum
}

// due says whether the part must be applied: rendered anew (the sum differs from the last
// apply's), not healthy as last observed, or the drift period over.
func (a *tenantApplied) due(uid types.UID, part string, sum [sha256.Size]byte, healthy bool, now time.Time) bool {
	v, ok := a.m.Load(tenantPart{uid, part})
	if !ok || !healthy {
		return true
	}
	last := v.(appliedSet)
	return last.sum != sum || !now.Before(last.next)
}

// done records a successful apply of the part.
func (a *tenantApplied) done(uid types.UID, part string, sum [sha256.Size]byte, now time.Time) {
	jitter := time.Duration(rand.Int64N(int64(tenantDriftPeriod / 10)))
	a.m.Store(tenantPart{uid, part}, appliedSet{sum: sum, next: now.Add(tenantDriftPeriod - tenantDriftPeriod/20 + jitter)})
}

// failed forgets the part, so that the next reconcile applies it.
func (a *tenantApplied) failed(uid types.UID, part string) { a.m.Delete(tenantPart{uid, part}) }

func (a *tenantApplied) forget(uid types.UID) {
	for _, part := range []string{tenantPartBootstrap, tenantPartAddons} {
		a.m.Delete(tenantPart{uid, part})
	}
}

const (
	tenantPartBootstrap = "bootstrap"
	tenantPartAddons    = "addons"
)

// tenantSum digests what is applied inside a tenant, and which etcd data it goes to: a
// restore puts back the objects of the backup's time, which are applied anew.
func tenantSum[T any](tc *v1alpha1.TenantCluster, objs []T) ([sha256.Size]byte, error) {
	h := sha256.New()
	if r := tc.Status.Restore; r != nil {
		fmt.Fprintf(h, "restore %s %v\n", r.Backup, r.CompletedTime)
	}
	for _, o := range objs {
		raw, err := json.Marshal(o) // encoding/json orders map keys
		if err != nil {
			return [sha256.Size]byte{}, fmt.Errorf("digest tenant objects: %w", err)
		}
		h.Write(raw)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum, nil
}
