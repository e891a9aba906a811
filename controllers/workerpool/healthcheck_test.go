package workerpool

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

func TestSickness(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	server := func(status string, age time.Duration) openstack.Server {
		return openstack.Server{Name: "p-0", Status: status, Created: now.Add(-age)}
	}
	withNode := func(s openstack.Server, ready corev1.ConditionStatus, since time.Duration, annotations map[string]string) *member {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: s.Name, Annotations: annotations, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))}}
		if ready != "" {
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastTransitionTime: metav1.NewTime(now.Add(-since))}}
		}
		return &member{Server: s, node: n}
	}
	zero := &metav1.Duration{}
	for _, c := range []struct {
		name string
		m    *member
		hc   v1alpha1.HealthCheckSpec
		want string // a part of the reason; "" is healthy
	}{
		{"joining in time", &member{Server: server(statusActive, 9*time.Minute)}, v1alpha1.HealthCheckSpec{}, ""},
		{"never joined", &member{Server: server(statusActive, 11*time.Minute)}, v1alpha1.HealthCheckSpec{}, "has not registered 10m0s after"},
		{"still building", &member{Server: server(statusBuild, time.Hour)}, v1alpha1.HealthCheckSpec{}, ""},
		{"startup check off", &member{Server: server(statusActive, time.Hour)}, v1alpha1.HealthCheckSpec{NodeStartupTimeout: zero}, ""},
		{"Ready", withNode(server(statusActive, time.Hour), corev1.ConditionTrue, time.Hour, nil), v1alpha1.HealthCheckSpec{}, ""},
		{"NotReady a moment", withNode(server(statusActive, time.Hour), corev1.ConditionFalse, 4*time.Minute, nil), v1alpha1.HealthCheckSpec{}, ""},
		{"NotReady too long", withNode(server(statusActive, time.Hour), corev1.ConditionFalse, 6*time.Minute, nil), v1alpha1.HealthCheckSpec{}, "Ready=False since 2026-12-05T11:54:00Z, more than 5m0s"},
		{"Unknown too long", withNode(server(statusActive, time.Hour), corev1.ConditionUnknown, 6*time.Minute, nil), v1alpha1.HealthCheckSpec{}, "Ready=Unknown"},
		{"no Ready condition since its creation", withNode(server(statusActive, time.Hour), "", 0, nil), v1alpha1.HealthCheckSpec{}, "Ready=Unknown since 2026-12-05T11:00:00Z"},
		{"unhealthy check off", withNode(server(statusActive, time.Hour), corev1.ConditionFalse, time.Hour, nil), v1alpha1.HealthCheckSpec{UnhealthyTimeout: zero}, ""},
		{"being drained", withNode(server(statusActive, time.Hour), corev1.ConditionFalse, time.Hour, map[string]string{DrainStartedAnnotation: "x"}), v1alpha1.HealthCheckSpec{}, ""},
		{"ERROR is replaceFailed's", &member{Server: server(statusError, time.Hour)}, v1alpha1.HealthCheckSpec{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := sickness(c.m, c.hc, now)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("sickness = %q, want %q", got, c.want)
			}
		})
	}
}

func TestMaxUnhealthy(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	count := func(n int) *intstr.IntOrString { v := intstr.FromInt32(int32(n)); return &v }
	for _, c := range []struct {
		v       *intstr.IntOrString
		desired int
		want    int
	}{
		{nil, 2, 1}, // 40% of 2, rounded up: a pool of two heals one
		{nil, 10, 4},
		{pct("100%"), 3, 3},
		{pct("0%"), 5, 0},
		{count(2), 10, 2},
	} {
		if got := maxUnhealthy(v1alpha1.HealthCheckSpec{MaxUnhealthy: c.v}, c.desired); got != c.want {
			t.Errorf("maxUnhealthy(%v, %d) = %d, want %d", c.v, c.desired, got, c.want)
		}
	}
}

// TestCheckHealthHolds: NotReady Nodes are not replaced while no Node of the whole tenant is
// Ready; a Ready Node elsewhere in the tenant lets them be; a server whose Node exists
// without the pool's label is not taken for one that never joined. The tenant is
// controller-runtime's fake client: the decision reads Nodes only.
func TestCheckHealthHolds(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	node := func(name string, ready corev1.ConditionStatus, labels map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: ready, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}}}
	}
	old := now.Add(-time.Hour)
	for _, c := range []struct {
		name     string
		tenant   []client.Object
		members  func() []*member
		hold     string // part of the hold's message; "" for none
		sickOnes []string
	}{
		{
			name:   "every Node of the tenant NotReady",
			tenant: []client.Object{node("p-0", corev1.ConditionUnknown, nil), node("q-0", corev1.ConditionFalse, nil)},
			members: func() []*member {
				return []*member{{Server: openstack.Server{Name: "p-0", Status: statusActive, Created: old}, node: node("p-0", corev1.ConditionUnknown, nil)}}
			},
			hold: "no Node of the tenant is Ready (2 listed)",
		},
		{
			name:   "another pool's Node Ready",
			tenant: []client.Object{node("p-0", corev1.ConditionUnknown, nil), node("q-0", corev1.ConditionTrue, nil)},
			members: func() []*member {
				return []*member{{Server: openstack.Server{Name: "p-0", Status: statusActive, Created: old}, node: node("p-0", corev1.ConditionUnknown, nil)}}
			},
			sickOnes: []string{"p-0"},
		},
		{
			name:   "a Node without the pool's label",
			tenant: []client.Object{node("p-1", corev1.ConditionTrue, nil)},
			members: func() []*member {
				return []*member{{Server: openstack.Server{Name: "p-1", Status: statusActive, Created: old}}, {Server: openstack.Server{Name: "p-2", Status: statusActive, Created: old}}}
			},
			sickOnes: []string{"p-2"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			ms := c.members()
			p := &pass{wp: &v1alpha1.WorkerPool{}, desired: 3, now: now, members: ms,
				tenant: &tenantAccess{client: fake.NewClientBuilder().WithObjects(c.tenant...).Build()}}
			p.wp.Spec.HealthCheck.MaxUnhealthy = ptr.To(intstr.FromString("100%"))
			hold, err := (&Reconciler{}).checkHealth(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if (c.hold == "") != (hold == nil) || (hold != nil && !strings.Contains(hold.message, c.hold)) {
				t.Fatalf("hold %+v, want one containing %q", hold, c.hold)
			}
			var sick []string
			for _, m := range ms {
				if m.sick != "" {
					sick = append(sick, m.Name)
				}
			}
			if strings.Join(sick, ",") != strings.Join(c.sickOnes, ",") {
				t.Errorf("sick %v, want %v", sick, c.sickOnes)
			}
		})
	}
}
