package tenantcluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/internal/cloud"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

const (
	// backupRetryAfter is how soon a failed backup is tried again.
	backupRetryAfter = time.Minute
	// backupPoll looks at a running backup: the runner also wakes the tenant when it ends.
	backupPoll = 15 * time.Second
)

// backupKeySecrets are the Secrets of the control-plane namespace a restore needs besides
// etcd's data: what the data was written with and what workers and clients trust.
var backupKeySecrets = []controlplane.Secret{
	controlplane.CASecret, controlplane.EtcdCASecret, controlplane.FrontProxyCASecret,
	controlplane.ServiceAccountSecret, controlplane.EncryptionConfigSecret,
}

// BackupSnapshotter streams a snapshot of a tenant's etcd; nil means a real etcd dial.
type BackupSnapshotter func(cfg etcd.Config) backup.Snapshotter

// reconcileBackup takes the tenant's scheduled etcd backup when one is due, off the
// reconcile (backup.Runner), and records the last result in status.backup and BackedUp.
func (r *Reconciler) reconcileBackup(ctx context.Context, s *scope) (bool, error) {
	tc := s.tc
	spec := tc.Spec.ControlPlane.Etcd.Backup
	if spec == nil || r.Backups == nil {
		s.o.absent[v1alpha1.BackedUpCondition] = true
		return false, nil
	}
	key := tc.Namespace + "/" + tc.Name
	every := backupEvery(spec)
	now := time.Now()
	last := tc.Status.Backup
	var lastTime time.Time
	if last != nil && last.LastSuccessfulTime != nil {
		lastTime = last.LastSuccessfulTime.Time
	}
	if !s.o.hibernation.serving() {
		// etcd stops or has stopped: nothing to back up until the tenant wakes.
		msg := "no backup is taken while the tenant hibernates"
		if last != nil && !lastTime.IsZero() {
			msg += fmt.Sprintf("; the last, %s, was written at %s", last.LastBackup, lastTime.UTC().Format(time.RFC3339))
		}
		s.o.checks[v1alpha1.BackedUpCondition] = check{ok: true, reason: v1alpha1.HibernatedReason, message: msg}
		return false, nil
	}
	defer func() { s.o.hibernation.noteFinalBackup(s.o.checks[v1alpha1.BackedUpCondition]) }()
	res, finished, running := r.Backups.State(key)
	// A result of this tenant (not of a predecessor of the same name) newer than the status;
	// the status keeps whole seconds.
	newer := finished && res.Manifest.TenantUID == string(tc.UID) && res.Started.Truncate(time.Second).After(lastTime)
	failed := newer && res.Err != nil
	if newer && res.Err == nil {
		last = backupStatus(tc, res)
		lastTime = last.LastSuccessfulTime.Time
		s.o.backup = last // BackupWritten is told once the status says so (recordTransitions)
		if res.PruneErr != nil {
			r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, "BackupPruneFailed", "Backup", "deleting backups beyond spec.controlPlane.etcd.backup.keep: %s", backupStoreRef(tc, backupContainer(spec)).say(ctx, res.PruneErr))
		}
	}

	// An upgrade waiting for its backup, and a hibernation for its final one, do not wait
	// for the schedule.
	due := lastTime.IsZero() || !now.Before(lastTime.Add(every)) || s.o.upgrade.Stage == controlplane.UpgradeWaitingForBackup ||
		s.o.hibernation.stage == finalBackup || s.o.restore.backupFirst
	if failed && now.Before(res.Started.Add(res.Duration+backupRetryAfter)) {
		due = false
		s.requeueAfter(time.Until(res.Started.Add(res.Duration + backupRetryAfter)))
	}
	overdue := !lastTime.IsZero() && now.After(lastTime.Add(2*every))
	// The status, and a backup's name, keep whole seconds: a backup started in the second
	// the last one started could never be told from it. It starts in the next second.
	if next := lastTime.Add(time.Second); due && !running && now.Before(next) {
		due = false
		s.requeueAfter(time.Until(next))
	}
	switch {
	case running:
		s.requeueAfter(backupPoll)
	case due:
		c, err := r.startBackup(ctx, s, key, spec)
		if err != nil {
			return false, err
		}
		if c != nil {
			// Overdue first: the cause that keeps the backup from starting is its detail.
			if overdue {
				c = &check{reason: v1alpha1.BackupOverdueReason, message: overdueMessage(lastTime, every) + "; " + c.message}
			}
			s.o.checks[v1alpha1.BackedUpCondition] = *c
			s.requeueAfter(backupRetryAfter)
			return false, nil
		}
		running = true
		s.requeueAfter(backupPoll)
	default:
		s.requeueAfter(time.Until(lastTime.Add(every)))
	}

	switch {
	case failed:
		s.o.checks[v1alpha1.BackedUpCondition] = check{reason: v1alpha1.BackupFailedReason,
			message: "the backup started at " + res.Started.UTC().Format(time.RFC3339) + " failed: " + backupStoreRef(tc, backupContainer(spec)).say(ctx, res.Err)}
		if prev := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.BackedUpCondition); prev == nil || prev.Message != s.o.checks[v1alpha1.BackedUpCondition].message {
			r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, "BackupFailed", "Backup", "%s", s.o.checks[v1alpha1.BackedUpCondition].message)
		}
	case lastTime.IsZero():
		s.o.checks[v1alpha1.BackedUpCondition] = check{reason: v1alpha1.BackupPendingReason, message: "the first backup is being taken"}
	case overdue:
		s.o.checks[v1alpha1.BackedUpCondition] = check{reason: v1alpha1.BackupOverdueReason, message: overdueMessage(lastTime, every)}
		s.requeueAfter(backupRetryAfter)
	default:
		s.o.checks[v1alpha1.BackedUpCondition] = check{ok: true, reason: v1alpha1.BackupSucceededReason,
			message: fmt.Sprintf("backup %s written at %s; the next is due at %s", last.LastBackup, lastTime.UTC().Format(time.RFC3339), lastTime.Add(every).UTC().Format(time.RFC3339))}
		// Overdue is judged later without a write to wake the reconcile.
		if !running {
			s.requeueAfter(time.Until(lastTime.Add(2*every)) + time.Second)
		}
	}
	return false, nil
}

func overdueMessage(last time.Time, every time.Duration) string {
	return fmt.Sprintf("no backup was written since %s, more than twice spec.controlPlane.etcd.backup.every (%s)", last.UTC().Format(time.RFC3339), every)
}

// backupStatus is what status.backup says of a written backup.
func backupStatus(tc *v1alpha1.TenantCluster, res backup.Result) *v1alpha1.EtcdBackupStatus {
	return &v1alpha1.EtcdBackupStatus{
		LastSuccessfulTime: ptr.To(metav1.NewTime(res.Started.Truncate(time.Second))),
		LastBackup:         backupPrefix(tc) + res.Manifest.Name,
		Revision:           res.Manifest.Revision,
		SizeBytes:          res.Manifest.StoredBytes,
		Generation:         res.Generation,
	}
}

// startBackup gathers what the backup needs and hands it to the runner. A returned check
// says why it could not start (the customer's to fix, or not ready yet).
func (r *Reconciler) startBackup(ctx context.Context, s *scope, key string, spec *v1alpha1.EtcdBackupSpec) (*check, error) {
	tc := s.tc
	if !s.o.checks[v1alpha1.EtcdAvailableCondition].ok {
		return &check{reason: v1alpha1.BackupPendingReason, message: "waiting for etcd to be available"}, nil
	}
	etcdClient := s.secrets[controlplane.APIServerEtcdClientSecret.Name(tc.Name)]
	if etcdClient == nil {
		return &check{reason: v1alpha1.BackupPendingReason, message: "waiting for the etcd client certificate"}, nil
	}
	keys := map[string]map[string][]byte{}
	for _, sec := range backupKeySecrets {
		name := sec.Name(tc.Name)
		got := s.secrets[name]
		if got == nil {
			return &check{reason: v1alpha1.BackupPendingReason, message: "waiting for Secret " + name}, nil
		}
		keys[name] = got.Data
	}
	cctx, cancel := cloud.WithDeadline(ctx)
	defer cancel()
	// The cloud's verdict names the cause (credentials, auth URL, an unavailable cloud, no
	// store); the backup is tried again within a minute either way.
	store, bad, err := r.openBackupStore(cctx, s, backupStoreRef(tc, backupContainer(spec)))
	if store == nil {
		return bad, err
	}
	bkey, keyID, bad, err := r.backupKey(ctx, tc)
	if err != nil || bad != nil {
		return bad, err
	}
	seed, err := r.seedID(ctx)
	if err != nil {
		return nil, err
	}
	snap := r.BackupSnapshotter
	if snap == nil {
		snap = func(cfg etcd.Config) backup.Snapshotter { return etcd.Snapshotter{Config: cfg} }
	}
	job := backup.Job{
		Etcd: snap(etcd.Config{
			Endpoints: []string{controlplane.EtcdClientURL(tc.Name, controlplane.NamespaceOf(tc))},
			CA:        etcdClient.Data[controlplane.CACertKey],
			Cert:      etcdClient.Data[controlplane.TLSCertKey],
			Key:       etcdClient.Data[controlplane.TLSKeyKey],
		}),
		Store: store.objects, Container: store.container, Prefix: backupPrefix(tc),
		Key: bkey, KeyID: keyID, Keys: keys,
		Tenant: key, TenantUID: string(tc.UID), KubernetesVersion: tc.Status.Version,
		Keep: int(ptr.Deref(spec.Keep, 7)), Generation: tc.Generation,
		Endpoint: &backup.Endpoint{URL: tc.Status.Endpoint, Seed: seed, NodePort: nodePortOf(s.svc), TunnelNodePort: tunnelNodePortOf(s.svc)},
	}
	if spec.MaxAge != nil {
		job.DeleteAfter = spec.MaxAge.Duration
	}
	if t := restoreTarget(tc); t != nil {
		job.Protect = []string{t.Backup} // the backup a restore reads is not pruned by the one taken before it
	}
	r.Backups.Submit(key, job)
	return nil, nil
}

// backupKey is the tenant's backup key, made once in the manager's namespace and kept when
// the TenantCluster is deleted: its backups stay readable for a restore. A key Secret that
// is not this tenant's, or holds no key, is a check for the admin.
func (r *Reconciler) backupKey(ctx context.Context, tc *v1alpha1.TenantCluster) ([]byte, string, *check, error) {
	name := BackupKeySecretName(tc)
	ns := r.managerNamespace()
	sec := &corev1.Secret{}
	err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec)
	switch {
	case err == nil:
		if sec.Annotations[backup.KeyTenantUIDAnnotation] != string(tc.UID) {
			return nil, "", &check{reason: v1alpha1.BackupFailedReason, message: fmt.Sprintf("the backup key Secret %s/%s is not this tenant's (annotation %s): an admin must repair it", ns, name, backup.KeyTenantUIDAnnotation)}, nil
		}
		if sec.Annotations[backup.KeyNamespaceUIDAnnotation] == "" {
			// A key made by an earlier release: it gets its tenant's namespace, once.
			nsUID, err := r.namespaceUID(ctx, tc)
			if err != nil {
				return nil, "", nil, err
			}
			patch := client.MergeFrom(sec.DeepCopy())
			metav1.SetMetaDataAnnotation(&sec.ObjectMeta, backup.KeyNamespaceUIDAnnotation, nsUID)
			if err := r.Client.Patch(ctx, sec, patch); err != nil {
				return nil, "", nil, fmt.Errorf("record the namespace of backup key %s/%s: %w", ns, name, err)
			}
		}
		if k := sec.Data[backup.KeyField]; len(k) == backup.KeySize {
			return k, name, nil, nil
		}
		return nil, "", &check{reason: v1alpha1.BackupFailedReason, message: fmt.Sprintf("the backup key Secret %s/%s holds no %d-byte key %q: an admin must restore it from the export (docs/backups.md)", ns, name, backup.KeySize, backup.KeyField)}, nil
	case !apierrors.IsNotFound(err):
		return nil, "", nil, fmt.Errorf("read backup key %s/%s: %w", ns, name, err)
	}
	nsUID, err := r.namespaceUID(ctx, tc)
	if err != nil {
		return nil, "", nil, err
	}
	k := make([]byte, backup.KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, "", nil, err
	}
	sec = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{backup.KeyLabel: "true"},
			Annotations: map[string]string{backup.KeyTenantAnnotation: tc.Namespace + "/" + tc.Name, backup.KeyTenantUIDAnnotation: string(tc.UID),
				backup.KeyNamespaceUIDAnnotation: nsUID}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{backup.KeyField: k},
	}
	if err := r.Client.Create(ctx, sec); err != nil {
		return nil, "", nil, fmt.Errorf("create backup key %s/%s: %w", ns, name, err)
	}
	return k, name, nil, nil
}

// BackupKeySecretName names a tenant's backup key in the manager's namespace: by UID, which
// no two tenants share (namespace-name joins can collide).
func BackupKeySecretName(tc *v1alpha1.TenantCluster) string {
	return backup.KeySecretName(string(tc.UID))
}

func (r *Reconciler) managerNamespace() string {
	if r.ManagerNamespace != "" {
		return r.ManagerNamespace
	}
	return controlplane.DefaultManagerNamespace
}

func backupEvery(spec *v1alpha1.EtcdBackupSpec) time.Duration {
	if spec.Every != nil && spec.Every.Duration >= time.Minute {
		return spec.Every.Duration
	}
	return 24 * time.Hour
}

func backupContainer(spec *v1alpha1.EtcdBackupSpec) string {
	if spec.Container != "" {
		return spec.Container
	}
	return backup.DefaultContainer
}

// backupPrefix is where a tenant's backups live in the container.
func backupPrefix(tc *v1alpha1.TenantCluster) string {
	return tc.Namespace + "/" + tc.Name + "/"
}

// SkipFinalBackupAnnotation set to "true" on a TenantCluster being deleted lets the
// deletion go on without the final backup (etcd is gone, or the cloud refuses for good).
const SkipFinalBackupAnnotation = "kubeseed.io/skip-final-backup"

// finalBackup takes the backup a tenant with backups configured gets before it is taken
// apart: done says the deletion may go on. A backup that cannot be taken holds the deletion
// with the reason in blocked, until it succeeds or the annotation skips it.
func (r *Reconciler) finalBackup(ctx context.Context, tc *v1alpha1.TenantCluster, blocked *check) (done bool, requeue time.Duration, err error) {
	spec := tc.Spec.ControlPlane.Etcd.Backup
	if spec == nil || r.Backups == nil || tc.Annotations[SkipFinalBackupAnnotation] == "true" {
		return true, 0, nil
	}
	if tc.Spec.Hibernated && meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.HibernatedCondition) {
		return true, 0, nil // etcd is stopped: the backup taken as it went down is the last
	}
	if tc.Status.Restoring != nil || (tc.Status.Restore == nil && pki.CAsFromBackup(tc)) {
		// etcd's data is being replaced by a backup (in place: the backup of the data it
		// replaced, if taken, is the last), or a tenant made from one never got it: its
		// data is still that backup's.
		return true, 0, nil
	}
	key := tc.Namespace + "/" + tc.Name
	since := tc.DeletionTimestamp.Time
	// Backups' status and names keep whole seconds, as does the deletion timestamp: only a
	// backup begun in a later second is surely begun after the deletion.
	if b := tc.Status.Backup; b != nil && b.LastSuccessfulTime != nil && b.LastSuccessfulTime.After(since) {
		return true, 0, nil // recorded: a manager restarted since does not take it again
	}
	res, finished, running := r.Backups.State(key)
	if finished && res.Manifest.TenantUID == string(tc.UID) && res.Started.Truncate(time.Second).After(since) {
		if res.Err == nil {
			tc.Status.Backup = backupStatus(tc, res)
			return false, time.Millisecond, nil // the status patch records it; go on then
		}
		if !running && time.Since(res.Started.Add(res.Duration)) < backupRetryAfter {
			*blocked = check{reason: v1alpha1.BackupFailedReason, message: "the final backup before deletion failed, retrying within a minute (set annotation " +
				SkipFinalBackupAnnotation + "=true to delete without it): " + backupStoreRef(tc, backupContainer(spec)).say(ctx, res.Err)}
			return false, backupRetryAfter, nil
		}
	}
	if running {
		*blocked = check{reason: v1alpha1.DeletingReason, message: "taking the final etcd backup before deletion"}
		return false, backupPoll, nil
	}
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: controlplane.NamespaceOf(tc)}, ns); err != nil {
		// No control plane left to back up.
		return true, 0, client.IgnoreNotFound(err)
	}
	s := &scope{tc: tc, ns: ns, o: newObserved()}
	if s.secrets, s.sums, err = r.issuedSecrets(ctx, s); err != nil {
		return false, 0, err
	}
	// Its node ports go into the manifest: a tenant made again from it asks for them.
	if s.svc, err = getOptional[corev1.Service](ctx, r, ns.Name, controlplane.APIServer.ObjectName(tc.Name)); err != nil {
		return false, 0, err
	}
	if enc := s.secrets[controlplane.EncryptionConfigSecret.Name(tc.Name)]; enc == nil {
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: controlplane.EncryptionConfigSecret.Name(tc.Name)}, &corev1.Secret{}); apierrors.IsNotFound(err) {
			return true, 0, nil // never got as far as having data worth a backup
		}
	}
	if next := since.Add(time.Second); time.Now().Before(next) {
		*blocked = check{reason: v1alpha1.DeletingReason, message: "taking the final etcd backup before deletion"}
		return false, time.Until(next), nil
	}
	s.o.checks[v1alpha1.EtcdAvailableCondition] = check{ok: meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.EtcdAvailableCondition)}
	c, err := r.startBackup(ctx, s, key, spec)
	if err != nil {
		return false, 0, err
	}
	if c != nil {
		*blocked = check{reason: c.reason, message: "the final backup before deletion cannot be taken (set annotation " +
			SkipFinalBackupAnnotation + "=true to delete without it): " + c.message}
		return false, backupRetryAfter, nil
	}
	*blocked = check{reason: v1alpha1.DeletingReason, message: "taking the final etcd backup before deletion"}
	return false, backupPoll, nil
}
