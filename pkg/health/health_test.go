package health

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestDeployment(t *testing.T) {
	dep := func(gen, observed int64, replicas, updated, available int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "acme-kube-apiserver", Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, AvailableReplicas: available},
		}
	}
	cases := []struct {
		name string
		d    *appsv1.Deployment
		ok   bool
		msg  string
	}{
		{"missing", nil, false, "does not exist"},
		{"not observed", dep(2, 1, 2, 2, 2), false, "observe generation 2"},
		{"none available", dep(1, 1, 2, 2, 0), false, "0 of 2 replicas available"},
		{"rolling out", dep(1, 1, 2, 1, 2), false, "1 of 2 replicas updated"},
		{"degraded but serving", dep(1, 1, 2, 2, 1), true, "1 of 2 replicas available"},
		{"all available", dep(1, 1, 2, 2, 2), true, "2 of 2 replicas available"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, msg := Deployment(c.d)
			if ok != c.ok || !strings.Contains(msg, c.msg) {
				t.Errorf("Deployment() = %v, %q; want %v, containing %q", ok, msg, c.ok, c.msg)
			}
		})
	}
}

func TestStatefulSet(t *testing.T) {
	sts := func(gen, observed int64, replicas, ready int32) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "acme-etcd", Generation: gen},
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To(replicas)},
			Status:     appsv1.StatefulSetStatus{ObservedGeneration: observed, ReadyReplicas: ready},
		}
	}
	cases := []struct {
		name string
		s    *appsv1.StatefulSet
		ok   bool
		msg  string
	}{
		{"missing", nil, false, "does not exist"},
		{"not observed", sts(3, 2, 3, 3), false, "observe generation 3"},
		{"single member down", sts(1, 1, 1, 0), false, "0 of 1 members ready, a quorum needs 1"},
		{"single member up", sts(1, 1, 1, 1), true, "1 of 1 members ready"},
		{"three, one ready", sts(1, 1, 3, 1), false, "a quorum needs 2"},
		{"three, quorum", sts(1, 1, 3, 2), true, "2 of 3 members ready"},
		{"five, two ready", sts(1, 1, 5, 2), false, "a quorum needs 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, msg := StatefulSet(c.s)
			if ok != c.ok || !strings.Contains(msg, c.msg) {
				t.Errorf("StatefulSet() = %v, %q; want %v, containing %q", ok, msg, c.ok, c.msg)
			}
		})
	}
}
