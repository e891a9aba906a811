package tenantcluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/internal/cloud"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
	"github.com/kubeseed/kubeseed/pkg/pki"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;create;delete
// +kubebuilder:rbac:groups="",resources=pods/exec,verbs=create
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=create

// PodExec runs command in container of a seed pod with stdin and returns once it exits: how
// the restore's snapshot reaches its pod (pkg/podexec is the real one).
type PodExec func(ctx context.Context, namespace, pod, container string, command []string, stdin io.Reader) error

const (
	// restorePoll looks at the restore pod again: nothing watches pods.
	restorePoll = 2 * time.Second
	// restoreRetry waits before a failed step of a restore is tried again.
	restoreRetry = 30 * time.Second
)

// restoration is where spec.restore has the tenant in this reconcile.
type restoration struct {
	// active: etcd's data is being restored. Its StatefulSet is not rendered, the restore
	// pod is (its objects are restoreObjs, made by the restore, never applied: the applier
	// would prune the claim once it is the StatefulSet's), every other component is held.
	active bool
	// fresh: restored, and etcd's StatefulSet not made yet: it starts with the one member
	// the snapshot was restored into, and grows as any cluster grows.
	fresh bool
	// begin is recorded in status.restoring: the restore starts (restore_inplace.go).
	begin *v1alpha1.RestoreSpec
	// backupFirst: an in-place restore waits for a backup of the data it replaces. waiting
	// is what EtcdAvailable adds while a tenant whose etcd runs is not restored yet.
	backupFirst bool
	waiting     check
	src         *restoreSource
	// status is recorded once etcd's data is restored.
	status *v1alpha1.RestoreStatus
	// check is EtcdAvailable's while the restore runs or waits.
	check check
}

// restoreSource is the backup a tenant is restored from, opened.
type restoreSource struct {
	// tenant and spec are what it was opened for: the TenantCluster's UID and spec.restore.
	tenant types.UID
	spec   v1alpha1.RestoreSpec
	store  openstack.ObjectStore
	// ref is the store opened, as the spec says it; container and where are that store's.
	ref                      storeRef
	container, prefix, where string
	manifest                 backup.Manifest
	key                      []byte
	// keysMatch: the tenant's keys are the backup's (made from it, or compared once).
	keysMatch bool
}

// restoreKey is the backup runner's key of a tenant's snapshot stream.
func restoreKey(tc *v1alpha1.TenantCluster) string {
	return restoreKeyPrefix + tc.Namespace + "/" + tc.Name
}

const restoreKeyPrefix = "restore:"

// reconcileRestore restores spec.restore's backup: into a new tenant, or in place
// (restore_inplace.go). The keys first (its CAs, service-account key and encryption
// configuration, before the PKI phase would make new ones), then etcd's data
// (reconcileEtcdRestore). status.restoring records the restore before anything is
// stopped, and it runs to its end from there; once restored and etcd's StatefulSet made,
// the backup is not read again.
func (r *Reconciler) reconcileRestore(ctx context.Context, s *scope) (bool, error) {
	tc := s.tc
	target := restoreTarget(tc)
	if target == nil && tc.Spec.Restore == nil {
		return false, nil
	}
	sts, err := getOptional[appsv1.StatefulSet](ctx, r, s.namespace(), controlplane.Etcd.ObjectName(tc.Name))
	if err != nil {
		return true, err
	}
	begun := tc.Status.Restoring != nil
	if sts != nil && !begun && (target == nil || !target.InPlace || tc.Spec.Hibernated || !s.o.hibernation.serving()) {
		return false, nil // etcd runs on the restored data (an in-place restore waits for a hibernating tenant to wake)
	}
	key := restoreKey(tc)
	if target == nil {
		// Restored: etcd starts once no restore pod is left that could write its volume.
		r.restores.forget(key)
		gone, err := r.removeRestorePod(ctx, s)
		if err != nil {
			return true, err
		}
		if !gone {
			s.o.blocked = check{reason: v1alpha1.RestoringReason, message: "etcd's data is restored; waiting for the restore pod to go before etcd starts on it"}
			s.requeueAfter(time.Second)
			return true, nil
		}
		// Its StatefulSet starts with the one member restored, unless etcd ran and grew
		// since (its cluster ConfigMap lists more): a StatefulSet deleted later comes back
		// as large as it was, its members on their own data.
		cm, err := getOptional[corev1.ConfigMap](ctx, r, s.namespace(), controlplane.EtcdClusterConfigMapName(tc.Name))
		if err != nil {
			return true, err
		}
		s.o.restore.fresh = listedMembers(cm) <= 1
		return false, nil
	}
	src, c, err := r.restores.source(key, tc, *target), (*check)(nil), error(nil)
	if src == nil {
		if src, c, err = r.openRestoreSource(ctx, s, *target); src != nil {
			r.restores.keep(key, src)
		}
	}
	if err == nil && c == nil {
		c, err = r.restoreKeys(ctx, s, src)
	}
	if err != nil {
		return true, err
	}
	if c != nil {
		return r.restoreRefused(s, sts, *c)
	}
	if begun && *tc.Status.Restoring != *target {
		// spec.restore names another backup than the one under way: it is the restore
		// now (a pod of the other backup is removed, and its receiver wipes the claim).
		s.o.restore.begin = target
	}
	if !begun {
		if sts != nil && r.awaitsPreRestoreBackup(tc) {
			// In place: the data it replaces is backed up first, while etcd serves it.
			s.o.restore.backupFirst = true
			s.requeueAfter(restoreRetry)
			s.o.restore.waiting = check{reason: v1alpha1.RestoringReason, message: fmt.Sprintf(
				"backup %s is restored in place once a backup of the data it replaces is written (condition BackedUp says how it goes; annotation %s=true restores without it)",
				src.manifest.Name, SkipPreRestoreBackupAnnotation)}
			return false, nil
		}
		s.o.restore.begin = target
		if sts != nil {
			// Recorded first, stopped at the next reconcile: once etcd goes, this restore
			// runs to its end, unless the spec names yet another backup, which takes over.
			r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, "RestoringInPlace", "Restore",
				"replacing etcd's data with backup %s: the apiservers and controllers stop, etcd's members and volumes are made anew from the backup", src.manifest.Name)
			s.o.restore.waiting = check{reason: v1alpha1.RestoringReason, message: fmt.Sprintf("restoring backup %s in place: stopping the control plane and etcd", src.manifest.Name)}
			s.requeueAfter(time.Second)
			return false, nil
		}
	}
	s.o.restore.active, s.o.restore.src = true, src
	s.o.restore.check = check{reason: v1alpha1.RestoringReason, message: "restoring etcd from backup " + src.manifest.Name}
	return false, nil
}

// openRestoreSource reads the manifest of spec.restore's backup and the backup key it names.
// The manifest is the customer's (their container): its tenant UID is trusted only through
// the key Secret, which must be a key of a tenant of this namespace and name.
func (r *Reconciler) openRestoreSource(ctx context.Context, s *scope, target v1alpha1.RestoreSpec) (*restoreSource, *check, error) {
	tc := s.tc
	failed := func(format string, args ...any) (*restoreSource, *check, error) {
		return nil, &check{reason: v1alpha1.RestoreFailedReason, message: fmt.Sprintf(format, args...)}, nil
	}
	cctx, cancel := cloud.WithDeadline(ctx)
	defer cancel()
	ref := restoreStoreRef(tc, target)
	store, bad, err := r.openBackupStore(cctx, s, ref)
	if store == nil {
		if bad != nil && bad.reason == v1alpha1.BackupFailedReason {
			return failed("%s: spec.restore cannot read the backup", bad.message)
		} else if bad != nil {
			bad.message = "reading the backup to restore: " + bad.message
		}
		return nil, bad, err
	}
	src := &restoreSource{tenant: tc.UID, spec: target, ref: ref, store: store.objects, container: store.container, where: store.where, prefix: backupPrefix(tc)}
	name := target.Backup
	src.manifest, err = backup.ReadManifest(cctx, src.store, src.container, src.prefix, name)
	switch {
	case openstack.IsNotFound(err):
		return failed("backup %s of %s/%s is not in %s (no %s%s/%s): spec.restore.backup must name a complete backup (kubeseed backup list %s -n %s)",
			name, tc.Namespace, tc.Name, src.where, src.prefix, name, backup.ManifestObject, tc.Name, tc.Namespace)
	case openstack.IsTransient(err):
		return nil, &check{reason: v1alpha1.CloudUnavailableReason, message: fmt.Sprintf("read backup %s from %s, retrying: %s", name, src.where, ref.say(ctx, err))}, nil
	case err != nil:
		return failed("read backup %s from %s: %s", name, src.where, ref.say(ctx, err))
	}
	// The manifest is the customer's until its key's MAC says otherwise: its tenant UID
	// only names which key to try, and must be a UID (it becomes a Secret's name).
	if uuid.Validate(src.manifest.TenantUID) != nil {
		return failed("backup %s's manifest names no tenant UID: it is not a manifest kubeseed wrote", name)
	}
	keyName := backup.KeySecretName(src.manifest.TenantUID)
	ns := r.managerNamespace()
	sec := &corev1.Secret{}
	err = r.apiReader().Get(ctx, client.ObjectKey{Namespace: ns, Name: keyName}, sec)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("read backup key %s/%s: %w", ns, keyName, err)
	}
	// One answer for a missing key and another tenant's: the customer learns nothing of
	// the seed's other tenants from a manifest they wrote.
	tenant, ours := tc.Namespace+"/"+tc.Name, false
	if err == nil && sec.Annotations[backup.KeyTenantUIDAnnotation] == src.manifest.TenantUID && sec.Annotations[backup.KeyTenantAnnotation] == tenant {
		if ours, err = r.keyOfThisNamespace(ctx, ref, sec, tc); err != nil {
			return nil, nil, err
		}
	}
	if !ours {
		return failed("no backup key of a TenantCluster %s with UID %s, which backup %s names, is in the manager's namespace: only a backup of an earlier TenantCluster of this namespace and name is restored; if it is one, an admin restores its key (Secret %s) from the export of the backup keys (docs/backups.md)",
			tenant, src.manifest.TenantUID, name, keyName)
	}
	if len(sec.Data[backup.KeyField]) != backup.KeySize {
		return failed("the backup key Secret %s/%s holds no %d-byte key %q: an admin restores it from the export (docs/backups.md)", ns, keyName, backup.KeySize, backup.KeyField)
	}
	src.key = sec.Data[backup.KeyField]
	if !src.manifest.Signed() {
		return failed("backup %s was written by an earlier kubeseed, whose manifests were not signed (format %d): it is not restored automatically; an admin can download it (kubeseed backup download) and restore it by hand, or restore a later backup", name, src.manifest.Format)
	}
	if err := src.manifest.Verify(src.key); err != nil {
		return failed("backup %s: %v", name, err)
	}
	if msg := restoreVersionSkew(src.manifest.KubernetesVersion, tc.Spec.Version); msg != "" {
		return failed("backup %s: %s", name, msg)
	}
	if msg := controlplane.EtcdRestoreFits(tc, src.manifest.SnapshotBytes); msg != "" {
		return failed("backup %s: %s", name, msg)
	}
	return src, nil, nil
}

// restoreKeys creates the control-plane Secrets a backup keeps (backupKeySecrets) from it,
// those that do not exist yet. One that exists with other data is refused: the tenant made
// it before its restore, and its data would not open the backup's. In place, every one
// exists and each is compared, once per opened backup.
func (r *Reconciler) restoreKeys(ctx context.Context, s *scope, src *restoreSource) (*check, error) {
	tc := s.tc
	live := map[string]*corev1.Secret{}
	for _, sec := range backupKeySecrets {
		name := sec.Name(tc.Name)
		got := &corev1.Secret{}
		switch err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: s.namespace(), Name: name}, got); {
		case err == nil:
			live[name] = got
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("read Secret %s: %w", name, err)
		}
	}
	if src.keysMatch {
		return nil, nil
	}
	cctx, cancel := cloud.WithDeadline(ctx)
	defer cancel()
	keys, err := backup.ReadKeys(cctx, src.store, src.container, src.prefix, src.manifest, src.key)
	if err != nil {
		return &check{reason: v1alpha1.RestoreFailedReason, message: fmt.Sprintf("read the keys of backup %s: %s", src.manifest.Name, src.ref.say(ctx, err))}, nil
	}
	for _, sec := range backupKeySecrets {
		name := sec.Name(tc.Name)
		want, err := pki.RestoredSecret(tc, sec, keys[name], time.Now())
		if err != nil {
			return &check{reason: v1alpha1.RestoreFailedReason, message: fmt.Sprintf("backup %s: %v", src.manifest.Name, err)}, nil
		}
		if got := live[name]; got != nil {
			for k, v := range want.Data {
				switch {
				case bytes.Equal(got.Data[k], v):
				case k != corev1.TLSPrivateKeyKey && k != controlplane.EncryptionConfigKey:
					// The keys are what the data and clients depend on; a certificate
					// around the same key may have been renewed since the backup.
				case src.spec.InPlace:
					return &check{reason: v1alpha1.RestoreFailedReason, message: fmt.Sprintf("backup %s was taken with another %s in Secret %s than this tenant has: it is a backup of another tenant (its data could not be read with this tenant's keys), and only a tenant's own backups are restored in place; restore it into a new TenantCluster instead", src.manifest.Name, k, name)}, nil
				default:
					return &check{reason: v1alpha1.RestoreFailedReason, message: fmt.Sprintf("Secret %s/%s exists with another %s than backup %s's: the tenant made its own before its restore; delete the TenantCluster and create it again with spec.restore", s.namespace(), name, k, src.manifest.Name)}, nil
				}
			}
			continue
		}
		if err := r.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create Secret %s from backup %s: %w", name, src.manifest.Name, err)
		}
	}
	created := len(live) < len(backupKeySecrets)
	src.keysMatch = true // the source is kept: compared once
	if !created {
		return nil, nil
	}
	r.Recorder.Eventf(tc, nil, corev1.EventTypeNormal, "KeysRestored", "Restore",
		"restored the CAs, service-account key and encryption key of backup %s (tenant UID %s)", src.manifest.Name, src.manifest.TenantUID)
	return nil, nil
}

// reconcileEtcdRestore runs the restore pod the apply rendered: it makes the first member's
// claim and the pod, streams the backup's snapshot into the pod's receiver (off the
// reconcile, on the backup runner), and records the restore once etcdutl has succeeded. A
// failed pod is replaced; its receiver wipes what the failed attempt left.
func (r *Reconciler) reconcileEtcdRestore(ctx context.Context, s *scope) (bool, error) {
	ro := &s.o.restore
	if !ro.active {
		if w := ro.waiting; w.reason != "" {
			// etcd serves meanwhile: its own check stays, the wait is told beside it.
			c := s.o.checks[v1alpha1.EtcdAvailableCondition]
			if c.ok {
				c.reason = w.reason
			}
			if c.message == "" {
				c.message = w.message
			} else {
				c.message = w.message + "; " + c.message
			}
			s.o.checks[v1alpha1.EtcdAvailableCondition] = c
		}
		return false, nil
	}
	tc := s.tc
	defer func() { s.o.checks[v1alpha1.EtcdAvailableCondition] = ro.check }()
	s.requeueAfter(restorePoll)
	pod := &corev1.Pod{}
	err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: s.namespace(), Name: controlplane.EtcdRestorePodName(tc.Name)}, pod)
	if apierrors.IsNotFound(err) {
		// In place, the old members go first: their pods would write, and a claim of
		// theirs would be taken for the first member's.
		if left, err := r.etcdLeftovers(ctx, s); err != nil {
			return true, err
		} else if left != "" {
			ro.check.message = fmt.Sprintf("restoring etcd from backup %s in place: waiting for the etcd it replaces to go (%s)", ro.src.manifest.Name, left)
			return false, nil
		}
		if err := r.createRestoreObjects(ctx, s); err != nil {
			return true, err
		}
		ro.check.message = fmt.Sprintf("restoring etcd from backup %s: starting the restore pod", ro.src.manifest.Name)
		return false, nil
	} else if err != nil {
		return true, fmt.Errorf("read the restore pod: %w", err)
	}
	m := ro.src.manifest
	key := restoreKey(tc)
	if lost, err := r.restoreNodeLost(ctx, pod); err != nil || lost != "" {
		if err != nil {
			return true, err
		}
		// Its status is the kubelet's last word and stays so: nothing would end it.
		ro.check = check{reason: v1alpha1.RestoreFailedReason, message: fmt.Sprintf("the restore pod %s was on node %s, which %s; a new one is made", pod.Name, pod.Spec.NodeName, lost)}
		r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, "RestoreFailed", "Restore", "%s", ro.check.message)
		return false, r.forceDeletePod(ctx, pod)
	}
	if b := pod.Annotations[controlplane.EtcdRestoreBackupAnnotation]; b != m.Name {
		// A pod of an earlier restore (status.restoring changed since): its result is not
		// this restore's; its receiver wipes what it left in the claim.
		ro.check.message = fmt.Sprintf("restoring etcd from backup %s: removing the restore pod of backup %q", m.Name, b)
		if err := r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return true, fmt.Errorf("delete the restore pod of another backup: %w", err)
		}
		return false, nil
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		ro.status = &v1alpha1.RestoreStatus{Backup: m.Name, TenantUID: m.TenantUID, Revision: m.Revision, CompletedTime: &metav1.Time{Time: time.Now().Truncate(time.Second)}}
		ro.check.message = fmt.Sprintf("etcd's data is restored from backup %s (revision %d); etcd starts", m.Name, m.Revision)
		r.Backups.Forget(key)
		return false, nil
	case corev1.PodFailed:
		// Kept restoreRetry after it failed, so the cause stays in the condition and a
		// failure that recurs does not pull the snapshot from Swift again at once.
		retryIn := restoreRetry - time.Since(podFailedAt(pod))
		ro.check = check{reason: v1alpha1.RestoreFailedReason, message: fmt.Sprintf("the restore pod %s failed (%s); a new one is made within %s", pod.Name, podFailure(pod), restoreRetry)}
		if retryIn > 0 {
			s.requeueAfter(retryIn)
			return false, nil
		}
		r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, "RestoreFailed", "Restore", "%s", ro.check.message)
		if err := r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
			return true, fmt.Errorf("delete the failed restore pod: %w", err)
		}
		return false, nil
	}
	if !receiverRunning(pod) {
		ro.check.message = fmt.Sprintf("restoring etcd from backup %s: %s", m.Name, restorePodProgress(pod))
		return false, nil
	}
	res, finished, running := r.Backups.State(key)
	streamed := finished && res.Err == nil && r.restores.pod(key) == pod.UID
	switch {
	case running:
		ro.check.message = fmt.Sprintf("restoring etcd from backup %s: streaming its snapshot (%d bytes) into pod %s", m.Name, m.SnapshotBytes, pod.Name)
	case streamed:
		ro.check.message = fmt.Sprintf("restoring etcd from backup %s: the snapshot is in pod %s", m.Name, pod.Name)
	case finished && res.Err != nil && time.Since(res.Started.Add(res.Duration)) < restoreRetry:
		ro.check = check{reason: v1alpha1.RestoreFailedReason, message: fmt.Sprintf("streaming the snapshot of backup %s into pod %s failed, retrying: %s", m.Name, pod.Name, ro.src.ref.say(ctx, res.Err))}
	default:
		r.streamSnapshot(s, key, pod)
		ro.check.message = fmt.Sprintf("restoring etcd from backup %s: streaming its snapshot (%d bytes) into pod %s", m.Name, m.SnapshotBytes, pod.Name)
	}
	return false, nil
}

// streamSnapshot starts streaming the snapshot into pod's receiver: decrypted and checked
// while read from Swift (backup.ReadSnapshot), checked again by the receiver, which keeps
// it only whole. The pod it goes into is noted, so a stream into an earlier pod never
// counts for a new one.
func (r *Reconciler) streamSnapshot(s *scope, key string, pod *corev1.Pod) {
	src, ns, name := s.o.restore.src, pod.Namespace, pod.Name
	exec := r.PodExec
	r.restores.note(key, pod.UID)
	r.Backups.SubmitFunc(key, func(ctx context.Context) error {
		if exec == nil {
			return fmt.Errorf("the manager was started without a pod executor")
		}
		pr, pw := io.Pipe()
		go func() {
			_, err := backup.ReadSnapshot(ctx, src.store, src.container, src.prefix, src.manifest, src.key, pw)
			pw.CloseWithError(err)
		}()
		err := exec(ctx, ns, name, controlplane.EtcdRestoreReceiver,
			controlplane.EtcdRestoreReceiveCommand(src.manifest.SnapshotBytes, src.manifest.SnapshotSHA256), pr)
		_ = pr.CloseWithError(io.ErrClosedPipe) // ends ReadSnapshot if the exec ended first
		if err != nil {
			return fmt.Errorf("stream into pod %s: %w", name, err)
		}
		return nil
	})
}

// createRestoreObjects makes the first member's claim and the restore pod as rendered.
func (r *Reconciler) createRestoreObjects(ctx context.Context, s *scope) error {
	for _, o := range s.restoreObjs {
		if err := r.Client.Create(ctx, o.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s %s of the restore: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

// removeRestorePod deletes the restore pod if it is left and says whether it is gone.
func (r *Reconciler) removeRestorePod(ctx context.Context, s *scope) (bool, error) {
	pod := &corev1.Pod{}
	err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: s.namespace(), Name: controlplane.EtcdRestorePodName(s.tc.Name)}, pod)
	if apierrors.IsNotFound(err) {
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("read the restore pod: %w", err)
	}
	if pod.DeletionTimestamp.IsZero() {
		if err := r.Client.Delete(ctx, pod); client.IgnoreNotFound(err) != nil {
			return false, fmt.Errorf("delete the restore pod: %w", err)
		}
		return false, nil
	}
	// A pod on a lost node is never confirmed gone by its kubelet.
	if lost, err := r.restoreNodeLost(ctx, pod); err != nil || lost == "" {
		return false, err
	}
	return false, r.forceDeletePod(ctx, pod)
}

// restoreVersionSkew says why a backup taken at Kubernetes version from cannot be restored
// under spec.version to: an apiserver older than the data's, or more than one minor newer
// (what an upgrade allows), would read objects stored in versions it does not know, or
// skip the storage migrations of a minor. Empty when it can.
func restoreVersionSkew(from, to string) string {
	f, err := versions.Parse(from)
	if err != nil {
		return "" // an older backup without the version: the apiserver says what it cannot read
	}
	t, err := versions.Parse(to)
	if err != nil {
		return ""
	}
	switch {
	case t.Major != f.Major || t.Minor < f.Minor:
		return fmt.Sprintf("it was taken at Kubernetes %s; spec.version %s would run an older kube-apiserver on its data: set spec.version to at least v%d.%d", from, to, f.Major, f.Minor)
	case t.Minor > f.Minor+1:
		return fmt.Sprintf("it was taken at Kubernetes %s; spec.version %s skips a minor version: restore at v%d.%d or v%d.%d, then upgrade", from, to, f.Major, f.Minor, f.Major, f.Minor+1)
	}
	return ""
}
