package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

var testBackupKey = bytes.Repeat([]byte{7}, backup.KeySize)

// testSnap streams db with etcd's SHA-256 trailer, as etcd.Snapshotter does.
type testSnap struct {
	db  []byte
	rev int64
}

func (s testSnap) Snapshot(context.Context) (io.ReadCloser, etcd.SnapshotInfo, error) {
	return io.NopCloser(bytes.NewReader(withTrailer(s.db))), etcd.SnapshotInfo{Revision: s.rev, Version: "3.6.16"}, nil
}

func withTrailer(db []byte) []byte {
	sum := sha256.Sum256(db)
	return append(append([]byte{}, db...), sum[:]...)
}

// testKeys are the Secrets a backup holds, as the controller gives them to backup.Run.
var testKeys = map[string]map[string][]byte{
	"acme-ca":                {"tls.crt": []byte("ca cert"), "tls.key": []byte("ca key"), "ca.crt": []byte("ca cert")},
	"acme-encryption-config": {"config.yaml": []byte("kind: EncryptionConfiguration\n")},
}

// backupFixture is a tenant whose backups backup.Run wrote into a fake Swift, one an hour
// from 04:00, each of a database db plus its number.
func backupFixture(t *testing.T, db []byte, count int) (*backupSource, *openstack.Fake, []string) {
	t.Helper()
	f := openstack.NewFake()
	t0 := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	var names []string
	for i := range count {
		at := t0.Add(time.Duration(i) * time.Hour)
		res := backup.Run(context.Background(), backup.Job{
			Etcd: testSnap{db: append(append([]byte{}, db...), byte(i)), rev: int64(100 + i)}, Store: f, Container: "kubeseed-backups",
			Prefix: "ns/acme/", Key: testBackupKey, KeyID: backup.KeySecretName("uid-1"), Keys: testKeys,
			Tenant: "ns/acme", TenantUID: "uid-1", KubernetesVersion: "v1.36.3", Keep: 10, Now: func() time.Time { return at },
		})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		names = append(names, res.Manifest.Name)
	}
	tc := &v1alpha1.TenantCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "acme", UID: "uid-1"}}
	tc.Status.Backup = &v1alpha1.EtcdBackupStatus{LastBackup: "ns/acme/" + names[len(names)-1]}
	return &backupSource{tc: tc, container: "kubeseed-backups", prefix: "ns/acme/", store: f}, f, names
}

func TestBackupDownloadRoundTrips(t *testing.T) {
	big := bytes.Repeat([]byte("etcd page "), 30000) // several 64 KiB chunks
	for _, tc := range []struct {
		name, want string
		db         []byte
		pick       int // index of the backup that must be chosen
		// tenantUID, when set, is the TenantCluster's now: the backups are of uid-1.
		tenantUID string
	}{
		{name: "newest by default", db: []byte("small database"), pick: 2},
		{name: "several chunks", db: big, pick: 2},
		{name: "by name", db: big, want: "20261206T050000Z", pick: 1},
		{name: "by status.backup.lastBackup's prefix", db: big, want: "ns/acme/20261206T040000Z", pick: 0},
		{name: "of an earlier tenant of this name", db: []byte("small database"), pick: 2, tenantUID: "uid-new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src, _, names := backupFixture(t, tc.db, 3)
			if tc.tenantUID != "" {
				src.tc.UID = types.UID(tc.tenantUID)
			}
			l, err := listBackups(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			b, err := chooseBackup(src, l, tc.want)
			if err != nil || b.Name != names[tc.pick] {
				t.Fatalf("chose %q, %v; want %s", b.Name, err, names[tc.pick])
			}
			dir := filepath.Join(t.TempDir(), "out")
			res, err := downloadBackup(ctx, src, b, testBackupKey, dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "snapshot.db"))
			if want := withTrailer(append(append([]byte{}, tc.db...), byte(tc.pick))); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("snapshot.db: %d bytes, %v; want %d bytes, the database and its trailer", len(got), err, len(want))
			}
			var m backup.Manifest
			if raw, err := os.ReadFile(filepath.Join(dir, "manifest.json")); err != nil || json.Unmarshal(raw, &m) != nil || m != b.Manifest {
				t.Errorf("manifest.json: %+v, %v", m, err)
			}
			for name, data := range testKeys {
				raw, err := os.ReadFile(filepath.Join(dir, "keys", name+".yaml"))
				if err != nil {
					t.Fatal(err)
				}
				var sec corev1.Secret
				if err := yaml.UnmarshalStrict(raw, &sec); err != nil {
					t.Fatal(err)
				}
				if sec.Kind != "Secret" || sec.Name != name || sec.Namespace != "ns" || sec.UID != "" || sec.ResourceVersion != "" || len(sec.Data) != len(data) {
					t.Errorf("%s.yaml:\n%s", name, raw)
				}
				for k, v := range data {
					if !bytes.Equal(sec.Data[k], v) {
						t.Errorf("%s.yaml key %s = %q, want %q", name, k, sec.Data[k], v)
					}
				}
				if strings.Contains(string(raw), "creationTimestamp") {
					t.Errorf("%s.yaml has a creationTimestamp:\n%s", name, raw)
				}
			}
			checkPerm(t, dir, 0o700)
			checkPerm(t, filepath.Join(dir, "keys"), 0o700)
			for _, f := range append([]string{res.snapshot, res.manifest}, res.keys...) {
				checkPerm(t, f, 0o600)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".snapshot*")); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
			var out bytes.Buffer
			printDownload(&out, src, res)
			for _, want := range []string{
				"Backup " + b.Name + " of TenantCluster ns/acme (etcd revision ",
				dir + "/keys/acme-ca.yaml\n",
				"etcdutl snapshot restore " + dir + "/snapshot.db --bump-revision 1000000000 --mark-compacted --data-dir " + dir + "/etcd-data\n",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("printed output lacks %q:\n%s", want, out.String())
				}
			}
			if earlier := strings.Contains(out.String(), "taken of an earlier TenantCluster of this name, UID uid-1; this one's is uid-new"); earlier != (tc.tenantUID != "") {
				t.Errorf("printed output says an earlier tenant's: %v\n%s", earlier, out.String())
			}
		})
	}
}

func checkPerm(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s has mode %o, want %o", path, fi.Mode().Perm(), want)
	}
}

func TestBackupDownloadFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prepare damages the fixture or the directory; want is the backup --backup names.
		prepare func(t *testing.T, f *openstack.Fake, names []string, dir string)
		want    string
		key     []byte
		// errParts are in the error; chose is what is downloaded when no error is wanted.
		errParts []string
		chose    int
	}{
		{
			name: "wrong key", key: bytes.Repeat([]byte{8}, backup.KeySize),
			errParts: []string{"backup 20261206T060000Z: ", backup.ErrManifestMAC.Error(), "Secret backup-key-uid-1"},
		},
		{
			name: "damaged snapshot",
			prepare: func(t *testing.T, f *openstack.Fake, names []string, _ string) {
				damage(t, f, "ns/acme/"+names[2]+"/snapshot.enc")
			},
			errParts: []string{"decrypt ns/acme/20261206T060000Z/snapshot.enc: ", backup.ErrCorrupt.Error()},
		},
		{
			name: "the newest has no manifest: the one before is chosen",
			prepare: func(t *testing.T, f *openstack.Fake, names []string, _ string) {
				deleteObject(t, f, "ns/acme/"+names[2]+"/manifest.json")
			},
			chose: 1,
		},
		{
			name: "one without a manifest cannot be asked for", want: "20261206T060000Z",
			prepare: func(t *testing.T, f *openstack.Fake, names []string, _ string) {
				deleteObject(t, f, "ns/acme/"+names[2]+"/manifest.json")
			},
			errParts: []string{"backup 20261206T060000Z of TenantCluster ns/acme cannot be downloaded: incomplete: no manifest.json"},
		},
		{
			name: "no complete backup",
			prepare: func(t *testing.T, f *openstack.Fake, names []string, _ string) {
				for _, n := range names {
					deleteObject(t, f, "ns/acme/"+n+"/manifest.json")
				}
			},
			errParts: []string{"TenantCluster ns/acme has no complete backup in Swift container kubeseed-backups (incomplete or unreadable: 20261206T060000Z, 20261206T050000Z, 20261206T040000Z)"},
		},
		{
			name: "unknown --backup", want: "20250101T000000Z",
			errParts: []string{`TenantCluster ns/acme has no backup "20250101T000000Z" in Swift container kubeseed-backups: its complete backups, newest first: 20261206T060000Z, 20261206T050000Z, 20261206T040000Z`},
		},
		{
			name: "existing files are refused, each named",
			prepare: func(t *testing.T, _ *openstack.Fake, _ []string, dir string) {
				for _, p := range []string{"snapshot.db", "keys/acme-ca.yaml"} {
					if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o700); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, p), []byte("mine"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			},
			errParts: []string{"refusing to overwrite ", "/snapshot.db, ", "/keys/acme-ca.yaml: remove them or give another --dir"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src, f, names := backupFixture(t, []byte("database"), 3)
			dir := filepath.Join(t.TempDir(), "out")
			if tc.prepare != nil {
				tc.prepare(t, f, names, dir)
			}
			key := tc.key
			if key == nil {
				key = testBackupKey
			}
			l, err := listBackups(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			b, err := chooseBackup(src, l, tc.want)
			if err == nil {
				var res *downloadResult
				if res, err = downloadBackup(ctx, src, b, key, dir); err == nil && len(tc.errParts) == 0 && res.backup.Name != names[tc.chose] {
					t.Errorf("downloaded %s, want %s", res.backup.Name, names[tc.chose])
				}
			}
			if len(tc.errParts) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one with %q", tc.errParts)
			}
			for _, part := range tc.errParts {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q lacks %q", err, part)
				}
			}
			// Nothing of the backup is left behind; what was there is untouched.
			if got, _ := os.ReadFile(filepath.Join(dir, "snapshot.db")); len(got) > 0 && string(got) != "mine" {
				t.Errorf("snapshot.db written despite the error")
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".snapshot*")); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func damage(t *testing.T, f *openstack.Fake, name string) {
	t.Helper()
	rc, err := f.GetObject(context.Background(), "kubeseed-backups", name)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	data[len(data)/2] ^= 0x10
	if _, err := f.PutObject(context.Background(), "kubeseed-backups", name, bytes.NewReader(data), openstack.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

func deleteObject(t *testing.T, f *openstack.Fake, name string) {
	t.Helper()
	if err := f.DeleteObject(context.Background(), "kubeseed-backups", name); err != nil {
		t.Fatal(err)
	}
}

func TestBackupList(t *testing.T) {
	ctx := context.Background()
	src, f, names := backupFixture(t, bytes.Repeat([]byte("x"), 5000), 3)
	src.tc.Status.Backup.LastBackup = "ns/acme/" + names[1]
	// A backup being written: its snapshot is there, its manifest not yet.
	if _, err := f.PutObject(ctx, "kubeseed-backups", "ns/acme/20261206T070000Z/snapshot.enc", strings.NewReader("x"), openstack.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// What kubeseed never names a backup (here with a terminal escape): ignored, not read.
	if _, err := f.PutObject(ctx, "kubeseed-backups", "ns/acme/\x1b]0;pwned\x07/manifest.json", strings.NewReader("{}"), openstack.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another tenant whose name starts the same: not listed.
	if _, err := f.PutObject(ctx, "kubeseed-backups", "ns/acmex/20261206T070000Z/manifest.json", strings.NewReader("{}"), openstack.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	l, err := listBackups(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		output           string
		stdout, stderr   []string
		notInStdout      []string
		structuredOutput bool
	}{
		{
			output: "",
			stdout: []string{
				"LAST   NAME               TIME                   AGE    REVISION   STORED\n" +
					"       20261206T060000Z   2026-12-06T06:00:00Z   120m   102        135 B\n" +
					"*      20261206T050000Z   2026-12-06T05:00:00Z   3h     101        129 B\n" +
					"       20261206T040000Z   2026-12-06T04:00:00Z   4h     100        130 B\n",
			},
			stderr: []string{"20261206T070000Z: incomplete: no manifest.json (being written, or it failed)\n",
				"1 objects below ns/acme/ in Swift container kubeseed-backups are no backup kubeseed wrote: ignored\n"},
			notInStdout: []string{"20261206T070000Z", "ETCD", "pwned"},
		},
		{
			output: "wide",
			stdout: []string{"SNAPSHOT", "ETCD", "KUBERNETES", "KEY", "4.9 KiB", "3.6.16", "v1.36.3", "backup-key-uid-1"},
		},
		{output: "json", structuredOutput: true},
		{output: "yaml", structuredOutput: true},
	} {
		t.Run("-o "+tc.output, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := printBackupList(&out, &errOut, &backupListOptions{output: tc.output}, src, l, now); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(out.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, out.String())
				}
			}
			for _, nope := range tc.notInStdout {
				if strings.Contains(out.String(), nope) {
					t.Errorf("stdout has %q:\n%s", nope, out.String())
				}
			}
			if strings.Contains(errOut.String(), "pwned") {
				t.Errorf("stderr shows a name kubeseed never writes:\n%s", errOut.String())
			}
			for _, want := range tc.stderr {
				if !strings.Contains(errOut.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
				}
			}
			if !tc.structuredOutput {
				return
			}
			var doc struct {
				Tenant, Container string
				Backups           []listedBackup
				Skipped           []skippedBackup
			}
			raw := out.Bytes()
			if tc.output == "yaml" {
				if raw, err = yaml.YAMLToJSON(raw); err != nil {
					t.Fatal(err)
				}
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatalf("%v:\n%s", err, out.String())
			}
			if doc.Tenant != "ns/acme" || doc.Container != "kubeseed-backups" || len(doc.Backups) != 3 ||
				doc.Backups[0].Name != names[2] || doc.Backups[0].Revision != 102 || doc.Backups[0].Last || !doc.Backups[1].Last ||
				len(doc.Skipped) != 1 || doc.Skipped[0].Name != "20261206T070000Z" {
				t.Errorf("%s output:\n%s", tc.output, out.String())
			}
		})
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSeedKeys(t *testing.T) {
	key := func(name, uid string, data []byte, tenant ...string) *corev1.Secret {
		owner := "ns/acme"
		if len(tenant) > 0 {
			owner = tenant[0]
		}
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "kubeseed-system", Name: name, Annotations: map[string]string{backup.KeyTenantAnnotation: owner, backup.KeyTenantUIDAnnotation: uid}},
			Data:       map[string][]byte{backup.KeyField: data},
		}
	}
	c := fake.NewClientBuilder().WithScheme(scheme()).WithObjects(
		key("backup-key-uid-1", "uid-1", testBackupKey),
		key("backup-key-uid-2", "uid-9", testBackupKey),
		key("backup-key-uid-3", "uid-3", []byte("short")),
		key("backup-key-uid-5", "uid-5", testBackupKey, "other/acme"),
	).Build()
	k := seedKeys{c: c, ns: "kubeseed-system"}
	for _, tc := range []struct {
		uid, errPart string
	}{
		{uid: "uid-1"},
		{uid: "uid-2", errPart: `the backup key Secret kubeseed-system/backup-key-uid-2 is not the key of tenant UID uid-2: its annotation kubeseed.io/tenant-uid is "uid-9"`},
		{uid: "uid-3", errPart: `the backup key Secret kubeseed-system/backup-key-uid-3 holds no 32-byte key "key"`},
		{uid: "uid-4", errPart: "the backup key Secret kubeseed-system/backup-key-uid-4 does not exist"},
		{uid: "uid-5", errPart: `the backup key Secret kubeseed-system/backup-key-uid-5 is the key of tenant "other/acme", not of ns/acme`},
	} {
		t.Run(tc.uid, func(t *testing.T) {
			got, err := k.key(context.Background(), tc.uid, "ns/acme")
			if tc.errPart == "" {
				if err != nil || !bytes.Equal(got, testBackupKey) {
					t.Fatalf("key %x, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("error %v, want %q", err, tc.errPart)
			}
		})
	}
}

func TestRestoreCommandQuotes(t *testing.T) {
	if got, want := restoreCommand("/tmp/my backups/snapshot.db"),
		"etcdutl snapshot restore '/tmp/my backups/snapshot.db' --bump-revision 1000000000 --mark-compacted --data-dir '/tmp/my backups/etcd-data'"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestPrivateDir(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	own, shared := mk("own", 0o700), mk("shared", 0o777)
	link := filepath.Join(base, "link")
	if err := os.Symlink(own, link); err != nil {
		t.Fatal(err)
	}
	for path, errPart := range map[string]string{own: "", shared: "is writable by others", link: "is a symbolic link"} {
		err := privateDir(path)
		if (errPart == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), errPart)) {
			t.Errorf("privateDir(%s) = %v, want %q", filepath.Base(path), err, errPart)
		}
	}
}
