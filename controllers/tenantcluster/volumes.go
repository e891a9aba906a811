package tenantcluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// Growing etcd's volumes. A StatefulSet's volumeClaimTemplates are immutable, so the etcd
// StatefulSet keeps the claim template it was created with (Inputs.EtcdClaimTemplate) and a
// larger spec.controlPlane.etcd.storage.size is realised here, claim by claim: every
// member's PersistentVolumeClaim whose request is smaller is patched to the spec's size when
// its StorageClass allows volume expansion. A member added later (etcd growing to three)
// gets a claim of the template's, older, size from the StatefulSet controller, and is
// expanded by the same rule on a later reconcile.
//
// The claims and StorageClasses are watched (setup.go): a resize that completes, or a class
// that comes to allow expansion, reconciles again; requeueWhileExpanding is a backstop.
//
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch

// requeueWhileExpanding polls claims the seed's storage is resizing; requeueWhileBlocked
// polls one the seed refused to resize.
const requeueWhileExpanding = 30 * time.Second

// etcdVolumes is what the volumes of the etcd members showed and what was done about them.
type etcdVolumes struct {
	// claim is the live StatefulSet's claim template (Inputs.EtcdClaimTemplate); nil
	// without a StatefulSet.
	claim *controlplane.EtcdStorageValue
	// capacity is the smallest capacity a member's volume reports (Inputs.EtcdVolumeCapacity);
	// nil when none reports one.
	capacity *resource.Quantity
	// reason is one of the Volume* reasons; empty when every volume has the spec's size.
	reason, message string
}

// volumePatch raises one claim's storage request.
type volumePatch struct {
	claim string
	size  resource.Quantity
}

// planEtcdVolumes decides, without I/O, which member claims to expand to want and what to
// report. classes holds the StorageClasses the claims name (a missing one does not exist).
// Verdicts by precedence: a claim that cannot be expanded (VolumeExpansionNotSupported), one
// the seed failed to expand (VolumeExpansionFailed), one being expanded (VolumeExpanding);
// none when every claim has the size. Claims already at or above want are never patched.
func planEtcdVolumes(want resource.Quantity, claims []corev1.PersistentVolumeClaim, classes map[string]*storagev1.StorageClass) ([]volumePatch, etcdVolumes) {
	claims = slices.Clone(claims)
	slices.SortFunc(claims, func(a, b corev1.PersistentVolumeClaim) int { return strings.Compare(a.Name, b.Name) })
	var (
		v                                 etcdVolumes
		patches                           []volumePatch
		unsupported, kept, failed, resize []string
	)
	add := func(list []string, s string) []string {
		if slices.Contains(list, s) {
			return list
		}
		return append(list, s)
	}
	for _, pvc := range claims {
		if !pvc.DeletionTimestamp.IsZero() {
			continue
		}
		request := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		capacity, hasCapacity := pvc.Status.Capacity[corev1.ResourceStorage]
		if hasCapacity && (v.capacity == nil || capacity.Cmp(*v.capacity) < 0) {
			v.capacity = ptr.To(capacity.DeepCopy())
		}
		if request.Cmp(want) < 0 {
			if cause := expansionRefused(pvc, classes); cause != "" {
				unsupported, kept = add(unsupported, cause), add(kept, request.String())
				continue
			}
			patches = append(patches, volumePatch{claim: pvc.Name, size: want.DeepCopy()})
			resize = append(resize, resizing(pvc.Name, capacity, hasCapacity, "requested"))
			continue
		}
		if st := pvc.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; st == corev1.PersistentVolumeClaimControllerResizeInfeasible || st == corev1.PersistentVolumeClaimNodeResizeInfeasible {
			msg := fmt.Sprintf("PersistentVolumeClaim %s cannot be expanded to %s: %s", pvc.Name, request.String(), st)
			for _, c := range pvc.Status.Conditions {
				if (c.Type == corev1.PersistentVolumeClaimControllerResizeError || c.Type == corev1.PersistentVolumeClaimNodeResizeError) && c.Message != "" {
					msg += ": " + c.Message
				}
			}
			failed = append(failed, msg)
			continue
		}
		var pending []string
		for _, c := range pvc.Status.Conditions {
			if (c.Type == corev1.PersistentVolumeClaimResizing || c.Type == corev1.PersistentVolumeClaimFileSystemResizePending) && c.Status == corev1.ConditionTrue {
				pending = append(pending, string(c.Type))
			}
		}
		if len(pending) > 0 || (hasCapacity && capacity.Cmp(request) < 0) {
			resize = append(resize, resizing(pvc.Name, capacity, hasCapacity, strings.Join(pending, ", ")))
		}
	}
	switch {
	case len(unsupported) > 0:
		v.reason = v1alpha1.VolumeExpansionNotSupportedReason
		v.message = fmt.Sprintf("spec.controlPlane.etcd.storage.size %s: %s; the members keep %s",
			want.String(), strings.Join(unsupported, "; "), strings.Join(kept, ", "))
	case len(failed) > 0:
		v.reason, v.message = v1alpha1.VolumeExpansionFailedReason, strings.Join(failed, "; ")
	case len(resize) > 0:
		v.reason = v1alpha1.VolumeExpandingReason
		v.message = fmt.Sprintf("expanding the etcd volumes to %s: %s", want.String(), strings.Join(resize, ", "))
	}
	return patches, v
}

// expansionRefused says why a claim's volume cannot be expanded; empty when it can.
func expansionRefused(pvc corev1.PersistentVolumeClaim, classes map[string]*storagev1.StorageClass) string {
	name := ptr.Deref(pvc.Spec.StorageClassName, "")
	switch sc := classes[name]; {
	case name == "":
		return fmt.Sprintf("PersistentVolumeClaim %s has no StorageClass, so it cannot be expanded", pvc.Name)
	case sc == nil:
		return fmt.Sprintf("StorageClass %s of PersistentVolumeClaim %s does not exist, so it cannot be expanded", name, pvc.Name)
	case !ptr.Deref(sc.AllowVolumeExpansion, false):
		return fmt.Sprintf("StorageClass %s does not allow volume expansion (allowVolumeExpansion is not true)", name)
	}
	return ""
}

func resizing(claim string, capacity resource.Quantity, hasCapacity bool, detail string) string {
	var parts []string
	if hasCapacity {
		parts = append(parts, "capacity "+capacity.String())
	}
	if detail != "" {
		parts = append(parts, detail)
	}
	if len(parts) == 0 {
		return claim
	}
	return claim + " (" + strings.Join(parts, ", ") + ")"
}

// claimTemplateOf is the live StatefulSet's data claim template; nil without one.
func claimTemplateOf(sts *appsv1.StatefulSet) *controlplane.EtcdStorageValue {
	if sts == nil {
		return nil
	}
	for _, t := range sts.Spec.VolumeClaimTemplates {
		if t.Name == controlplane.EtcdDataClaimTemplate {
			return &controlplane.EtcdStorageValue{
				Size:             t.Spec.Resources.Requests[corev1.ResourceStorage],
				StorageClassName: ptr.Deref(t.Spec.StorageClassName, ""),
			}
		}
	}
	return nil
}

// isMemberClaim says whether a claim is one of the StatefulSet's members' data claims:
// "<template>-<StatefulSet>-<ordinal>".
func isMemberClaim(claim, sts string) bool {
	ordinal, ok := strings.CutPrefix(claim, controlplane.EtcdDataClaimTemplate+"-"+sts+"-")
	if !ok {
		return false
	}
	_, err := strconv.ParseUint(ordinal, 10, 32)
	return err == nil
}

// reconcileEtcdVolumes reads the members' claims and their StorageClasses, expands what
// planEtcdVolumes says, and returns what the render and EtcdAvailable need. A claim that
// cannot be expanded is reported (with a Warning event when that verdict is new), never an
// error: the rest of the control plane reconciles as usual.
func (r *Reconciler) reconcileEtcdVolumes(ctx context.Context, s *scope, sts *appsv1.StatefulSet) (etcdVolumes, error) {
	want, err := controlplane.EtcdStorageSize(s.tc)
	if err != nil || sts == nil {
		return etcdVolumes{}, nil // ValuesFor reports an invalid spec; a new StatefulSet has the spec's
	}
	list := &corev1.PersistentVolumeClaimList{}
	if err := r.Client.List(ctx, list, client.InNamespace(s.namespace())); err != nil {
		return etcdVolumes{}, fmt.Errorf("list etcd volume claims: %w", err)
	}
	claims := slices.DeleteFunc(list.Items, func(pvc corev1.PersistentVolumeClaim) bool { return !isMemberClaim(pvc.Name, sts.Name) })
	classes := map[string]*storagev1.StorageClass{}
	for _, pvc := range claims {
		name := ptr.Deref(pvc.Spec.StorageClassName, "")
		request := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if _, seen := classes[name]; seen || name == "" || request.Cmp(want) >= 0 {
			continue
		}
		sc, err := getOptional[storagev1.StorageClass](ctx, r, "", name)
		if err != nil {
			return etcdVolumes{}, err
		}
		classes[name] = sc
	}
	patches, v := planEtcdVolumes(want, claims, classes)
	v.claim = claimTemplateOf(sts)
	for _, p := range patches {
		if err := r.expandClaim(ctx, s.namespace(), p); err != nil {
			v.reason = v1alpha1.VolumeExpansionFailedReason
			v.message = fmt.Sprintf("expand PersistentVolumeClaim %s to %s: %v", p.claim, p.size.String(), err)
			break
		}
	}
	switch v.reason {
	case v1alpha1.VolumeExpandingReason:
		s.requeueAfter(requeueWhileExpanding)
	case v1alpha1.VolumeExpansionFailedReason:
		s.requeueAfter(requeueWhileBlocked)
	}
	r.warnOnVolumeVerdict(s.tc, v)
	return v, nil
}

// expandClaim raises one claim's storage request, and nothing else of it.
func (r *Reconciler) expandClaim(ctx context.Context, ns string, p volumePatch) error {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: p.claim}, pvc); err != nil {
		return err
	}
	if cur := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; cur.Cmp(p.size) >= 0 {
		return nil
	}
	patch := client.MergeFrom(pvc.DeepCopy())
	if pvc.Spec.Resources.Requests == nil {
		pvc.Spec.Resources.Requests = corev1.ResourceList{}
	}
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = p.size
	return r.Client.Patch(ctx, pvc, patch, client.FieldOwner(FieldOwner))
}

// warnOnVolumeVerdict emits a Warning event when expansion is newly impossible or failing:
// when the EtcdAvailable condition of the previous reconcile did not already say so (its
// reason may be etcd's own, with the volumes' words in its message).
func (r *Reconciler) warnOnVolumeVerdict(tc *v1alpha1.TenantCluster, v etcdVolumes) {
	if v.reason != v1alpha1.VolumeExpansionNotSupportedReason && v.reason != v1alpha1.VolumeExpansionFailedReason {
		return
	}
	if was := meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.EtcdAvailableCondition); was != nil && strings.Contains(was.Message, v.message) {
		return
	}
	r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, v.reason, "ExpandVolume", "%s", v.message)
}

// volumesCheck adds the volumes' verdict to EtcdAvailable. Volumes that are growing or cannot
// grow do not stop etcd from serving: a serving etcd stays True with the volumes' reason
// (as ScalingReason while members are added), so Ready and the requeue are unaffected; an
// etcd that does not serve keeps its own reason, and the volumes' words join its message.
func volumesCheck(c check, v etcdVolumes) check {
	if v.reason == "" {
		return c
	}
	if c.ok {
		c.reason, c.message = v.reason, v.message+"; "+c.message
	} else {
		c.message += "; " + v.message
	}
	return c
}
