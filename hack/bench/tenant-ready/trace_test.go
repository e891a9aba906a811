package main

import (
	"slices"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

func cert(name string, ready bool) cmv1.Certificate {
	c := cmv1.Certificate{ObjectMeta: metav1.ObjectMeta{Name: name}}
	status := cmmeta.ConditionFalse
	if ready {
		status = cmmeta.ConditionTrue
	}
	c.Status.Conditions = []cmv1.CertificateCondition{{Type: cmv1.CertificateConditionReady, Status: status}}
	return c
}

// pod is etcd member 0 at a stage: 0 created, 1 scheduled, 2 container started, 3 ready.
func pod(uid string, stage int) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b-etcd-0", UID: types.UID(uid)}}
	if stage >= 1 {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
	}
	cs := corev1.ContainerStatus{Name: "etcd", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}
	if stage >= 2 {
		// started=true with no running state yet still counts as started.
		cs.Started = ptr.To(true)
	}
	if stage >= 3 {
		cs.State, cs.Ready = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, true
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	return p
}

func tenantWith(conds ...string) *v1alpha1.TenantCluster {
	tc := &v1alpha1.TenantCluster{}
	for _, c := range conds {
		tc.Status.Conditions = append(tc.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue})
	}
	return tc
}

func TestMilestones(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	type look struct {
		at time.Duration
		s  snapshot
	}
	tests := []struct {
		name    string
		looks   []look
		marks   []look // the bench's own marks, by time (text "readyz")
		verbose bool
		want    []string
	}{{
		name: "first and last certificate; a later False does not undo Ready",
		looks: []look{
			{ms(100), snapshot{Certs: []cmv1.Certificate{cert("b-ca", false), cert("b-etcd", false)}}},
			{ms(250), snapshot{Certs: []cmv1.Certificate{cert("b-ca", true), cert("b-etcd", false), cert("b-sa", true)}}},
			{ms(400), snapshot{Certs: []cmv1.Certificate{cert("b-ca", false), cert("b-etcd", true), cert("b-sa", true)}}},
		},
		want: []string{
			"    +0.250s  certificate b-ca Ready (first of 3)",
			"    +0.400s  certificate b-etcd Ready (last of 3)",
		},
	}, {
		name: "verbose lists every certificate; one never Ready is named and no last is claimed",
		looks: []look{
			{ms(100), snapshot{Certs: []cmv1.Certificate{cert("b-ca", true), cert("b-sa", true), cert("b-etcd", false)}}},
		},
		verbose: true,
		want: []string{
			"    +0.100s  certificate b-ca Ready (first of 3)",
			"    +0.100s  certificate b-sa Ready",
			"  1 of 3 certificates never Ready: b-etcd",
		},
	}, {
		name: "a pod's steps at their first sighting, skipped steps seen together, kept when they regress",
		looks: []look{
			{ms(1000), snapshot{Pods: []corev1.Pod{pod("u1", 0)}}},
			{ms(1050), snapshot{Pods: []corev1.Pod{func() corev1.Pod {
				p := pod("u1", 0)
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available"}}
				return p
			}()}}},
			{ms(1100), snapshot{Pods: []corev1.Pod{pod("u1", 2)}}},
			{ms(1200), snapshot{Pods: []corev1.Pod{pod("u1", 1)}}},
			{ms(2500), snapshot{Pods: []corev1.Pod{pod("u1", 3)}}},
		},
		want: []string{
			"    +1.000s  pod b-etcd-0 created",
			"    +1.050s  pod b-etcd-0 unschedulable: 0/1 nodes are available",
			"    +1.100s  pod b-etcd-0 scheduled",
			"    +1.100s  pod b-etcd-0 container etcd started",
			"    +2.500s  pod b-etcd-0 container etcd ready",
			"    +2.500s  pod b-etcd-0 Ready",
		},
	}, {
		name: "a pod recreated under its name is traced again; a restart is a milestone",
		looks: []look{
			{ms(100), snapshot{Pods: []corev1.Pod{pod("u1", 0)}}},
			{ms(300), snapshot{Pods: []corev1.Pod{func() corev1.Pod {
				p := pod("u2", 2)
				p.Status.ContainerStatuses[0].RestartCount = 1
				return p
			}()}}},
		},
		want: []string{
			"    +0.100s  pod b-etcd-0 created",
			"    +0.300s  pod b-etcd-0 recreated",
			"    +0.300s  pod b-etcd-0 scheduled",
			"    +0.300s  pod b-etcd-0 container etcd started",
			"    +0.300s  pod b-etcd-0 container etcd restarted",
		},
	}, {
		name: "sorted by time across kinds, whatever the order observed; conditions only with -v",
		looks: []look{
			{ms(12000), snapshot{Tenant: tenantWith(v1alpha1.EtcdAvailableCondition, v1alpha1.ReadyCondition)}},
			{ms(50), snapshot{Namespace: true}},
			{ms(9000), snapshot{Kubeconfig: true, PVCs: []corev1.PersistentVolumeClaim{
				{ObjectMeta: metav1.ObjectMeta{Name: "data-b-etcd-0", UID: "p1"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
			}}},
			{ms(9100), snapshot{Namespace: true, Kubeconfig: true, PVCs: []corev1.PersistentVolumeClaim{
				{ObjectMeta: metav1.ObjectMeta{Name: "data-b-etcd-0", UID: "p1"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
			}}},
		},
		marks: []look{{at: ms(10500)}},
		want: []string{
			"    +0.050s  control-plane namespace created",
			"    +9.000s  admin kubeconfig Secret published",
			"    +9.100s  pvc data-b-etcd-0 Bound",
			"   +10.500s  readyz",
			"   +12.000s  TenantCluster Ready",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMilestones()
			for _, l := range tt.looks {
				m.observe(l.s, l.at)
			}
			for _, l := range tt.marks {
				m.mark("readyz", l.at, "readyz", false)
			}
			if got := m.lines(tt.verbose); !slices.Equal(got, tt.want) {
				t.Errorf("lines:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func TestMilestonesVerboseConditions(t *testing.T) {
	m := newMilestones()
	m.observe(snapshot{Tenant: tenantWith(v1alpha1.EtcdAvailableCondition)}, time.Second)
	m.observe(snapshot{Tenant: tenantWith(v1alpha1.EtcdAvailableCondition, v1alpha1.ReadyCondition)}, 2*time.Second)
	want := []string{
		"    +1.000s  TenantCluster " + v1alpha1.EtcdAvailableCondition,
		"    +2.000s  TenantCluster Ready",
	}
	if got := m.lines(true); !slices.Equal(got, want) {
		t.Errorf("lines:\n%q\nwant:\n%q", got, want)
	}
}
