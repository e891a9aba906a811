package etcd_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeseed/kubeseed/pkg/etcd"
)

// TestDataLostInARealCorruptMember damages a real etcd's data directory the ways a disk
// does, starts etcd on it again, and checks that etcd's last words are read as lost data
// (the member is then replaced from the others, docs/tenantcluster.md) — and that an
// undamaged directory's restart is not. The signatures in DataLostIn are etcd's, not ours.
func TestDataLostInARealCorruptMember(t *testing.T) {
	bin := etcdBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	m := &testMember{name: "etcd-0", client: freePort(t), peer: freePort(t), metrics: freePort(t)}
	if err := m.start(bin, dir, pki, m.name+"="+m.peerURL(), "new"); err != nil {
		t.Fatal(err)
	}
	cli, err := etcd.Dial(ctx, etcd.Config{Endpoints: []string{m.clientURL()}, CA: pki.ca, Cert: pki.clientCert, Key: pki.clientKey})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, "the member is ready", func() bool { return m.ready() })
	value := string(bytes.Repeat([]byte("v"), 3000))
	for i := range 300 { // pages well past the meta pages, and a WAL of some length
		if _, err := cli.KV().Put(ctx, fmt.Sprintf("/registry/configmaps/drill/cm-%03d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	_ = cli.Close()
	m.stop(t)
	pristine := filepath.Join(dir, m.name)
	const page = 4096 // bbolt's page size here: pages 0 and 1 are its two meta pages

	for _, c := range []struct {
		name   string
		damage func(db, wal string) error
		lost   bool
	}{
		{"undamaged", func(_, _ string) error { return nil }, false},
		{"both meta pages zeroed", func(db, _ string) error { return overwrite(db, 0, make([]byte, 2*page)) }, true},
		// One byte inside each meta page's body: magic and version hold, the checksum not.
		{"both meta pages' checksums wrong", func(db, _ string) error {
			if err := overwrite(db, 60, []byte{0x77}); err != nil {
				return err
			}
			return overwrite(db, page+60, []byte{0x77})
		}, true},
		{"data pages zeroed", func(db, _ string) error { return overwrite(db, 2*page, make([]byte, 1000*page)) }, true},
		{"database truncated", func(db, _ string) error { return os.Truncate(db, 4*page) }, true},
		{"a write-ahead log record overwritten", func(_, wal string) error {
			return overwrite(wal, 3000, bytes.Repeat([]byte{0xff}, 16))
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			restarted := t.TempDir()
			data := filepath.Join(restarted, m.name)
			if out, err := exec.Command("cp", "-a", pristine, data).CombinedOutput(); err != nil {
				t.Fatalf("copy the data directory: %v: %s", err, out)
			}
			wals, _ := filepath.Glob(filepath.Join(data, "member", "wal", "*.wal"))
			if len(wals) == 0 {
				t.Fatal("no write-ahead log in the data directory")
			}
			if err := c.damage(filepath.Join(data, "member", "snap", "db"), wals[0]); err != nil {
				t.Fatal(err)
			}
			words, exited := restartOn(t, bin, restarted, pki, *m)
			if exited == !c.lost {
				t.Fatalf("etcd exited: %v, want %v; its log:\n%s", exited, c.lost, tail(words, 20))
			}
			if got := etcd.DataLostIn(tail(words, 300)); got != c.lost {
				t.Errorf("DataLostIn = %v, want %v; etcd's last words:\n%s", got, c.lost, tail(words, 20))
			}
		})
	}
}

// restartOn starts etcd as the member again on the data directory dir/<member>, as a
// restarted pod does, and returns its log once it exited or has run for 5 seconds (then it
// is stopped).
func restartOn(t *testing.T, bin, dir string, p *testPKI, m testMember) (string, bool) {
	t.Helper()
	if err := m.start(bin, dir, p, m.name+"="+m.peerURL(), "new"); err != nil {
		t.Fatal(err)
	}
	exited := true
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		exited = false
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	b, _ := os.ReadFile(m.log)
	return string(b), exited
}

// overwrite writes b into the file at off, as a failing disk does.
func overwrite(path string, off int64, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, off); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
