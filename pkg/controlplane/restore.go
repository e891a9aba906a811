package controlplane

import (
	"fmt"
	"strconv"
)

// EtcdRestore is what the restore pod needs to know of the backup.
type EtcdRestore struct {
	// Token tells the restored cluster from the one the backup was taken of (etcd derives
	// the cluster's ID from it): a member of the old cluster can never join the new one.
	Token string
	// Backup is the backup's name, on the restore pod (EtcdRestoreBackupAnnotation).
	Backup string
	// SnapshotBytes is the snapshot's size (the backup's signed manifest says it): the
	// restore pod's snapshot volume is bounded by it, so a restore never fills the node.
	SnapshotBytes int64
}

// Where the restore pod keeps the snapshot (an emptyDir) and what etcdutl is told.
const (
	// EtcdRestorePodSuffix names the restore pod: <name>-etcd-restore.
	EtcdRestorePodSuffix = "-restore"
	// EtcdRestoreReceiver is the restore pod's container the manager streams the snapshot
	// into; EtcdRestoreSnapshot is the file it appears as.
	EtcdRestoreReceiver = "receive"
	EtcdRestoreSnapshot = "/snapshot/snapshot.db"
	// EtcdRestoreRevisionBump is added to the backup's revisions: no watcher of the old
	// cluster, and no client's cached resourceVersion, ever sees one go back (etcd #16028;
	// kubeadm's and etcd's own advice is a large bump and marking it compacted).
	EtcdRestoreRevisionBump = 1_000_000_000
	// EtcdRestoreBackupAnnotation on the restore pod names the backup it restores: a pod of
	// an earlier restore is never taken for this one's.
	EtcdRestoreBackupAnnotation = "kubeseed.io/restore-backup"
)

// EtcdRestorePodName is the restore pod's name.
func EtcdRestorePodName(cluster string) string {
	return Etcd.ObjectName(cluster) + EtcdRestorePodSuffix
}

// EtcdDataClaimName is the PersistentVolumeClaim of etcd member i, as the StatefulSet's
// claim template "data" names it.
func EtcdDataClaimName(cluster string, i int) string { return "data-" + EtcdMemberName(cluster, i) }

// EtcdRestoreReceiveCommand is what the manager runs in the receiver to write a snapshot of
// size bytes (trailer included) whose database has SHA-256 sum: the tunnel image's
// binary, its entrypoint.
func EtcdRestoreReceiveCommand(size int64, sum string) []string {
	return []string{"/kubeseed-tunnel", "receive", "--file", EtcdRestoreSnapshot, "--write",
		"--size", strconv.FormatInt(size, 10), "--sha256", sum}
}

// EtcdRestoreArgs restore the snapshot into member 0's data directory as the only member of
// a new cluster (the controller grows it to the spec's size as it grows any cluster).
func EtcdRestoreArgs(cluster, namespace, token string) []string {
	member, peer := EtcdMemberName(cluster, 0), EtcdPeerURL(cluster, namespace, 0)
	return []string{
		"snapshot", "restore", EtcdRestoreSnapshot,
		"--name=" + member,
		"--initial-cluster=" + member + "=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster-token=" + token,
		"--data-dir=" + etcdDataDir,
		fmt.Sprintf("--bump-revision=%d", EtcdRestoreRevisionBump),
		"--mark-compacted",
	}
}

// etcdRestoreValues are the restore pod's values: enabled only with in.EtcdRestore.
func etcdRestoreValues(cluster, namespace string, in Inputs) EtcdRestoreValues {
	if in.EtcdRestore == nil {
		return EtcdRestoreValues{Args: []string{}}
	}
	return EtcdRestoreValues{
		Enabled:       true,
		Backup:        in.EtcdRestore.Backup,
		ReceiverImage: wipeImage(in),
		Args:          EtcdRestoreArgs(cluster, namespace, in.EtcdRestore.Token),
		SnapshotSize:  snapshotVolumeSize(in.EtcdRestore.SnapshotBytes),
	}
}

// snapshotVolumeSize bounds the restore pod's snapshot volume: the snapshot rounded up to a
// MiB, and a MiB more for the filesystem's own.
func snapshotVolumeSize(n int64) string {
	return strconv.FormatInt((n+(1<<20)-1)>>20+1, 10) + "Mi"
}

// wipeImage is kubeseed's tunnel image, which carries the etcd pods' helpers (`receive`,
// `wipe`): the one the tunnel runs, unless that is konnectivity's.
func wipeImage(in Inputs) string {
	if in.TunnelServer == TunnelServerKonnectivity {
		return TunnelImage(in.ImageRegistry) // TunnelImage is konnectivity's then
	}
	return orDefault(in.TunnelImage, TunnelImage(in.ImageRegistry))
}

// etcdWipeImage is the etcd pods' wipe image: the live one while etcd's image stays what it
// is (an etcd upgrade rolls the members anyway, and takes this release's then).
func etcdWipeImage(in Inputs, etcd string) string {
	if live := in.EtcdLiveImages; live.Wipe != "" && live.Etcd == etcd {
		return live.Wipe
	}
	return wipeImage(in)
}
