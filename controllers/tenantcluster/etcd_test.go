package tenantcluster

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/health"
)

func TestEtcdCheck(t *testing.T) {
	sts := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2)}}
	sts.Name = "acme-etcd"
	sts.Status.ReadyReplicas = 1 // the learner's pod is not ready
	voter := etcd.Member{ID: 1, Name: "acme-etcd-0", Healthy: true}
	learner := etcd.Member{ID: 2, Name: "acme-etcd-1", IsLearner: true, Healthy: true}
	promote := etcd.Step{Action: etcd.Promote, Voting: 1, Desired: 3, Reason: "promoting learner acme-etcd-1"}
	blocked := etcd.Step{Action: etcd.Blocked, Voting: 1, Desired: 3, Reason: "a stranger"}
	for _, c := range []struct {
		name        string
		m           etcdMembership
		wantOK      bool
		wantReason  string
		wantMessage string
		wantRequeue time.Duration
	}{
		{"not growing: the StatefulSet decides", etcdMembership{}, false, v1alpha1.ProgressingReason, "StatefulSet acme-etcd: 1 of 2", 0},
		{"growing: etcd's voting quorum decides", etcdMembership{growing: true, step: &promote, observed: []etcd.Member{voter, learner}},
			true, v1alpha1.ScalingReason, "scaling etcd: 1 of 3 members, promoting learner acme-etcd-1; StatefulSet", requeueWhileScaling},
		{"growing without a healthy voter", etcdMembership{growing: true, step: &promote, observed: []etcd.Member{{ID: 1, Name: "acme-etcd-0"}, learner}},
			false, v1alpha1.ProgressingReason, "scaling etcd: 1 of 3", requeueWhileScaling},
		{"etcd unreachable while growing", etcdMembership{growing: true, problem: "connect: refused"},
			false, v1alpha1.ProgressingReason, "scaling etcd: connect: refused; StatefulSet", requeueWhileScaling},
		{"blocked", etcdMembership{growing: true, step: &blocked, observed: []etcd.Member{voter}},
			true, v1alpha1.ScalingReason, "a stranger", requeueWhileBlocked},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := etcdCheck(toCheck(health.StatefulSet(sts)), c.m)
			if got.ok != c.wantOK || got.reason != c.wantReason || !strings.Contains(got.message, c.wantMessage) {
				t.Errorf("etcdCheck = %+v, want ok=%t reason %s message containing %q", got, c.wantOK, c.wantReason, c.wantMessage)
			}
			if r := c.m.requeueFor(); r != c.wantRequeue {
				t.Errorf("requeueFor = %s, want %s", r, c.wantRequeue)
			}
		})
	}
}

func TestListedMembers(t *testing.T) {
	for want, cm := range map[int32]*corev1.ConfigMap{
		0: nil,
		1: {Data: map[string]string{"ETCD_INITIAL_CLUSTER": "a-etcd-0=https://x:2380"}},
		3: {Data: map[string]string{"ETCD_INITIAL_CLUSTER": "a=1,b=2,c=3"}},
	} {
		if got := listedMembers(cm); got != want {
			t.Errorf("listedMembers(%v) = %d, want %d", cm, got, want)
		}
	}
}
