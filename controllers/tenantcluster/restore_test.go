package tenantcluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestRestoreVersionSkew(t *testing.T) {
	for _, tc := range []struct {
		from, to, want string
	}{
		{from: "v1.35.4", to: "v1.35.4"},
		{from: "v1.35.1", to: "v1.36.3"},
		{from: "", to: "v1.36.3"},
		{from: "v1.36.3", to: "v1.35.4", want: "older kube-apiserver"},
		{from: "v1.34.4", to: "v1.36.3", want: "skips a minor"},
	} {
		got := restoreVersionSkew(tc.from, tc.to)
		if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
			t.Errorf("restoreVersionSkew(%q, %q) = %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

// The restore's pod and claim never reach the applier: it would prune the claim once the
// StatefulSet owns it.
func TestSplitRestoreObjects(t *testing.T) {
	obj := func(apiVersion, kind string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetName(kind)
		return u
	}
	rest, restore := splitRestoreObjects([]*unstructured.Unstructured{
		obj("v1", "Pod"), obj("apps/v1", "StatefulSet"), obj("v1", "PersistentVolumeClaim"), obj("v1", "Service"),
	})
	if len(rest) != 2 || rest[0].GetKind() != "StatefulSet" || rest[1].GetKind() != "Service" || len(restore) != 2 {
		t.Errorf("rest %v, restore %v", rest, restore)
	}
}

func TestPodFailure(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "receive", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "restore", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 1, Message: "Error: data-dir \"/var/lib/etcd/data\" not empty or could not be read\n"}}}},
	}}
	if got := podFailure(pod); got != `restore exited 1: Error: data-dir "/var/lib/etcd/data" not empty or could not be read` {
		t.Errorf("podFailure = %q", got)
	}
}
