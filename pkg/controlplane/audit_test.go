package controlplane_test

import (
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestAuditPolicy: the apiserver logs who did what at Metadata level (never a request or
// response body, which would copy Secrets into the seed), mounts the policy where its flag
// looks, and its log volume holds every rotated file the flags keep.
func TestAuditPolicy(t *testing.T) {
	tc := tenant()
	var cm *corev1.ConfigMap
	var dep *appsv1.Deployment
	for _, o := range renderCase(t, tc, controlplane.Inputs{}) {
		switch {
		case o.GetKind() == "ConfigMap" && o.GetName() == tc.Name+"-audit-policy":
			cm = &corev1.ConfigMap{}
			fromUnstructured(t, o, cm)
		case o.GetKind() == "Deployment" && o.GetName() == controlplane.APIServer.ObjectName(tc.Name):
			dep = &appsv1.Deployment{}
			fromUnstructured(t, o, dep)
		}
	}
	if cm == nil || dep == nil {
		t.Fatal("no audit policy ConfigMap or apiserver Deployment")
	}
	var policy auditv1.Policy
	if err := yaml.UnmarshalStrict([]byte(cm.Data["policy.yaml"]), &policy); err != nil {
		t.Fatalf("policy.yaml is not an audit Policy: %v\n%s", err, cm.Data["policy.yaml"])
	}
	if policy.Kind != "Policy" || policy.APIVersion != "audit.k8s.io/v1" || len(policy.Rules) == 0 {
		t.Fatalf("policy %+v", policy)
	}
	for _, r := range policy.Rules {
		if r.Level != auditv1.LevelNone && r.Level != auditv1.LevelMetadata {
			t.Errorf("rule %+v logs at %s: bodies would reach the seed's disk", r, r.Level)
		}
	}
	if last := policy.Rules[len(policy.Rules)-1]; last.Level != auditv1.LevelMetadata || len(last.Resources)+len(last.Users)+len(last.Verbs)+len(last.NonResourceURLs) != 0 {
		t.Errorf("the last rule %+v is not a catch-all at Metadata: some requests would go unrecorded", last)
	}

	pod := dep.Spec.Template.Spec
	args := map[string]string{}
	for _, a := range pod.Containers[0].Args {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		args[k] = v
	}
	mounts := map[string]string{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if args["audit-policy-file"] != mounts["audit-policy"]+"/policy.yaml" || !strings.HasPrefix(args["audit-log-path"], mounts["audit-log"]+"/") {
		t.Errorf("flags %s, %s do not name the mounts %v", args["audit-policy-file"], args["audit-log-path"], mounts)
	}
	size, _ := strconv.Atoi(args["audit-log-maxsize"])
	backups, _ := strconv.Atoi(args["audit-log-maxbackup"])
	if size == 0 || backups == 0 {
		t.Fatalf("the log is not rotated: maxsize %q, maxbackup %q", args["audit-log-maxsize"], args["audit-log-maxbackup"])
	}
	for _, v := range pod.Volumes {
		if v.Name != "audit-log" {
			continue
		}
		need := resource.NewQuantity(int64(size*(backups+1))<<20, resource.BinarySI)
		if v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.Cmp(*need) <= 0 {
			t.Errorf("audit-log volume %+v cannot hold %d files of %d MB: the kubelet would evict the apiserver", v.VolumeSource, backups+1, size)
		}
		return
	}
	t.Error("no audit-log volume")
}
