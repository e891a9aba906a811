package controlplane

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// etcdMaxUnavailable keeps a quorum through voluntary disruptions: n members survive the
// loss of (n-1)/2. A single member has no quorum to keep, and a budget of 0 would block
// every drain of its node forever; it gets 1 and is simply down while it moves. Two members
// exist only while growing to three, and cannot lose one: drains wait for the third.
func etcdMaxUnavailable(replicas int32) int32 {
	if replicas == 1 {
		return 1
	}
	return (replicas - 1) / 2
}

// maxEtcdMembers is the largest cluster the spec allows.
const maxEtcdMembers = 5

// etcdSizeOf is the StatefulSet's size and the member count of ETCD_INITIAL_CLUSTER: the
// spec's at bootstrap, what the controller observed while it grows the cluster. It never
// lowers a size on its own; the spec cannot either.
func etcdSizeOf(desired int32, in Inputs) (replicas, members int32, err error) {
	replicas, members = desired, in.EtcdMembers
	if in.EtcdReplicas != 0 {
		replicas = in.EtcdReplicas
	}
	if members == 0 {
		members = replicas
	}
	if replicas < 1 || replicas > maxEtcdMembers || members < replicas || members > maxEtcdMembers {
		return 0, 0, fmt.Errorf("observed etcd size of %d pods and %d members is out of range", replicas, members)
	}
	return replicas, members, nil
}

var minEtcdStorage = resource.MustParse("1Gi")

func etcdStorageOf(s v1alpha1.EtcdStorageSpec) (EtcdStorageValue, error) {
	size := resource.MustParse(defaultEtcdStorage)
	if s.Size != nil {
		size = s.Size.DeepCopy()
	}
	if size.Cmp(minEtcdStorage) < 0 {
		return EtcdStorageValue{}, invalid("spec.controlPlane.etcd.storage.size", "must be at least %s, not %s", minEtcdStorage.String(), size.String())
	}
	class := ""
	if s.StorageClassName != nil {
		class = *s.StorageClassName
	}
	return EtcdStorageValue{Size: size, StorageClassName: class}, nil
}

// etcdVolumesOf is the claim template the StatefulSet is rendered with (the live one's, see
// Inputs.EtcdClaimTemplate, else the spec's) and the size etcd's backend quota is computed
// from: the spec's, or the smallest observed volume when that is smaller.
func etcdVolumesOf(s v1alpha1.EtcdStorageSpec, in Inputs) (template EtcdStorageValue, quotaSize resource.Quantity, err error) {
	spec, err := etcdStorageOf(s)
	if err != nil {
		return EtcdStorageValue{}, resource.Quantity{}, err
	}
	template, quotaSize = spec, spec.Size.DeepCopy()
	if t := in.EtcdClaimTemplate; t != nil {
		if t.Size.IsZero() {
			return EtcdStorageValue{}, resource.Quantity{}, fmt.Errorf("the etcd StatefulSet's claim template has no storage request")
		}
		template = EtcdStorageValue{Size: t.Size.DeepCopy(), StorageClassName: t.StorageClassName}
	}
	if c := in.EtcdVolumeCapacity; c != nil && c.Cmp(quotaSize) < 0 {
		quotaSize = c.DeepCopy()
		if quotaSize.Cmp(minEtcdStorage) < 0 {
			quotaSize = minEtcdStorage.DeepCopy() // no claim of kubeseed's is smaller
		}
	}
	return template, quotaSize, nil
}

// EtcdStorageSize is the size each etcd member's volume should have, the spec's default
// applied; an invalid size is an *InvalidSpecError, as from ValuesFor.
func EtcdStorageSize(tc *v1alpha1.TenantCluster) (resource.Quantity, error) {
	s, err := etcdStorageOf(tc.Spec.ControlPlane.Etcd.Storage)
	return s.Size, err
}

// EtcdDataClaimTemplate is the name of the etcd StatefulSet's claim template; a member's
// PersistentVolumeClaim is "<template>-<StatefulSet>-<ordinal>".
const EtcdDataClaimTemplate = "data"

// DesiredEtcdMembers is the etcd member count the spec asks for, its default applied; an
// invalid count is an *InvalidSpecError, as from ValuesFor.
func DesiredEtcdMembers(tc *v1alpha1.TenantCluster) (int32, error) {
	return replicasOf(Etcd, tc.Spec.ControlPlane.Etcd.Replicas)
}

// EtcdRestoreFits says why a snapshot of snapshotBytes cannot be restored into the etcd
// spec.controlPlane.etcd.storage gives: its backend quota must hold the database, or etcd
// starts with its NOSPACE alarm raised. Empty when it fits.
func EtcdRestoreFits(tc *v1alpha1.TenantCluster, snapshotBytes int64) string {
	s, err := etcdStorageOf(tc.Spec.ControlPlane.Etcd.Storage)
	if err != nil {
		return err.Error()
	}
	quota := etcdQuotaBytes(s.Size)
	if snapshotBytes <= quota {
		return ""
	}
	if snapshotBytes > etcdMaxQuota {
		return fmt.Sprintf("its etcd database is %d bytes, more than etcd's largest backend quota (%d bytes)", snapshotBytes, int64(etcdMaxQuota))
	}
	// The quota is half of what the WAL leaves (etcdQuotaBytes): the smallest size that
	// holds the database, in whole GiB.
	need := (2*snapshotBytes + etcdWALReserve + (1<<30 - 1)) >> 30
	return fmt.Sprintf("its etcd database is %d bytes; spec.controlPlane.etcd.storage.size %s gives etcd a backend quota of %d bytes: set it to at least %dGi", snapshotBytes, s.Size.String(), quota, need)
}
