//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/e2e/dataplane"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/seed"
	"github.com/kubeseed/kubeseed/pkg/versions"
)

// TestWorkerJoinsWithKubeadm joins a machine to a tenant with stock `kubeadm join` through
// the tenant's published endpoint. The machine's network is not routed from the seed (as a
// customer's network on OpenStack). The node becomes Ready with its allocatable reduced by
// the reservations pkg/bootstrap computed for it (given to kubeadm as a patch), kube-proxy and CoreDNS (the
// tenant's addons, pinned by the operator) run on it, a Deployment's pods run there, its
// ClusterIP Service answers through kube-proxy and resolves through CoreDNS; `kubectl logs`,
// `exec` and `port-forward` reach it through the tenant apiserver and the tunnel, which is
// the only way there, and so does the apiserver's call to an admission webhook served on it. Once the machine is removed the node turns NotReady.
func TestWorkerJoinsWithKubeadm(t *testing.T) {
	host, ok := provider.(seed.MachineHost)
	if !ok {
		t.Skip("this seed provider cannot start extra machines (kind); see docs/seed.md")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc := smallTenant(newNamespace(t), "joined")
	applied := time.Now()
	if err := kube.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	waitTenantReady(t, ctx, tc)
	waitCondition(t, ctx, tc, v1alpha1.TenantBootstrappedCondition, 2*time.Minute)
	cfg := tenantConfig(t, ctx, tc)
	tenant := kubernetes.NewForConfigOrDie(cfg)

	// The stock flow, as a user who has run kubeadm would: `kubeadm token create
	// --print-join-command` with the tenant's admin kubeconfig and no other flag (the token
	// lands in kubeadm's default group), then that command on the new machine.
	joinCommand := kubeadmPrintJoinCommand(t, ctx, tc)
	hash, err := bootstrap.CACertHash(cfg.CAData)
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := url.Parse(tc.Status.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if want := "kubeadm join " + endpoint.Host + " --token "; !strings.HasPrefix(joinCommand, want) || !strings.HasSuffix(joinCommand, " --discovery-token-ca-cert-hash "+hash) {
		t.Fatalf("kubeadm printed %q, want %q… ending in the CA hash %s", joinCommand, want, hash)
	}
	// The positive control that this is the stock path: the token is in kubeadm's default
	// group only, not in kubeseed's.
	tokenID, _, _ := strings.Cut(strings.Fields(joinCommand)[4], ".")
	tokenSecret, err := tenant.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+tokenID, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the token kubeadm created: %v", err)
	}
	if got := string(tokenSecret.Data["auth-extra-groups"]); got != bootstrap.KubeadmNodeBootstrapTokenGroup {
		t.Fatalf("kubeadm's token has groups %q, want only %s", got, bootstrap.KubeadmNodeBootstrapTokenGroup)
	}
	// The worker's kubelet reservations, by pkg/bootstrap's formula for this machine's
	// capacity (a machine shares the host's CPUs and memory), with the seed talk's
	// memory.available<500Mi and small disk thresholds: the machine shares the host's disk.
	reserved, err := bootstrap.Reservations(*resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI), hostMemory(t),
		v1alpha1.KubeletSpec{EvictionHard: map[string]v1alpha1.EvictionThreshold{
			"memory.available": "500Mi", "nodefs.available": "2%", "imagefs.available": "2%",
		}})
	if err != nil {
		t.Fatal(err)
	}
	const name = "e2e-worker"
	start := time.Now()
	m, err := host.AddMachine(ctx, seed.MachineSpec{
		Name: name, KubernetesVersion: versions.Default, Images: dataplane.NodeImages(seed.ImagesDir(seed.CacheDir())),
		Bootstrap: kubeadmJoinScript(joinCommand, reservationsPatch(t, reserved)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.RemoveMachine(context.Background(), name) })
	if err := host.WaitBootstrap(ctx, name); err != nil {
		t.Fatal(err)
	}
	joined := time.Now()
	t.Logf("kubeadm join finished %.1fs after the machine started", joined.Sub(start).Seconds())

	t.Run("the node joins and becomes Ready", func(t *testing.T) {
		err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			n, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			return err == nil && nodeIsReady(n), nil
		})
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(m.Dir, "logs", "kubelet.log"))
			t.Fatalf("node %s not Ready in the tenant: %v\nkubelet log tail:\n%s", name, err, lastLines(string(log), 30))
		}
		t.Logf("kubeadm join → Node Ready: %.1fs; TenantCluster apply → Node Ready: %.1fs", time.Since(joined).Seconds(), time.Since(applied).Seconds())
	})

	t.Run("allocatable is capacity less the reservations", func(t *testing.T) {
		n, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := bootstrap.Allocatable(n.Status.Capacity, reserved)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			got := n.Status.Allocatable[r]
			if w := want[r]; got.Cmp(w) != 0 {
				t.Errorf("allocatable %s = %s, want %s (capacity %s, reserved %+v)", r, got.String(), w.String(), n.Status.Capacity.Name(r, resource.DecimalSI), reserved)
			}
		}
	})

	t.Run("the seed has no route to the worker", func(t *testing.T) {
		_, err := net.DialTimeout("tcp", net.JoinHostPort(m.IP, "10250"), 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "no route to host") {
			t.Fatalf("dial the worker's kubelet from the seed: err = %v, want no route to host", err)
		}
	})

	t.Run("addons and the tunnel become ready on the worker", func(t *testing.T) {
		waitCondition(t, ctx, tc, v1alpha1.AddonsReadyCondition, 3*time.Minute)
		t.Logf("TenantCluster apply → AddonsReady: %.1fs", time.Since(applied).Seconds())
		waitCondition(t, ctx, tc, v1alpha1.TunnelReadyCondition, 2*time.Minute)
	})

	t.Run("a tunnel agent with the node's certificate can pose neither as another node nor as a second agent", func(t *testing.T) {
		testTunnelIdentity(t, ctx, host, tenant, cfg, name, m.IP)
	})

	t.Run("a Deployment runs and its Service answers through kube-proxy and DNS", func(t *testing.T) {
		labels := map[string]string{"app": "web"}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: testServerPod(labels),
			},
		}
		if _, err := tenant.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		}
		svc, err := tenant.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			d, err := tenant.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			return err == nil && d.Status.AvailableReplicas == 2, nil
		})
		if err != nil {
			t.Fatalf("Deployment web not available on the worker: %v", err)
		}
		// From the node itself: kube-proxy's rules turn the ClusterIP into a pod.
		out, err := curlOnMachine(ctx, host, name, fmt.Sprintf("http://%s/", svc.Spec.ClusterIP))
		if err != nil || !strings.HasPrefix(out, "web-") {
			t.Fatalf("GET the ClusterIP %s from the worker: %q, %v", svc.Spec.ClusterIP, out, err)
		}
		// From a pod: its resolver asks CoreDNS for the Service's name.
		pods, err := tenant.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("list web pods: %v", err)
		}
		resolve := fmt.Sprintf("http://%s:8080/resolve?name=web.default.svc.cluster.local", pods.Items[0].Status.PodIP)
		out, err = curlOnMachine(ctx, host, name, resolve)
		if err != nil || strings.TrimSpace(out) != svc.Spec.ClusterIP {
			t.Fatalf("a pod resolving web.default.svc.cluster.local: %q, %v; want %s", out, err, svc.Spec.ClusterIP)
		}
	})

	t.Run("logs, exec and port-forward reach the worker through the tunnel", func(t *testing.T) {
		pods, err := tenant.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("list web pods: %v", err)
		}
		pod := pods.Items[0]
		// The agent may still be connecting: the first requests can fail with 503.
		var logsErr error
		_ = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, logsErr = tenant.CoreV1().Pods("default").GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
			return logsErr == nil, nil
		})
		if logsErr != nil {
			t.Fatalf("kubectl logs through the tenant apiserver: %v", logsErr)
		}

		req := tenant.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod.Name).SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "server", Command: []string{"/testserver", "hostname"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
		executor, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, req.URL())
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if err := executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
			t.Fatalf("kubectl exec: %v (stderr %q)", err, stderr.String())
		}
		if got := strings.TrimSpace(stdout.String()); got != pod.Name {
			t.Fatalf("kubectl exec printed %q, want the pod's hostname %s", got, pod.Name)
		}

		rt, upgrader, err := spdy.RoundTripperFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		pfURL := tenant.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod.Name).SubResource("portforward").URL()
		stop, ready := make(chan struct{}), make(chan struct{})
		fw, err := portforward.New(spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, pfURL), []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- fw.ForwardPorts() }()
		defer close(stop)
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("kubectl port-forward: %v", err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		ports, err := fw.GetPorts()
		if err != nil || len(ports) != 1 {
			t.Fatalf("port-forward ports: %v %v", ports, err)
		}
		body, err := httpDo(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local), "")
		if err != nil || body != pod.Name {
			t.Fatalf("GET through kubectl port-forward: %q, %v; want %s", body, err, pod.Name)
		}
	})

	t.Run("an admission webhook served on the worker is called through the tunnel", func(t *testing.T) {
		certPEM, keyPEM := selfSignedServing(t, "webhook.default.svc")
		tlsSecret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "webhook-tls", Namespace: "default"},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM},
		}
		if _, err := tenant.CoreV1().Secrets("default").Create(ctx, tlsSecret, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"app": "webhook"}
		pod := testServerPod(labels)
		pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: "TLS_DIR", Value: "/tls"})
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "tls", MountPath: "/tls", ReadOnly: true}}
		pod.Spec.Volumes = []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "webhook-tls"}}}}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "webhook", Namespace: "default"},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: pod},
		}
		if _, err := tenant.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "webhook", Namespace: "default"},
			Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(8443)}}},
		}
		if _, err := tenant.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		none := admissionregistrationv1.SideEffectClassNone
		hook := &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-deny"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:                    "deny.e2e.kubeseed.io",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{CABundle: certPEM, Service: &admissionregistrationv1.ServiceReference{Namespace: "default", Name: "webhook", Path: ptr.To("/validate")}},
				Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
				ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"e2e-webhook": "true"}},
				SideEffects:             &none,
				AdmissionReviewVersions: []string{"v1"},
				FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
				TimeoutSeconds:          ptr.To[int32](5),
			}},
		}
		if _, err := tenant.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, hook, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Until the pod serves, the apiserver fails to call it (failurePolicy Fail): that
		// refusal names the call, not the webhook's own answer, which is what must come.
		var last error
		err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: "default", Labels: map[string]string{"e2e-webhook": "true"}}}
			_, last = tenant.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
			return last != nil && strings.Contains(last.Error(), "denied by the e2e webhook in pod webhook-"), nil
		})
		if err != nil {
			t.Fatalf("the webhook on the worker was never called: last answer %v", last)
		}
	})

	t.Run("the node turns NotReady once the machine is gone", func(t *testing.T) {
		if err := host.RemoveMachine(ctx, name); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			n, err := tenant.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			return err == nil && !nodeIsReady(n), nil
		})
		if err != nil {
			t.Fatalf("node %s still Ready after its machine was removed: %v", name, err)
		}
	})
}

// reservationsPatch is the kubelet configuration kubeadm merges over the tenant's.
func reservationsPatch(t *testing.T, r bootstrap.Reserved) string {
	t.Helper()
	cfg := &kubeletv1beta1.KubeletConfiguration{}
	r.ApplyTo(cfg)
	raw, err := yaml.Marshal(map[string]any{"kubeReserved": cfg.KubeReserved, "systemReserved": cfg.SystemReserved, "evictionHard": cfg.EvictionHard})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// hostMemory is MemTotal, the memory capacity a kubelet on this host reports.
func hostMemory(t *testing.T) resource.Quantity {
	t.Helper()
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return *resource.NewQuantity(kib*1024, resource.BinarySI)
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return resource.Quantity{}
}

// selfSignedServing is a serving certificate for dnsName that is its own CA (the webhook's
// caBundle).
func selfSignedServing(t *testing.T, dnsName string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// curlOnMachine fetches url from inside a machine's network namespace.
func curlOnMachine(ctx context.Context, host seed.MachineHost, name, url string) (string, error) {
	var out []byte
	var err error
	// The first request after a Service appears may race kube-proxy's sync.
	_ = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		out, err = host.MachineExec(ctx, name, "curl", "-sS", "--fail", "--max-time", "5", url)
		return err == nil, nil
	})
	return string(out), err
}

// waitCondition waits for a TenantCluster condition to be True.
func waitCondition(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, cond string, timeout time.Duration) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return meta.IsStatusConditionTrue(tc.Status.Conditions, cond), nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("%s of %s/%s not True within %s: %+v", cond, tc.Namespace, tc.Name, timeout, meta.FindStatusCondition(tc.Status.Conditions, cond))
	}
}

// traceCondition logs each change of tc's condition cond (reason and message) with the
// time since start, polling a copy every 500 ms until the returned stop is called: where
// the time to a condition goes, in the test's own log.
// It stops when the test ends too (a t.Fatal before stop).
func traceCondition(t *testing.T, ctx context.Context, tc *v1alpha1.TenantCluster, cond string, start time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	key := client.ObjectKeyFromObject(tc) // tc itself is refreshed by the test meanwhile
	go func() {
		defer close(done)
		said := ""
		for ctx.Err() == nil {
			got := &v1alpha1.TenantCluster{}
			if kube.Get(ctx, key, got) == nil {
				if c := meta.FindStatusCondition(got.Status.Conditions, cond); c != nil && string(c.Status)+c.Reason+c.Message != said {
					said = string(c.Status) + c.Reason + c.Message
					t.Logf("%5.1fs %s=%s %s: %s", time.Since(start).Seconds(), cond, c.Status, c.Reason, c.Message)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func nodeIsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
