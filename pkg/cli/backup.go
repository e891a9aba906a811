package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// backupOutputFormats of `kubeseed backup list`, as -o takes them.
var backupOutputFormats = []string{"json", "wide", "yaml"}

// backupFlags are what both backup subcommands share.
type backupFlags struct {
	container        string
	managerNamespace string
}

func newBackupCommand(g *global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "List and download the etcd backups of a TenantCluster",
		Long: `List and download the etcd backups kubeseed writes into the Swift container of a
TenantCluster's project (spec.controlPlane.etcd.backup, see docs/backups.md), or into the
seed's operator-wide store for a TenantCluster without spec.cloud.

Swift is reached with the credentials Secret of the TenantCluster's spec.cloud, as the manager
reaches it; the operator-wide store with the Secret ` + backup.StoreSecretName + ` in the manager's
namespace, which only admins read. "backup download" also reads the tenant's backup key from
the manager's namespace: it is an admin command.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("%s: want a subcommand: list, download", cmd.CommandPath())
			}
			return noArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newBackupListCommand(g), newBackupDownloadCommand(g))
	return cmd
}

func (f *backupFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.container, "container", "", "The Swift container of spec.cloud's project (default: spec.controlPlane.etcd.backup.container, else "+backup.DefaultContainer+").")
	cmd.Flags().StringVar(&f.managerNamespace, "manager-namespace", controlplane.DefaultManagerNamespace,
		"The kubeseed manager's namespace, which holds the backup keys and the operator-wide backup store's credentials.")
}

type backupListOptions struct {
	backupFlags
	output    string
	noHeaders bool
}

func newBackupListCommand(g *global) *cobra.Command {
	o := &backupListOptions{}
	cmd := &cobra.Command{
		Use:   "list NAME",
		Short: "List the backups of a TenantCluster stored in its Swift container",
		Long: `List the complete backups of TenantCluster NAME (those with a manifest.json) as they are
stored in its Swift container, newest first: name, time, etcd revision and stored size, read
from each backup's manifest. LAST marks the one status.backup.lastBackup names. Backups
without a manifest (being written, or failed) are named on stderr and cannot be downloaded.

Needs read access to the TenantCluster and its cloud credentials Secret; not the backup key.`,
		Example: `  kubeseed backup list acme -n project-1234
  kubeseed backup list acme -n project-1234 -o json`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), g, oneName(args))
		},
	}
	o.add(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format: "+strings.Join(backupOutputFormats, ", ")+".")
	cmd.Flags().BoolVar(&o.noHeaders, "no-headers", false, "Print the table without its header line.")
	return cmd
}

func (o *backupListOptions) run(ctx context.Context, g *global, name string) error {
	if !slices.Contains(append(backupOutputFormats, ""), o.output) {
		return usageErrorf("unable to match a printer suitable for the output format %q, allowed formats are: %s", o.output, strings.Join(backupOutputFormats, ","))
	}
	_, src, l, err := g.readBackups(ctx, name, o.backupFlags)
	if err != nil {
		return err
	}
	return printBackupList(g.streams.Out, g.streams.ErrOut, o, src, l, time.Now())
}

// backupSource is where a tenant's backups are: what the read phase finds in the seed.
type backupSource struct {
	tc        *v1alpha1.TenantCluster
	container string
	// prefix is <namespace>/<name>/, as the controller writes below it.
	prefix string
	store  openstack.ObjectStore
}

func (s *backupSource) tenant() string { return s.tc.Namespace + "/" + s.tc.Name }

// readBackups is both commands' read phase: the tenant of the command line's namespace, where
// its backups are, and what is there.
func (g *global) readBackups(ctx context.Context, name string, f backupFlags) (client.Reader, *backupSource, *backupListing, error) {
	ns, err := g.namespace()
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := g.client()
	if err != nil {
		return nil, nil, nil, err
	}
	src, err := g.readBackupSource(ctx, c, ns, name, f)
	if err != nil {
		return nil, nil, nil, err
	}
	l, err := listBackups(ctx, src)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, src, l, nil
}

// readBackupSource reads TenantCluster ns/name and connects to the Swift of its spec.cloud
// credentials Secret, or of the operator-wide store's for a tenant without spec.cloud.
func (g *global) readBackupSource(ctx context.Context, c client.Reader, ns, name string, f backupFlags) (*backupSource, error) {
	tc := &v1alpha1.TenantCluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, tc); err != nil {
		return nil, listError(err)
	}
	src := &backupSource{tc: tc, container: f.container, prefix: ns + "/" + name + "/"}
	var secret *corev1.Secret
	if tc.Spec.Cloud == nil {
		if f.container != "" {
			return nil, usageErrorf("--container names a container of spec.cloud's project, and TenantCluster %s/%s has no spec.cloud: its backups are in the operator-wide store, whose container the admin chose", ns, name)
		}
		secret = &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: f.managerNamespace, Name: backup.StoreSecretName}, secret); err != nil {
			return nil, fmt.Errorf("TenantCluster %s/%s has no spec.cloud, so its backups are in the operator-wide store, whose credentials Secret %s/%s an admin reads (docs/backups.md#an-operator-wide-store): %w",
				ns, name, f.managerNamespace, backup.StoreSecretName, err)
		}
		if src.container = strings.TrimSpace(string(secret.Data[backup.StoreContainerKey])); src.container == "" {
			src.container = backup.DefaultContainer
		}
	} else {
		if src.container == "" {
			src.container = backup.DefaultContainer
			if b := tc.Spec.ControlPlane.Etcd.Backup; b != nil && b.Container != "" {
				src.container = b.Container
			}
		}
		ref := tc.Spec.Cloud.CredentialsSecretRef.Name
		secret = &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref}, secret); err != nil {
			return nil, fmt.Errorf("the cloud credentials Secret %s/%s (spec.cloud.credentialsSecretRef of TenantCluster %s/%s): %w", ns, ref, ns, name, err)
		}
	}
	store, err := g.objectStore(ctx, secret)
	if err != nil {
		return nil, err
	}
	src.store = store
	return src, nil
}

// swiftStore is the customer's Swift, reached with the credentials Secret as the manager
// reaches it (openstack.NewForSecret), and Swift alone: a project without Octavia or Nova
// endpoints still has its backups.
func swiftStore(ctx context.Context, secret *corev1.Secret) (openstack.ObjectStore, error) {
	clients, err := openstack.NewForSecret(ctx, secret, openstack.Options{
		UserAgent: "kubeseed-cli", Services: []openstack.Service{openstack.ServiceObjectStore},
	})
	if err != nil {
		return nil, fmt.Errorf("the customer's cloud: %w", err)
	}
	return clients.ObjectStore, nil
}

// listedBackup is a complete backup, as its manifest describes it.
type listedBackup struct {
	backup.Manifest
	// Last: status.backup.lastBackup names it.
	Last bool `json:"last"`
}

// skippedBackup is a backup that cannot be downloaded, and why.
type skippedBackup struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// backupListing is a tenant's backups in its container.
type backupListing struct {
	// Complete are the backups with a readable manifest, newest first.
	Complete []listedBackup `json:"backups"`
	// Skipped have no manifest or an unreadable one, newest first.
	Skipped []skippedBackup `json:"skipped,omitempty"`
	// Ignored counts the names below the tenant's prefix that are no backup's.
	Ignored int `json:"ignored,omitempty"`
}

// maxManifestsRead is spec.controlPlane.etcd.backup.keep's maximum.
const maxManifestsRead = 1000

// listBackups lists the tenant's backups and reads each manifest. Only a backup with a
// readable manifest is complete: the controller writes it last.
func listBackups(ctx context.Context, src *backupSource) (*backupListing, error) {
	all, err := backup.List(ctx, src.store, src.container, src.prefix)
	if err != nil {
		return nil, fmt.Errorf("list the backups of TenantCluster %s in Swift container %s: %w", src.tenant(), src.container, err)
	}
	last := ""
	if b := src.tc.Status.Backup; b != nil {
		last = b.LastBackup
	}
	out := &backupListing{}
	read := 0
	for i := len(all) - 1; i >= 0; i-- {
		b := all[i]
		// Names come from the customer's container: only kubeseed's (times) are shown
		// or read, and at most as many manifests as a tenant may keep backups.
		if !backup.IsBackupName(b.Name) {
			out.Ignored++
			continue
		}
		if read >= maxManifestsRead {
			out.Skipped = append(out.Skipped, skippedBackup{Name: b.Name, Reason: fmt.Sprintf("not read: more than %d backups, the most spec.controlPlane.etcd.backup.keep keeps", maxManifestsRead)})
			continue
		}
		if !b.Complete {
			out.Skipped = append(out.Skipped, skippedBackup{Name: b.Name, Reason: "incomplete: no " + backup.ManifestObject + " (being written, or it failed)"})
			continue
		}
		read++
		m, err := backup.ReadManifest(ctx, src.store, src.container, src.prefix, b.Name)
		if err != nil {
			out.Skipped = append(out.Skipped, skippedBackup{Name: b.Name, Reason: "unreadable manifest: " + err.Error()})
			continue
		}
		out.Complete = append(out.Complete, listedBackup{Manifest: m, Last: src.prefix+b.Name == last})
	}
	return out, nil
}

// backupColumns are the columns of `kubeseed backup list`; Priority 1 ones show with -o wide.
var backupColumns = []metav1.TableColumnDefinition{
	{Name: "Last", Type: "string", Description: "* on the backup status.backup.lastBackup names"},
	{Name: "Name", Type: "string", Format: "name", Description: "the backup: the UTC time it started"},
	{Name: "Time", Type: "string", Description: "when it started (RFC 3339)"},
	{Name: "Age", Type: "string", Description: "since it started"},
	{Name: "Revision", Type: "integer", Description: "the etcd revision the snapshot holds at least"},
	{Name: "Stored", Type: "string", Description: "the snapshot's size as stored, compressed and encrypted"},
	{Name: "Snapshot", Type: "string", Priority: 1, Description: "the snapshot's size, as etcdutl reads it"},
	{Name: "Etcd", Type: "string", Priority: 1, Description: "the etcd version it was taken from"},
	{Name: "Kubernetes", Type: "string", Priority: 1, Description: "the tenant's Kubernetes version then"},
	{Name: "Key", Type: "string", Priority: 1, Description: "the backup key Secret it is encrypted with"},
}

// printBackupList prints a listing as -o asks; what cannot be downloaded goes to errOut.
func printBackupList(out, errOut io.Writer, o *backupListOptions, src *backupSource, l *backupListing, now time.Time) error {
	switch o.output {
	case "json", "yaml":
		doc := struct {
			Tenant    string `json:"tenant"`
			Container string `json:"container"`
			*backupListing
		}{src.tenant(), src.container, l}
		if doc.Complete == nil {
			doc.Complete = []listedBackup{}
		}
		raw, err := json.MarshalIndent(doc, "", "    ")
		if err == nil && o.output == "yaml" {
			raw, err = yaml.JSONToYAML(raw)
		} else if err == nil {
			raw = append(raw, '\n')
		}
		if err != nil {
			return err
		}
		_, err = out.Write(raw)
		return err
	}
	for _, s := range l.Skipped {
		// The reason may quote what the customer's container holds.
		fmt.Fprintf(errOut, "%s: %s\n", s.Name, printers.EscapeTerminal(s.Reason))
	}
	if l.Ignored > 0 {
		fmt.Fprintf(errOut, "%d objects below %s in Swift container %s are no backup kubeseed wrote: ignored\n", l.Ignored, src.prefix, src.container)
	}
	if len(l.Complete) == 0 {
		fmt.Fprintf(errOut, "No complete backups of TenantCluster %s in Swift container %s.\n", src.tenant(), src.container)
		return nil
	}
	t := &metav1.Table{ColumnDefinitions: backupColumns}
	for _, b := range l.Complete {
		mark := ""
		if b.Last {
			mark = "*"
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{
			mark, b.Name, b.Time.UTC().Format(time.RFC3339), age(metav1.NewTime(b.Time), now), b.Revision, humanBytes(b.StoredBytes),
			humanBytes(b.SnapshotBytes), orNone(b.EtcdVersion), orNone(b.KubernetesVersion), orNone(b.KeyID),
		}})
	}
	return printers.NewTablePrinter(printers.PrintOptions{Wide: o.output == "wide", NoHeaders: o.noHeaders}).PrintObj(t, out)
}

// humanBytes is a size for people: 512 B, 1.5 KiB, 12.3 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// seedKeys reads backup keys from the manager's namespace of the seed.
type seedKeys struct {
	c  client.Reader
	ns string
}

// key is the backup key of the tenant with UID uid, which must have been tenant
// (namespace/name: this one, or an earlier one of the same name): the UID comes from a
// manifest in the customer's container, and another tenant's backup copied there must not
// be decrypted with its owner's key. Its errors name the Secret and say what to do:
// reading it is what makes downloading an admin command.
func (k seedKeys) key(ctx context.Context, uid, tenant string) ([]byte, error) {
	name := backup.KeySecretName(uid)
	sec := &corev1.Secret{}
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: k.ns, Name: name}, sec); err != nil {
		switch {
		case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
			return nil, fmt.Errorf("cannot read the backup key Secret %s/%s: downloading a backup is an admin command, it needs get on Secrets in the manager's namespace %s: %w", k.ns, name, k.ns, err)
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("the backup key Secret %s/%s does not exist: without it the backup cannot be decrypted. "+
				"Restore it from your export of the backup keys (docs/backups.md), or give --manager-namespace if the manager runs in another namespace", k.ns, name)
		}
		return nil, fmt.Errorf("read the backup key Secret %s/%s: %w", k.ns, name, err)
	}
	if got := sec.Annotations[backup.KeyTenantUIDAnnotation]; got != uid {
		return nil, fmt.Errorf("the backup key Secret %s/%s is not the key of tenant UID %s: its annotation %s is %q", k.ns, name, uid, backup.KeyTenantUIDAnnotation, got)
	}
	if owner := sec.Annotations[backup.KeyTenantAnnotation]; owner != tenant {
		return nil, fmt.Errorf("the backup key Secret %s/%s is the key of tenant %q, not of %s: a backup below %s names another tenant, and is not decrypted", k.ns, name, owner, tenant, tenant)
	}
	key := sec.Data[backup.KeyField]
	if len(key) != backup.KeySize {
		return nil, fmt.Errorf("the backup key Secret %s/%s holds no %d-byte key %q: restore it from your export of the backup keys (docs/backups.md)", k.ns, name, backup.KeySize, backup.KeyField)
	}
	return key, nil
}
