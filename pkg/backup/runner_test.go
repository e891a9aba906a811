package backup_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// gated streams its snapshot once release is closed.
type gated struct {
	snap
	release chan struct{}
}

func (g gated) Snapshot(ctx context.Context) (io.ReadCloser, etcd.SnapshotInfo, error) {
	<-g.release
	return g.snap.Snapshot(ctx)
}

func TestRunnerRunsOneBackupPerTenantAndKeepsItsResult(t *testing.T) {
	done := make(chan string, 4)
	r := &backup.Runner{Workers: 1, Done: func(k string) { done <- k }}
	f := openstack.NewFake()
	g := gated{snap: snap{db: bytes.Repeat([]byte("x"), 1000), rev: 7}, release: make(chan struct{})}
	j := job(f, g, time.Now())
	if !r.Submit("ns/acme", j) {
		t.Fatal("first submit refused")
	}
	if r.Submit("ns/acme", j) {
		t.Error("a second backup of one tenant started while one runs")
	}
	if _, _, running := r.State("ns/acme"); !running {
		t.Error("not running")
	}
	close(g.release)
	select {
	case k := <-done:
		if k != "ns/acme" {
			t.Errorf("done for %s", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10 s")
	}
	res, ok, running := r.State("ns/acme")
	if !ok || running || res.Err != nil || res.Manifest.Revision != 7 {
		t.Errorf("result %+v %v, running %v", res, ok, running)
	}
	r.Forget("ns/acme")
	if _, ok, _ := r.State("ns/acme"); ok {
		t.Error("forgotten result still there")
	}
}
