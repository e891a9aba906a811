//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/kubeseed/kubeseed/pkg/seed"
)

// newNamespace makes a namespace for one test and deletes it afterwards.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns, err := clients.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = clients.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

func testServerPod(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name:            "server",
				Image:           seed.TestServerImage,
				ImagePullPolicy: corev1.PullNever,
				Env:             []corev1.EnvVar{{Name: "DATA_DIR", Value: "/data"}},
				Ports:           []corev1.ContainerPort{{ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
}

func httpDo(method, url, body string) (string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	// A fresh connection per request, so a Service spreads requests over its pods.
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, out)
	}
	return string(out), err
}

// TestServiceRoutesToEveryPod: a Deployment of two pods behind a ClusterIP Service; the
// Service's DNS name resolves through the seed's CoreDNS and both pods answer through it.
func TestServiceRoutesToEveryPod(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	labels := map[string]string{"app": "web"}
	_, err := clients.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: testServerPod(labels),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	svc, err := clients.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}

	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, seed.DNSServiceIP+":53")
	}}
	name := fmt.Sprintf("web.%s.svc.cluster.local", ns)
	seen := map[string]bool{}
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		addrs, err := resolver.LookupHost(ctx, name)
		if err != nil || len(addrs) != 1 || addrs[0] != svc.Spec.ClusterIP {
			t.Logf("resolve %s: %v %v", name, addrs, err)
			return false, nil
		}
		host, err := httpDo(http.MethodGet, "http://"+svc.Spec.ClusterIP+"/", "")
		if err != nil {
			t.Logf("GET through the Service: %v", err)
			return false, nil
		}
		seen[host] = true
		return len(seen) == 2, nil
	})
	if err != nil {
		t.Fatalf("want both pods to answer through %s (%s), saw %v: %v", name, svc.Spec.ClusterIP, seen, err)
	}
}

// TestStatefulSetKeepsDataOnItsVolume: a StatefulSet's claim binds through the seed's default
// StorageClass, and what the pod writes survives the pod being deleted and recreated.
func TestStatefulSetKeepsDataOnItsVolume(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	labels := map[string]string{"app": "db"}
	if _, err := clients.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: labels,
			Ports: []corev1.ServicePort{{Port: 8080}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create headless service: %v", err)
	}
	pod := testServerPod(labels)
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	if _, err := clients.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "db",
			Replicas:    ptr.To[int32](1),
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template:    pod,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
				},
			}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create statefulset: %v", err)
	}

	first := waitPodReady(t, ns, "db-0", "")
	pvc, err := clients.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-db-0", metav1.GetOptions{})
	if err != nil || pvc.Status.Phase != corev1.ClaimBound {
		t.Fatalf("claim data-db-0 not Bound: %v %v", pvc.Status.Phase, err)
	}
	if _, err := httpDo(http.MethodPut, "http://"+first.Status.PodIP+":8080/data", "kept"); err != nil {
		t.Fatalf("write to the volume: %v", err)
	}
	if err := clients.CoreV1().Pods(ns).Delete(ctx, "db-0", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete db-0: %v", err)
	}
	second := waitPodReady(t, ns, "db-0", first.UID)
	got, err := httpDo(http.MethodGet, "http://"+second.Status.PodIP+":8080/data", "")
	if err != nil || got != "kept" {
		t.Fatalf("after the pod was recreated the volume holds %q (%v), want %q", got, err, "kept")
	}
}

// waitPodReady waits for the named pod, other than the one with UID notUID, to be Ready.
func waitPodReady(t *testing.T, ns, name string, notUID types.UID) *corev1.Pod {
	t.Helper()
	var ready *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := clients.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.UID == notUID || p.Status.PodIP == "" {
			return false, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s not Ready within 2m: %v (kubectl -n %s describe pod %s)", ns, name, err, ns, name)
	}
	return ready
}
