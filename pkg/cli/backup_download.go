package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/pkg/backup"
)

// restoreRevisionBump is what `etcdutl snapshot restore --bump-revision` adds, so that no
// watcher of the restored etcd sees a revision go back (etcd #16028); docs/backups.md.
const restoreRevisionBump = 1_000_000_000

// Files a download writes into --dir.
const (
	snapshotFile = "snapshot.db"
	manifestFile = "manifest.json"
	keysDir      = "keys"
)

type backupDownloadOptions struct {
	backupFlags
	backup string
	dir    string
}

func newBackupDownloadCommand(g *global) *cobra.Command {
	o := &backupDownloadOptions{}
	cmd := &cobra.Command{
		Use:   "download NAME --dir DIR",
		Short: "Download, decrypt and verify a backup of a TenantCluster (admins)",
		Long: `Download a backup of TenantCluster NAME from its Swift container (the newest complete
one, or --backup), decrypt it with the tenant's backup key and verify it, then write into DIR:

  snapshot.db         etcd's snapshot, its SHA-256 trailer verified, for etcdutl snapshot restore
  manifest.json       the backup's manifest
  keys/<secret>.yaml  the Secrets a restore needs (CAs, service-account key, encryption
                      configuration) as Kubernetes Secret manifests in the tenant's namespace

This is an admin command: the backup key is the Secret backup-key-<tenant UID> in the manager's
namespace (--manager-namespace), which customers cannot read. DIR is created with mode 0700,
every file with mode 0600; an existing file is never overwritten. It ends with the etcdutl
command that turns snapshot.db into an etcd data directory.`,
		Example: `  kubeseed backup download acme -n project-1234 --dir ./acme-backup
  kubeseed backup download acme -n project-1234 --backup 20261206T041500Z --dir ./acme-backup`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), g, oneName(args))
		},
	}
	o.add(cmd)
	f := cmd.Flags()
	f.StringVar(&o.backup, "backup", "", "The backup to download, as backup list names it (default: the newest complete one).")
	f.StringVar(&o.dir, "dir", "", "The directory to write into (required; created with mode 0700).")
	return cmd
}

func (o *backupDownloadOptions) run(ctx context.Context, g *global, name string) error {
	if o.dir == "" {
		return usageErrorf("--dir is required: the directory to write the backup into")
	}
	c, src, l, err := g.readBackups(ctx, name, o.backupFlags)
	if err != nil {
		return err
	}
	b, err := chooseBackup(src, l, o.backup)
	if err != nil {
		return err
	}
	keys := seedKeys{c: c, ns: o.managerNamespace}
	key, err := keys.key(ctx, b.TenantUID, src.tenant())
	if err != nil {
		return err
	}
	fmt.Fprintf(g.streams.ErrOut, "Downloading backup %s of TenantCluster %s from Swift container %s (%s stored)\n", b.Name, src.tenant(), src.container, humanBytes(b.StoredBytes))
	res, err := downloadBackup(ctx, src, b, key, o.dir)
	if err != nil {
		return err
	}
	printDownload(g.streams.Out, src, res)
	return nil
}

// chooseBackup is the backup --backup names (its name, or the object prefix
// status.backup.lastBackup shows), else the newest complete one.
func chooseBackup(src *backupSource, l *backupListing, want string) (listedBackup, error) {
	if want == "" {
		if len(l.Complete) == 0 {
			return listedBackup{}, fmt.Errorf("TenantCluster %s has no complete backup in Swift container %s%s", src.tenant(), src.container, skippedSuffix(l))
		}
		return l.Complete[0], nil
	}
	want = strings.TrimSuffix(strings.TrimPrefix(want, src.prefix), "/")
	for _, b := range l.Complete {
		if b.Name == want {
			return b, nil
		}
	}
	for _, s := range l.Skipped {
		if s.Name == want {
			return listedBackup{}, fmt.Errorf("backup %s of TenantCluster %s cannot be downloaded: %s", want, src.tenant(), printers.EscapeTerminal(s.Reason))
		}
	}
	names := make([]string, 0, len(l.Complete))
	for _, b := range l.Complete {
		names = append(names, b.Name)
	}
	have := "it has no complete backup"
	if len(names) > 0 {
		have = "its complete backups, newest first: " + strings.Join(names, ", ")
	}
	return listedBackup{}, fmt.Errorf("TenantCluster %s has no backup %q in Swift container %s: %s%s", src.tenant(), want, src.container, have, skippedSuffix(l))
}

func skippedSuffix(l *backupListing) string {
	if len(l.Skipped) == 0 {
		return ""
	}
	names := make([]string, 0, len(l.Skipped))
	for _, s := range l.Skipped {
		names = append(names, s.Name)
	}
	return " (incomplete or unreadable: " + strings.Join(names, ", ") + ")"
}

// downloadResult is what downloadBackup wrote.
type downloadResult struct {
	backup        listedBackup
	snapshot      string
	snapshotBytes int64
	manifest      string
	keys          []string
}

// downloadBackup writes backup b into dir: the keys first (small, and their file names are
// known only once decrypted), so that every file it would overwrite is named before the
// snapshot, which may be gigabytes, is downloaded.
func downloadBackup(ctx context.Context, src *backupSource, b listedBackup, key []byte, dir string) (*downloadResult, error) {
	res := &downloadResult{backup: b, snapshot: filepath.Join(dir, snapshotFile), manifest: filepath.Join(dir, manifestFile)}
	keys, err := backup.ReadKeys(ctx, src.store, src.container, src.prefix, b.Manifest, key)
	if err != nil {
		return nil, keyError(err, b)
	}
	keyFiles := map[string][]byte{}
	for name, data := range keys {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return nil, fmt.Errorf("backup %s holds a Secret named %q: %s", b.Name, name, strings.Join(errs, "; "))
		}
		raw, err := secretManifest(name, src.tc.Namespace, data)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, keysDir, name+".yaml")
		keyFiles[path] = raw
		res.keys = append(res.keys, path)
	}
	slices.Sort(res.keys)
	if err := refuseExisting(append([]string{res.snapshot, res.manifest}, res.keys...)); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, keysDir), 0o700); err != nil {
		return nil, err
	}
	for _, d := range []string{dir, filepath.Join(dir, keysDir)} {
		if err := privateDir(d); err != nil {
			return nil, err
		}
	}
	if res.snapshotBytes, err = writeSnapshot(ctx, src, b, key, res.snapshot); err != nil {
		return nil, keyError(err, b)
	}
	manifest, err := json.MarshalIndent(b.Manifest, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeNew(res.manifest, append(manifest, '\n')); err != nil {
		return nil, err
	}
	for _, path := range res.keys {
		if err := writeNew(path, keyFiles[path]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// privateDir refuses a directory others could redirect or read the keys through: a
// symbolic link, or one writable by group or others.
func privateDir(d string) error {
	fi, err := os.Lstat(d)
	switch {
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: give a directory of your own", d)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", d)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by others (mode %v): the keys need a directory of your own", d, fi.Mode().Perm())
	}
	return nil
}

// keyError adds which key failed to an object that does not decrypt, or a manifest it did
// not sign.
func keyError(err error, b listedBackup) error {
	if errors.Is(err, backup.ErrCorrupt) || errors.Is(err, backup.ErrManifestMAC) {
		return fmt.Errorf("%w (with the key of Secret %s, tenant UID %s)", err, backup.KeySecretName(b.TenantUID), b.TenantUID)
	}
	return err
}

// refuseExisting names every path that exists: a download never overwrites.
func refuseExisting(paths []string) error {
	var there []string
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			there = append(there, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if len(there) > 0 {
		return fmt.Errorf("refusing to overwrite %s: remove them or give another --dir", strings.Join(there, ", "))
	}
	return nil
}

// writeSnapshot downloads, decrypts and verifies the snapshot into a temporary file beside
// path and links it into place only once verified, never over an existing file.
func writeSnapshot(ctx context.Context, src *backupSource, b listedBackup, key []byte, path string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*") // mode 0600
	if err != nil {
		return 0, err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	w := bufio.NewWriterSize(tmp, 1<<20)
	n, err := backup.ReadSnapshot(ctx, src.store, src.container, src.prefix, b.Manifest, key, w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("refusing to overwrite %s: it appeared during the download", path)
		}
		return 0, err
	}
	return n, nil
}

// writeNew creates path with mode 0600; an existing file is refused, not overwritten.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("refusing to overwrite %s", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// secretManifest is a key of the backup as a Secret to create in namespace: the backup
// keeps the data alone, so the type is inferred (cert-manager's are kubernetes.io/tls).
func secretManifest(name, namespace string, data map[string][]byte) ([]byte, error) {
	typ := corev1.SecretTypeOpaque
	if data[corev1.TLSCertKey] != nil && data[corev1.TLSPrivateKeyKey] != nil {
		typ = corev1.SecretTypeTLS
	}
	return yaml.Marshal(&corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Type:       typ,
		Data:       data,
	})
}

// printDownload says what was written and how to restore it.
func printDownload(w io.Writer, src *backupSource, res *downloadResult) {
	b := res.backup
	fmt.Fprintf(w, "Backup %s of TenantCluster %s (etcd revision %d, taken %s) downloaded from Swift container %s, decrypted and verified:\n",
		b.Name, src.tenant(), b.Revision, b.Time.UTC().Format(time.RFC3339), src.container)
	if b.TenantUID != string(src.tc.UID) {
		fmt.Fprintf(w, "  (taken of an earlier TenantCluster of this name, UID %s; this one's is %s)\n", b.TenantUID, src.tc.UID)
	}
	fmt.Fprintf(w, "  %s  (%d bytes, SHA-256 %s)\n", res.snapshot, res.snapshotBytes, b.SnapshotSHA256)
	fmt.Fprintf(w, "  %s\n", res.manifest)
	for _, k := range res.keys {
		fmt.Fprintf(w, "  %s\n", k)
	}
	fmt.Fprintf(w, "Restore the snapshot into a new etcd data directory with:\n  %s\n", restoreCommand(res.snapshot))
}

// restoreCommand is the etcdutl command docs/backups.md gives, for the snapshot at path.
func restoreCommand(path string) string {
	data := filepath.Join(filepath.Dir(path), "etcd-data")
	return fmt.Sprintf("etcdutl snapshot restore %s --bump-revision %d --mark-compacted --data-dir %s", shellQuote(path), restoreRevisionBump, shellQuote(data))
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
