package tenantcluster

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestNoData: the wipe init container's refusal of an empty data directory counts while it
// is the container's verdict (just ended, or waiting in back-off after it), not once a
// later run passed or while one runs.
func TestNoData(t *testing.T) {
	refusal := &corev1.ContainerStateTerminated{ExitCode: 1, Message: controlplane.EtcdNoDataReport + "/var/lib/etcd/data while its cluster runs: …"}
	passed := &corev1.ContainerStateTerminated{ExitCode: 0, Message: "token=4\n"}
	backOff := &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
	for _, c := range []struct {
		name string
		st   corev1.ContainerStatus
		want bool
	}{
		{"refused just now", corev1.ContainerStatus{State: corev1.ContainerState{Terminated: refusal}}, true},
		{"in back-off after a refusal", corev1.ContainerStatus{State: corev1.ContainerState{Waiting: backOff}, LastTerminationState: corev1.ContainerState{Terminated: refusal}}, true},
		{"a run that passed after a refusal", corev1.ContainerStatus{State: corev1.ContainerState{Terminated: passed}, LastTerminationState: corev1.ContainerState{Terminated: refusal}}, false},
		{"running after a refusal", corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, LastTerminationState: corev1.ContainerState{Terminated: refusal}}, false},
		{"in back-off after another failure", corev1.ContainerStatus{State: corev1.ContainerState{Waiting: backOff}, LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "remove /var/lib/etcd/data: permission denied"}}}, false},
		{"never ran", corev1.ContainerStatus{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := noData(c.st); got != c.want {
				t.Errorf("noData = %v, want %v", got, c.want)
			}
		})
	}
}
