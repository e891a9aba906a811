//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
	"github.com/kubeseed/kubeseed/pkg/install"
	"github.com/kubeseed/kubeseed/pkg/seed"
)

// controlPlaneIsolation checks, on the seed, what fences tenant a's control plane from
// other pods: only a's apiservers and the manager (from its own namespace) reach a's etcd
// (a pod in a's customer namespace wearing the manager's labels does not, nor one in b's
// control-plane namespace wearing a's apiserver's labels), and every control-plane pod runs
// at the operator chart's priority.
func controlPlaneIsolation(t *testing.T, ctx context.Context, a, b *v1alpha1.TenantCluster) {
	cpnsA, cpnsB := controlplane.NamespaceOf(a), controlplane.NamespaceOf(b)
	t.Run("control-plane pods run at the chart's priority class", func(t *testing.T) {
		pods, err := clients.CoreV1().Pods(cpnsA).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("pods of %s: %v", cpnsA, err)
		}
		for _, p := range pods.Items {
			if p.Spec.PriorityClassName != "kubeseed-control-plane" || ptr.Deref(p.Spec.Priority, 0) != 1000000000 {
				t.Errorf("pod %s: priority class %q (%d), want kubeseed-control-plane (1000000000)", p.Name, p.Spec.PriorityClassName, ptr.Deref(p.Spec.Priority, 0))
			}
		}
	})

	t.Run("a control-plane pod dials only what its component needs", func(t *testing.T) { testControlPlaneEgress(t, ctx, a, b) })

	t.Run("only its apiservers and the manager's namespace reach a tenant's etcd", func(t *testing.T) {
		etcd, err := clients.CoreV1().Pods(cpnsA).Get(ctx, controlplane.Etcd.ObjectName(a.Name)+"-0", metav1.GetOptions{})
		if err != nil || etcd.Status.PodIP == "" {
			t.Fatalf("etcd pod of %s: %v", a.Name, err)
		}
		target := fmt.Sprintf("http://%s:%d/", etcd.Status.PodIP, controlplane.EtcdClientPort)
		probes := startPods(t, ctx, clients,
			probePod(install.DefaultNamespace, "probe-manager", controlplane.ManagerPodLabels()),
			probePod(a.Namespace, "probe-customer", controlplane.ManagerPodLabels()),
			probePod(cpnsB, "probe-other-tenant", controlplane.Labels(a.Name, controlplane.APIServer)))
		for _, p := range probes {
			t.Cleanup(func() {
				_ = clients.CoreV1().Pods(p.Namespace).Delete(context.Background(), p.Name, metav1.DeleteOptions{})
			})
		}
		reach := func(from string) (string, error) {
			return httpDo("GET", fmt.Sprintf("http://%s:8080/fetch?url=%s", probes[from].Status.PodIP, url.QueryEscape(target)), "")
		}
		// Positive control: etcd accepts the connection and closes it on a plain HTTP
		// request to its TLS port (the probe relays EOF). So etcd listens, and a refused or
		// dropped connection is the policy's doing (kube-router rejects).
		reachedThroughNetwork(t, ctx, fmt.Sprintf("a pod with the manager's labels in %s reaching etcd", install.DefaultNamespace), "EOF", func() error {
			_, err := reach("probe-manager")
			return err
		})
		for _, from := range []string{"probe-customer", "probe-other-tenant"} {
			refusedByNetwork(t, ctx, fmt.Sprintf("%s/%s reaching %s's etcd", probes[from].Namespace, from, a.Name), func() error {
				_, err := reach(from)
				return err
			})
		}
	})
}

// testControlPlaneEgress: a control-plane pod dials only what its component needs. A pod
// wearing a's controller-manager's labels in a's control-plane namespace reaches a's
// apiserver (whose TLS port answers a plain request with 400) and DNS, but not b's
// apiserver, whose ingress is open to all: only egress can refuse that.
func testControlPlaneEgress(t *testing.T, ctx context.Context, a, b *v1alpha1.TenantCluster) {
	apiserverIP := func(tc *v1alpha1.TenantCluster) string {
		pods, err := clients.CoreV1().Pods(controlplane.NamespaceOf(tc)).List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(controlplane.Labels(tc.Name, controlplane.APIServer)).String(),
		})
		if err != nil || len(pods.Items) == 0 || pods.Items[0].Status.PodIP == "" {
			t.Fatalf("apiserver pods of %s: %v", tc.Name, err)
		}
		return pods.Items[0].Status.PodIP
	}
	ownAPI, otherAPI := apiserverIP(a), apiserverIP(b)
	probe := startPods(t, ctx, clients, probePod(controlplane.NamespaceOf(a), "probe-controllers", controlplane.Labels(a.Name, controlplane.ControllerManager)))["probe-controllers"]
	t.Cleanup(func() {
		_ = clients.CoreV1().Pods(probe.Namespace).Delete(context.Background(), probe.Name, metav1.DeleteOptions{})
	})
	via := func(target string) (string, error) {
		return httpDo("GET", fmt.Sprintf("http://%s:8080/fetch?url=%s", probe.Status.PodIP, url.QueryEscape(target)), "")
	}
	reachedThroughNetwork(t, ctx, "a controller-manager pod reaching its apiserver", "status 400", func() error {
		_, err := via(fmt.Sprintf("http://%s:%d/", ownAPI, controlplane.APIServerPort))
		return err
	})
	if _, err := via("http://127.0.0.1:8080/resolve?name=kubernetes.default.svc.cluster.local"); err != nil {
		t.Errorf("a controller-manager pod cannot use DNS: %v", err)
	}
	refusedByNetwork(t, ctx, fmt.Sprintf("a controller-manager pod of %s dialling %s's apiserver", a.Name, b.Name), func() error {
		_, err := via(fmt.Sprintf("http://%s:%d/", otherAPI, controlplane.APIServerPort))
		return err
	})
}

// reachedThroughNetwork is refusedByNetwork's positive control: it waits up to a minute for
// try to get through to the server, which answers with an error containing want. An allowed
// path is refused too until kube-router has added the new probe pod to the allowing rule's
// ipset, so one early refusal is not a failure; a minute of them is.
func reachedThroughNetwork(t *testing.T, ctx context.Context, what, want string, try func() error) {
	t.Helper()
	start := time.Now()
	var err error
	_ = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(context.Context) (bool, error) {
		err = try()
		return err != nil && strings.Contains(err.Error(), want), nil
	})
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: not let through within a minute (want an answer containing %q); last: %v", what, want, err)
	}
	t.Logf("%s: let through after %.1fs", what, time.Since(start).Seconds())
}

// refusedByNetwork waits until try fails because the network refuses it (connection refused,
// or a timeout) three times in a row. kube-router programs a new pod's policy chains some
// seconds after the pod starts (the tenant's network tests wait the same way, denied); a
// probe that is still let through after a minute, or that fails otherwise, fails the test.
func refusedByNetwork(t *testing.T, ctx context.Context, what string, try func() error) {
	t.Helper()
	start := time.Now()
	var err error
	inARow := 0
	_ = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(context.Context) (bool, error) {
		err = try()
		if err != nil && (strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "Timeout")) {
			inARow++
		} else {
			inARow = 0
		}
		return inARow == 3, nil
	})
	if inARow < 3 {
		t.Errorf("%s: not refused by the network three times in a row within a minute; last: %v", what, err)
		return
	}
	t.Logf("%s: refused by the network (enforced %.1fs after the first try)", what, time.Since(start).Seconds()-2)
}

// testSecretsEncryptedAtRest writes a Secret through a's API and reads it back raw from a's
// etcd (from the seed host, with the apiserver's etcd client certificate): what is stored
// is secretbox ciphertext, not the value.
func testSecretsEncryptedAtRest(t *testing.T, ctx context.Context, a *v1alpha1.TenantCluster, cfgA *rest.Config) {
	tenant := kubernetes.NewForConfigOrDie(cfgA)
	const value = "the-plain-text-must-not-be-in-etcd"
	if _, err := tenant.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sealed"}, StringData: map[string]string{"password": value},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	raw := etcdRaw(t, ctx, a, "/registry/secrets/default/sealed")
	if !bytes.HasPrefix(raw, []byte("k8s:enc:secretbox:v1:")) || bytes.Contains(raw, []byte(value)) {
		t.Errorf("the Secret is stored as %q…, want secretbox ciphertext", raw[:min(len(raw), 40)])
	}
}

// etcdRaw reads key from a's etcd as stored, with the apiserver's etcd client certificate,
// through etcd's JSON gateway (a plain HTTPS request).
func etcdRaw(t *testing.T, ctx context.Context, a *v1alpha1.TenantCluster, key string) []byte {
	t.Helper()
	cpns := controlplane.NamespaceOf(a)
	creds, err := clients.CoreV1().Secrets(cpns).Get(ctx, controlplane.APIServerEtcdClientSecret.Name(a.Name), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := etcd.TLSConfig(creds.Data[controlplane.CACertKey], creds.Data[controlplane.TLSCertKey], creds.Data[controlplane.TLSKeyKey])
	if err != nil {
		t.Fatal(err)
	}
	// By the pod's address, verified against the name its certificate carries.
	tlsCfg.ServerName = controlplane.EtcdClientHost(a.Name, cpns)
	member, err := clients.CoreV1().Pods(cpns).Get(ctx, controlplane.Etcd.ObjectName(a.Name)+"-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	query, _ := json.Marshal(map[string][]byte{"key": []byte(key)})
	res, err := hc.Post(fmt.Sprintf("https://%s:%d/v3/kv/range", member.Status.PodIP, controlplane.EtcdClientPort), "application/json", bytes.NewReader(query))
	if err != nil {
		t.Fatalf("read %s raw from etcd: %v", key, err)
	}
	defer res.Body.Close()
	var resp struct {
		Kvs []struct {
			Value []byte `json:"value"`
		} `json:"kvs"`
	}
	if err := json.NewDecoder(res.Body).Decode(&resp); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read %s raw from etcd: %s, %v (%d keys)", key, res.Status, err, len(resp.Kvs))
	}
	return resp.Kvs[0].Value
}

// testAuditLog: a request to a's API is recorded, with its user and object, in the audit
// log its apiservers keep on the seed (read from the kubelet's emptyDir on this machine).
func testAuditLog(t *testing.T, ctx context.Context, a *v1alpha1.TenantCluster, cfgA *rest.Config) {
	local, ok := provider.(*seed.Local)
	if !ok {
		t.Skip("the audit log is read from the local seed's disk")
	}
	name := fmt.Sprintf("audited-%d", time.Now().UnixNano())
	tenant := kubernetes.NewForConfigOrDie(cfgA)
	if _, err := tenant.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods, err := clients.CoreV1().Pods(controlplane.NamespaceOf(a)).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(controlplane.Labels(a.Name, controlplane.APIServer)).String(),
	})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("apiserver pods of %s: %v", a.Name, err)
	}
	var seen string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		for _, p := range pods.Items {
			raw, err := os.ReadFile(filepath.Join(local.EmptyDirPath(string(p.UID), "audit-log"), "audit.log"))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(raw), "\n") {
				if strings.Contains(line, `"name":"`+name+`"`) && strings.Contains(line, `"verb":"create"`) {
					seen = line
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the creation of ConfigMap %s is not in any apiserver's audit log", name)
	}
	var event struct {
		Level string `json:"level"`
		User  struct {
			Username string `json:"username"`
		} `json:"user"`
		RequestObject json.RawMessage `json:"requestObject"`
	}
	if err := json.Unmarshal([]byte(seen), &event); err != nil || event.Level != "Metadata" || event.User.Username == "" || event.RequestObject != nil {
		t.Errorf("audit event %s: want level Metadata, a user and no request body (%v)", seen, err)
	}
}

// probePod is a testserver pod that Pod Security's restricted level admits (control-plane
// namespaces and the manager's enforce it), with the given labels.
func probePod(ns, name string, labels map[string]string) *corev1.Pod {
	pod := netPod(ns, name, "", 0)
	pod.Labels = labels
	pod.Spec.AutomountServiceAccountToken = ptr.To(false)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	return pod
}
