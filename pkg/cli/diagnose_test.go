package cli

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// Container states of the pod tests.
var (
	running      = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(now.Add(-5 * time.Minute))}}
	justStarted  = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(now.Add(-5 * time.Second))}}
	crashLooping = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container=kube-scheduler"}}
	pullFailing  = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "registry.k8s.io/kube-scheduler:v9"`}}
	creating     = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	exited1      = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: metav1.NewTime(now.Add(-20 * time.Second))}}
)

func componentPod(c controlplane.Component, suffix string, ready bool, restarts int32, state, last corev1.ContainerState) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "p1", Name: c.ObjectName("acme") + "-" + suffix, Labels: controlplane.Labels("acme", c)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: string(c)}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: string(c), Ready: ready, RestartCount: restarts, State: state, LastTerminationState: last,
			}},
		},
	}
}

func TestPodDiagnosis(t *testing.T) {
	unschedulable := componentPod(controlplane.Etcd, "0", false, 0, creating, corev1.ContainerState{})
	unschedulable.Status.Phase = corev1.PodPending
	unschedulable.Status.ContainerStatuses = nil
	unschedulable.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."}}

	for _, c := range []struct {
		name     string
		pod      corev1.Pod
		problems []string // substrings, one per expected problem
		logs     []logRef
		describe bool
	}{{
		name: "healthy",
		pod:  componentPod(controlplane.Scheduler, "a", true, 0, running, corev1.ContainerState{}),
	}, {
		name:     "crash loop: the previous instance's logs",
		pod:      componentPod(controlplane.Scheduler, "a", false, 4, crashLooping, exited1),
		problems: []string{"container kube-scheduler: CrashLoopBackOff: back-off 40s restarting failed container=kube-scheduler (restarted 4 times); last terminated with exit code 1 (Error) 20s ago"},
		logs:     []logRef{{container: "kube-scheduler", previous: true}},
	}, {
		name:     "image pull: no logs, describe the pod",
		pod:      componentPod(controlplane.Scheduler, "a", false, 0, pullFailing, corev1.ContainerState{}),
		problems: []string{`container kube-scheduler: ImagePullBackOff: Back-off pulling image "registry.k8s.io/kube-scheduler:v9"`},
		describe: true,
	}, {
		name:     "unschedulable",
		pod:      unschedulable,
		problems: []string{"not scheduled (Unschedulable): 0/1 nodes are available: 1 Insufficient cpu."},
		describe: true,
	}, {
		name:     "running for long, not ready: the current instance's logs",
		pod:      componentPod(controlplane.APIServer, "a", false, 0, running, corev1.ContainerState{}),
		problems: []string{"container kube-apiserver: running for 5m but not ready"},
		logs:     []logRef{{container: "kube-apiserver"}},
	}, {
		name: "just started, not ready yet: fine",
		pod:  componentPod(controlplane.APIServer, "a", false, 0, justStarted, corev1.ContainerState{}),
	}, {
		name: "starting: fine",
		pod:  componentPod(controlplane.APIServer, "a", false, 0, creating, corev1.ContainerState{}),
	}, {
		name:     "restarted, running again",
		pod:      componentPod(controlplane.Etcd, "0", true, 2, running, exited1),
		problems: []string{"container etcd: restarted 2 times; last terminated with exit code 1 (Error) 20s ago"},
		logs:     []logRef{{container: "etcd"}},
	}} {
		t.Run(c.name, func(t *testing.T) {
			got := podDiagnosis(&c.pod, now)
			if len(got.problems) != len(c.problems) {
				t.Fatalf("problems %q, want %d like %q", got.problems, len(c.problems), c.problems)
			}
			for i, want := range c.problems {
				if !strings.Contains(got.problems[i], want) {
					t.Errorf("problem %q lacks %q", got.problems[i], want)
				}
			}
			if len(got.logs) != len(c.logs) || (len(c.logs) > 0 && got.logs[0] != c.logs[0]) {
				t.Errorf("logs %+v, want %+v", got.logs, c.logs)
			}
			if got.describe != c.describe {
				t.Errorf("describe %v, want %v", got.describe, c.describe)
			}
		})
	}
}

// healthyState is a Ready single-replica tenant acme in p1; tests break it.
func healthyState() *tenantState {
	tc := tenant("acme", v1alpha1.TenantClusterReady)
	tc.UID = "uid-acme"
	for _, t := range conditionOrder()[:len(readyConditions())+1] {
		tc.Status.Conditions = append(tc.Status.Conditions, cond(t, "True", "Available", ""))
	}
	s := &tenantState{tc: &tc, deployments: map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{}}
	for _, ci := range controlplane.Registry {
		name := ci.Component.ObjectName("acme")
		if ci.Workload == controlplane.StatefulSet {
			s.statefulSets[name] = &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1)}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 1}}
		} else {
			s.deployments[name] = &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)}, Status: appsv1.DeploymentStatus{ReadyReplicas: 1}}
		}
		s.pods = append(s.pods, componentPod(ci.Component, "a", true, 0, running, corev1.ContainerState{}))
	}
	return s
}

func setCond(s *tenantState, c metav1.Condition) {
	for i := range s.tc.Status.Conditions {
		if s.tc.Status.Conditions[i].Type == c.Type {
			s.tc.Status.Conditions[i] = c
			return
		}
	}
	s.tc.Status.Conditions = append(s.tc.Status.Conditions, c)
}

func notReady(s *tenantState) {
	s.tc.Status.Phase = v1alpha1.TenantClusterDegraded
	setCond(s, cond("Ready", "False", "ComponentsNotReady", "..."))
}

func TestDiagnose(t *testing.T) {
	for _, c := range []struct {
		name    string
		modify  func(s *tenantState)
		culprit controlplane.Component
		summary string
		states  map[controlplane.Component]string
	}{{
		name:    "ready",
		modify:  func(*tenantState) {},
		summary: "Ready: the control plane serves.",
	}, {
		name: "ready, no workers yet",
		modify: func(s *tenantState) {
			setCond(s, cond("AddonsReady", "False", "WaitingForNodes", "no Ready node"))
		},
		summary: "Ready: the control plane serves. Not yet inside the tenant: AddonsReady (WaitingForNodes).",
	}, {
		name: "scheduler crash-loops after a rollout; the old pod still serves",
		modify: func(s *tenantState) {
			notReady(s)
			setCond(s, cond("SchedulerAvailable", "False", "Progressing", "Deployment acme-kube-scheduler: 0 of 1 updated replicas available"))
			s.pods = append(s.pods, componentPod(controlplane.Scheduler, "b", false, 3, crashLooping, exited1))
		},
		culprit: controlplane.Scheduler,
		summary: "kube-scheduler is failing: pod acme-kube-scheduler-b: container kube-scheduler: CrashLoopBackOff",
		states:  map[controlplane.Component]string{controlplane.Scheduler: stateFailing, controlplane.APIServer: stateOK},
	}, {
		name: "the apiserver restarted once and serves; the scheduler crash-loops: the scheduler is the cause",
		modify: func(s *tenantState) {
			notReady(s)
			setCond(s, cond("SchedulerAvailable", "False", "CrashLooping", ""))
			s.pods[1] = componentPod(controlplane.APIServer, "a", true, 1, running, exited1)
			s.pods = append(s.pods, componentPod(controlplane.Scheduler, "b", false, 3, crashLooping, exited1))
		},
		culprit: controlplane.Scheduler,
		summary: "kube-scheduler is failing: pod acme-kube-scheduler-b: container kube-scheduler: CrashLoopBackOff",
	}, {
		name: "a scheduler rollout that cannot finish: still Ready",
		modify: func(s *tenantState) {
			s.pods = append(s.pods, componentPod(controlplane.Scheduler, "b", false, 3, crashLooping, exited1))
		},
		culprit: controlplane.Scheduler,
		summary: "Ready (the old pods serve), but kube-scheduler is failing: pod acme-kube-scheduler-b: container kube-scheduler: CrashLoopBackOff",
		states:  map[controlplane.Component]string{controlplane.Scheduler: stateFailing},
	}, {
		name: "repaired: the crash-looping pod of the failed rollout is being deleted",
		modify: func(s *tenantState) {
			old := componentPod(controlplane.Scheduler, "b", false, 3, crashLooping, exited1)
			old.DeletionTimestamp = &metav1.Time{Time: now}
			s.pods = append(s.pods, old)
		},
		summary: "Ready: the control plane serves.",
		states:  map[controlplane.Component]string{controlplane.Scheduler: stateOK},
	}, {
		name: "the autoscaler crash-loops: the control plane still serves, and says so",
		modify: func(s *tenantState) {
			setCond(s, cond(v1alpha1.AutoscalerAvailableCondition, "False", "CrashLoopBackOff", ""))
			s.pods = append(s.pods, componentPod(controlplane.Autoscaler, "b", false, 3, crashLooping, exited1))
		},
		summary: "Ready: the control plane serves.",
		states:  map[controlplane.Component]string{controlplane.Autoscaler: stateFailing},
	}, {
		name: "the apiserver crash-loops; the controllers wait for it",
		modify: func(s *tenantState) {
			notReady(s)
			setCond(s, cond("APIServerAvailable", "False", "Progressing", ""))
			setCond(s, cond("ControllerManagerAvailable", "False", "WaitingForDependency", "waiting for the kube-apiserver to answer"))
			setCond(s, cond("SchedulerAvailable", "False", "WaitingForDependency", "waiting for the kube-apiserver to answer"))
			s.pods[1] = componentPod(controlplane.APIServer, "a", false, 7, crashLooping, exited1)
			s.pods = s.pods[:2]
		},
		culprit: controlplane.APIServer,
		summary: "kube-apiserver is failing: pod acme-kube-apiserver-a",
		states: map[controlplane.Component]string{
			controlplane.APIServer: stateFailing, controlplane.ControllerManager: stateWaiting, controlplane.Scheduler: stateWaiting,
		},
	}, {
		name: "etcd not available, its pod shows nothing",
		modify: func(s *tenantState) {
			notReady(s)
			setCond(s, cond("EtcdAvailable", "False", "Progressing", "0 of 1 members ready"))
		},
		culprit: controlplane.Etcd,
		summary: "etcd is not available: EtcdAvailable=False (Progressing): 0 of 1 members ready",
	}, {
		name: "certificates are not issued yet",
		modify: func(s *tenantState) {
			s.tc.Status.Phase = v1alpha1.TenantClusterProvisioning
			setCond(s, cond("Ready", "False", "ComponentsNotReady", "..."))
			setCond(s, cond("CertificatesReady", "False", "WaitingForCertificates", "waiting for 3 certificates"))
			setCond(s, cond("APIServerAvailable", "False", "WaitingForCertificates", "waiting for its certificates to be issued"))
			setCond(s, cond("EtcdAvailable", "False", "Progressing", "StatefulSet acme-etcd: 0 of 1 members ready, a quorum needs 1"))
			s.certificates = []string{"acme-ca: Pending: issuing"}
		},
		summary: "Waiting for cert-manager to issue the certificates (1 not Ready): waiting for 3 certificates",
		states:  map[controlplane.Component]string{controlplane.APIServer: stateWaiting, controlplane.Etcd: stateNotAvailable},
	}, {
		name: "invalid spec",
		modify: func(s *tenantState) {
			setCond(s, cond("Ready", "False", "InvalidSpec", "spec.controlPlane.scheduler.extraArgs: --kubeconfig is set by kubeseed"))
		},
		summary: "The spec cannot be realised, change it: spec.controlPlane.scheduler.extraArgs: --kubeconfig is set by kubeseed",
	}, {
		name: "hibernating: the pools drain first",
		modify: func(s *tenantState) {
			s.tc.Spec.Hibernated = true
			s.tc.Status.Phase = v1alpha1.TenantClusterHibernating
			setCond(s, cond("Hibernated", "False", "WaitingForWorkers", "draining the nodes and deleting the servers of WorkerPools workers (2) before the control plane stops"))
		},
		summary: "Hibernating (spec.hibernated): WaitingForWorkers: draining the nodes",
	}, {
		name: "hibernated",
		modify: func(s *tenantState) {
			s.tc.Spec.Hibernated = true
			s.tc.Status.Phase = v1alpha1.TenantClusterHibernated
			setCond(s, cond("Ready", "False", "Hibernated", "the tenant hibernates"))
			setCond(s, cond("Hibernated", "True", "Hibernated", "no control-plane pod and no worker runs"))
			s.pods, s.deployments, s.statefulSets = nil, nil, nil
		},
		summary: "Hibernated: no control-plane pod and no worker runs",
	}, {
		name:    "paused",
		modify:  func(s *tenantState) { s.tc.Spec.Paused = true },
		summary: "Paused: spec.paused is true",
	}, {
		name: "never reconciled",
		modify: func(s *tenantState) {
			s.tc.Status = v1alpha1.TenantClusterStatus{}
			s.pods, s.deployments, s.statefulSets = nil, nil, nil
		},
		summary: "No status yet: the kubeseed operator has not reconciled this TenantCluster",
		states:  map[controlplane.Component]string{controlplane.Etcd: stateUnknown},
	}} {
		t.Run(c.name, func(t *testing.T) {
			s := healthyState()
			c.modify(s)
			r := diagnose(s, now)
			if r.culprit != c.culprit {
				t.Errorf("culprit %q, want %q", r.culprit, c.culprit)
			}
			if !strings.HasPrefix(r.summary, c.summary) {
				t.Errorf("summary %q, want it to start with %q", r.summary, c.summary)
			}
			for _, cr := range r.components {
				if want, ok := c.states[cr.component]; ok && cr.state != want {
					t.Errorf("%s is %q, want %q", cr.component, cr.state, want)
				}
			}
		})
	}
}

// TestDiagnoseWithoutAutoscaler: a tenant no pool autoscales has no autoscaler to report.
func TestDiagnoseWithoutAutoscaler(t *testing.T) {
	s := healthyState()
	delete(s.deployments, controlplane.Autoscaler.ObjectName("acme"))
	s.pods = slices.DeleteFunc(s.pods, func(p corev1.Pod) bool {
		return p.Labels[controlplane.LabelComponent] == string(controlplane.Autoscaler)
	})
	for _, cr := range diagnose(s, now).components {
		if cr.component == controlplane.Autoscaler {
			t.Errorf("reported the autoscaler of a tenant that runs none: %+v", cr)
		}
	}
}

func TestSortConditions(t *testing.T) {
	got := sortConditions([]metav1.Condition{
		cond("AddonsReady", "False", "WaitingForNodes", ""),
		cond("EndpointReady", "True", "Available", ""),
		cond("Ready", "False", "ComponentsNotReady", ""),
		cond("Custom", "False", "X", ""),
		cond("SchedulerAvailable", "False", "Progressing", ""),
		cond("EtcdAvailable", "True", "Available", ""),
	})
	var types []string
	for _, c := range got {
		types = append(types, c.Type)
	}
	if want := "SchedulerAvailable,Ready,AddonsReady,Custom,EndpointReady,EtcdAvailable"; strings.Join(types, ",") != want {
		t.Errorf("order %v, want %s", types, want)
	}
}

func TestTenantEvents(t *testing.T) {
	s := healthyState()
	ev := func(kind, name, uid string, ago time.Duration) corev1.Event {
		return corev1.Event{
			InvolvedObject: corev1.ObjectReference{Kind: kind, Name: name, UID: typesUID(uid)},
			LastTimestamp:  metav1.NewTime(now.Add(-ago)), Reason: kind + "/" + name,
		}
	}
	s.events = []corev1.Event{
		ev("TenantCluster", "acme", "uid-acme", 3*time.Minute),
		ev("TenantCluster", "acme", "uid-of-a-deleted-acme", time.Minute),
		ev("Pod", "acme-kube-scheduler-5d8f-x2x", "", time.Second),
		ev("ReplicaSet", "acme-kube-scheduler-5d8f", "", 2*time.Second),
		ev("PersistentVolumeClaim", "data-acme-etcd-0", "", time.Hour),
		ev("Pod", "acme-2-kube-scheduler-5d8f-x2x", "", time.Second), // tenant acme-2
		ev("Pod", "globex-etcd-0", "", time.Second),
		{InvolvedObject: corev1.ObjectReference{Kind: "TenantCluster", Name: "acme"}, Reason: "series",
			Series: &corev1.EventSeries{LastObservedTime: metav1.NewMicroTime(now.Add(-30 * time.Second))}},
	}
	var got []string
	for _, e := range tenantEvents(s) {
		got = append(got, e.Reason)
	}
	want := "Pod/acme-kube-scheduler-5d8f-x2x,ReplicaSet/acme-kube-scheduler-5d8f,series,TenantCluster/acme,PersistentVolumeClaim/data-acme-etcd-0"
	if strings.Join(got, ",") != want {
		t.Errorf("events\n%v\nwant\n%s", got, want)
	}
}

// TestDescribePrint prints a tenant whose scheduler crash-loops, with a log fetcher standing
// in for the kubelet.
func TestDescribePrint(t *testing.T) {
	s := healthyState()
	notReady(s)
	setCond(s, cond("SchedulerAvailable", "False", "Progressing", "0 of 1 updated replicas available"))
	s.pods = append(s.pods, componentPod(controlplane.Scheduler, "b", false, 3, crashLooping, exited1))
	s.events = []corev1.Event{{
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "acme-kube-scheduler-b"}, Type: "Warning", Reason: "BackOff",
		Message: "Back-off restarting failed container", Count: 5, LastTimestamp: metav1.NewTime(now.Add(-10 * time.Second)),
	}}
	var fetched []string
	p := describePrinter{
		now: now, kubectl: "kubectl --kubeconfig /seed.kubeconfig", maxEvents: 20,
		logs: func(_ context.Context, ns, pod, container string, previous bool) (string, error) {
			fetched = append(fetched, strings.Join([]string{ns, pod, container}, "/"))
			if !previous {
				return "", errors.New("only the previous instance has logs")
			}
			return "I0901 11:59:39 flags.go:64] FLAG: --v=\"2\"\nError: unknown flag: --bogus-flag\n", nil
		},
	}
	var out bytes.Buffer
	p.w = &out
	if err := p.print(context.Background(), s, diagnose(s, now)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Name:         acme\n",
		"Diagnosis:    kube-scheduler is failing: pod acme-kube-scheduler-b: container kube-scheduler: CrashLoopBackOff",
		"  SchedulerAvailable           False    Progressing          60s   0 of 1 updated replicas available\n",
		"  kube-scheduler            failing   SchedulerAvailable=False          Deployment/acme-kube-scheduler            1/1     2\n",
		"kube-scheduler (failing), the likely cause:\n",
		"  Pod acme-kube-scheduler-a (Running, 1/1 ready, 0 restarts): no problem seen\n",
		"  Pod acme-kube-scheduler-b (Running, 0/1 ready, 3 restarts):\n",
		"      Error: unknown flag: --bogus-flag\n",
		"Control plane: namespace " + controlplane.NamespaceName("p1", "acme") + "\n",
		"    logs: kubectl --kubeconfig /seed.kubeconfig -n " + controlplane.NamespaceName("p1", "acme") + " logs acme-kube-scheduler-b -c kube-scheduler --previous\n",
		"  10s (x5)    Warning   BackOff   pod/acme-kube-scheduler-b   Back-off restarting failed container\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Join(fetched, ",") != controlplane.NamespaceName("p1", "acme")+"/acme-kube-scheduler-b/kube-scheduler" {
		t.Errorf("fetched the logs of %v", fetched)
	}
}

func typesUID(s string) types.UID { return types.UID(s) }

// TestDescribeTestRegistryRow: a component added to controlplane.Registry (this row exists
// only in this test) is diagnosed and printed by describe like the built-in ones: its
// workload, its condition and its failing pod, with no change to this package.
func TestDescribeTestRegistryRow(t *testing.T) {
	saved := controlplane.Registry
	controlplane.Registry = append(slices.Clone(saved), controlplane.ComponentSpec{
		Component: "kube-test", Workload: controlplane.Deployment, Condition: "TestComponentAvailable", Container: "kube-test",
	})
	t.Cleanup(func() { controlplane.Registry = saved })

	s := healthyState()
	notReady(s)
	setCond(s, cond("TestComponentAvailable", "False", "CrashLooping", "pod acme-kube-test-a: container kube-test: CrashLoopBackOff"))
	s.pods[len(s.pods)-1] = componentPod("kube-test", "a", false, 3, crashLooping, exited1)
	var out bytes.Buffer
	p := describePrinter{now: now, kubectl: "kubectl", maxEvents: 20, w: &out}
	if err := p.print(context.Background(), s, diagnose(s, now)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Diagnosis:    kube-test is failing: pod acme-kube-test-a: container kube-test: CrashLoopBackOff",
		"  TestComponentAvailable       False    CrashLooping",
		"Deployment/acme-kube-test",
		"kube-test (failing), the likely cause:\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
}
