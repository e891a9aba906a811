//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeseed/kubeseed/pkg/seed"
)

// netPod is a testserver pod on a given node, optionally with a host port.
func netPod(ns, name, node string, hostPort int32) *corev1.Pod {
	tmpl := testServerPod(map[string]string{"app": name})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: tmpl.Labels}, Spec: tmpl.Spec}
	pod.Spec.NodeName = node
	if hostPort > 0 {
		pod.Spec.Containers[0].Ports[0].HostPort = hostPort
	}
	return pod
}

// startPods creates pods and waits until each is Ready, returning them with their IPs.
func startPods(t *testing.T, ctx context.Context, c kubernetes.Interface, pods ...*corev1.Pod) map[string]*corev1.Pod {
	t.Helper()
	for _, p := range pods {
		if _, err := c.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s/%s: %v", p.Namespace, p.Name, err)
		}
	}
	out := map[string]*corev1.Pod{}
	for _, p := range pods {
		err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			got, err := c.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && got.Status.PodIP != "" {
					out[p.Name] = got
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			got, _ := c.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			t.Fatalf("pod %s/%s not Ready: %v (status %+v)", p.Namespace, p.Name, err, got.Status)
		}
	}
	return out
}

// fetchVia asks a testserver pod (reached from its own node, whose host network reaches
// its pods) to GET target from the pod's network namespace: the request that matters
// leaves the pod.
func fetchVia(ctx context.Context, host seed.MachineHost, pod *corev1.Pod, target string) (string, error) {
	u := fmt.Sprintf("http://%s:8080/fetch?url=%s", pod.Status.PodIP, url.QueryEscape(target))
	out, err := host.MachineExec(ctx, pod.Spec.NodeName, "curl", "-sS", "--fail-with-body", "--max-time", "10", u)
	return strings.TrimSpace(string(out)), err
}

// denied waits until from's requests to target are refused by the network three times in a
// row: the pod answered (curl got testserver's 502, exit 22) and its own request failed.
// Anything else (the pod not reached, a 200) does not count.
func denied(t *testing.T, ctx context.Context, fetch func() (string, error), what string) {
	t.Helper()
	var got string
	var err error
	inARow := 0
	_ = wait.PollUntilContextTimeout(ctx, time.Second, 90*time.Second, true, func(context.Context) (bool, error) {
		got, err = fetch()
		if err != nil && (strings.Contains(err.Error(), "exit status 22") || strings.Contains(err.Error(), "502 Bad Gateway")) {
			inARow++
		} else {
			inARow = 0
		}
		return inARow == 3, nil
	})
	if inARow < 3 {
		t.Fatalf("%s: not refused three times in a row; last %q (%v)", what, got, err)
	}
}

// checkCrossNode runs a pod on each of nodes a and b (in a namespace of its own) and checks
// each reaches the other by IP.
func checkCrossNode(t *testing.T, ctx context.Context, host seed.MachineHost, tenant kubernetes.Interface, a, b string) {
	t.Helper()
	ns := "cross-" + a
	createNamespaceIn(t, ctx, tenant, ns)
	defer func() { _ = tenant.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}) }()
	pods := startPods(t, ctx, tenant, netPod(ns, "on-a", a, 0), netPod(ns, "on-b", b, 0))
	eventually(t, ctx, host, pods["on-a"], "http://"+pods["on-b"].Status.PodIP+":8080/", "on-b")
	eventually(t, ctx, host, pods["on-b"], "http://"+pods["on-a"].Status.PodIP+":8080/", "on-a")
}

// eventually retries fetchVia until the answer is want (DNS, kube-proxy and the policy
// controller all apply changes a little later).
func eventually(t *testing.T, ctx context.Context, host seed.MachineHost, from *corev1.Pod, target, want string) {
	t.Helper()
	var got string
	var err error
	_ = wait.PollUntilContextTimeout(ctx, time.Second, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err = fetchVia(ctx, host, from, target)
		return err == nil && got == want, nil
	})
	if err != nil || got != want {
		t.Fatalf("%s/%s → %s: got %q (%v), want %q", from.Namespace, from.Name, target, got, err, want)
	}
}

// testPodNetwork checks the tenant's pod network across two joined workers a and b: pods
// reach each other by IP and through a ClusterIP Service by name, DNS answers on both,
// large bodies cross the VXLAN without fragmentation trouble, hostPort works from another
// node, a NetworkPolicy denies one namespace while another still connects, and a node whose
// network goes away and comes back finds its peers again.
func testPodNetwork(t *testing.T, ctx context.Context, host seed.MachineHost, tenant kubernetes.Interface, a, b string) {
	const ns, other, hostPort = "net", "net-other", 18080
	createNamespaceIn(t, ctx, tenant, ns)
	createNamespaceIn(t, ctx, tenant, other)
	pods := startPods(t, ctx, tenant,
		netPod(ns, "srv-a", a, hostPort), netPod(ns, "peer-a", a, 0), netPod(ns, "srv-b", b, 0), netPod(other, "client-b", b, 0))
	srvA, peerA, srvB, clientB := pods["srv-a"], pods["peer-a"], pods["srv-b"], pods["client-b"]
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "srv-b"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "srv-b"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	svc, err := tenant.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if srvA.Status.PodIP == srvB.Status.PodIP || srvA.Spec.NodeName == srvB.Spec.NodeName {
		t.Fatalf("pods not spread: %s on %s, %s on %s", srvA.Status.PodIP, srvA.Spec.NodeName, srvB.Status.PodIP, srvB.Spec.NodeName)
	}

	t.Run("pod to pod across nodes, by IP", func(t *testing.T) {
		eventually(t, ctx, host, srvA, "http://"+srvB.Status.PodIP+":8080/", "srv-b")
		eventually(t, ctx, host, srvB, "http://"+srvA.Status.PodIP+":8080/", "srv-a")
	})
	t.Run("a ClusterIP Service by name, from the other node", func(t *testing.T) {
		eventually(t, ctx, host, srvA, "http://srv-b.net.svc.cluster.local/", "srv-b")
	})
	t.Run("DNS answers on both nodes", func(t *testing.T) {
		for _, p := range []*corev1.Pod{srvA, srvB} {
			eventually(t, ctx, host, p, "http://127.0.0.1:8080/resolve?name=srv-b.net.svc.cluster.local", svc.Spec.ClusterIP)
		}
	})
	t.Run("the path MTU carries a large body across the VXLAN", func(t *testing.T) {
		// flanneld sizes the VXLAN 50 bytes under the node's interface, and the pods' bridge
		// with it; a pod MTU as large as the node's would blackhole full-size segments.
		env, err := host.MachineExec(ctx, a, "cat", "/run/flannel/subnet.env")
		if err != nil {
			t.Fatal(err)
		}
		// ip, not /sys/class/net: a machine's mount namespace has the host's sysfs.
		link, err := host.MachineExec(ctx, a, "ip", "-o", "link", "show", "eth0")
		if err != nil {
			t.Fatal(err)
		}
		var nodeMTU int
		if f := strings.Fields(string(link)); slices.Index(f, "mtu") >= 0 && slices.Index(f, "mtu")+1 < len(f) {
			nodeMTU, _ = strconv.Atoi(f[slices.Index(f, "mtu")+1])
		}
		if nodeMTU == 0 {
			t.Fatalf("no MTU in %q", link)
		}
		if want := fmt.Sprintf("FLANNEL_MTU=%d", nodeMTU-50); !strings.Contains(string(env), want) {
			t.Errorf("subnet.env on %s:\n%s\nwant %s (eth0 MTU %d)", a, env, want, nodeMTU)
		}
		const n = 4 << 20
		got, err := fetchVia(ctx, host, srvA, fmt.Sprintf("http://%s:8080/bytes?n=%d", srvB.Status.PodIP, n))
		if err != nil || len(got) != n {
			t.Fatalf("a %d-byte body from the other node: got %d bytes (%v)", n, len(got), err)
		}
	})
	t.Run("hostPort from the other node", func(t *testing.T) {
		nodeA, err := tenant.CoreV1().Nodes().Get(ctx, a, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip := internalIP(nodeA)
		out, err := curlOnMachine(ctx, host, b, fmt.Sprintf("http://%s:%d/", ip, hostPort))
		if err != nil || strings.TrimSpace(out) != "srv-a" {
			t.Fatalf("node %s → %s:%d: %q (%v), want srv-a", b, ip, hostPort, out, err)
		}
	})
	t.Run("a NetworkPolicy denies one namespace and admits another", func(t *testing.T) {
		target := "http://" + srvB.Status.PodIP + ":8080/"
		// Positive control: before the policy, both namespaces connect.
		eventually(t, ctx, host, clientB, target, "srv-b")
		eventually(t, ctx, host, srvA, target, "srv-b")
		policy := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "srv-b-from-net-only"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "srv-b"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
				}}}},
			},
		}
		if _, err := tenant.NetworkingV1().NetworkPolicies(ns).Create(ctx, policy, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// client-b shares srv-b's node: the policy, not the path, decides.
		denied(t, ctx, func() (string, error) { return fetchVia(ctx, host, clientB, target) }, other+"/client-b → srv-b under the policy")
		eventually(t, ctx, host, srvA, target, "srv-b")
		eventually(t, ctx, host, srvA, "http://srv-b.net.svc.cluster.local/", "srv-b")
		if err := tenant.NetworkingV1().NetworkPolicies(ns).Delete(ctx, policy.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, ctx, host, clientB, target, "srv-b")
	})
	// A node leaving for good and one joining are the WorkerPool test's scale-down and
	// scale-up (checkCrossNode on the new node); this is the network going away and back.
	t.Run("a node's network drops and returns without breaking the others", func(t *testing.T) {
		if err := host.SetMachineConnected(ctx, b, false); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = host.SetMachineConnected(context.Background(), b, true) })
		if _, err := fetchVia(ctx, host, srvA, "http://"+srvB.Status.PodIP+":8080/"); err == nil {
			t.Fatalf("srv-b answered while its node %s was disconnected: the test does not disconnect", b)
		}
		eventually(t, ctx, host, srvA, "http://"+peerA.Status.PodIP+":8080/", "peer-a")
		if err := host.SetMachineConnected(ctx, b, true); err != nil {
			t.Fatal(err)
		}
		eventually(t, ctx, host, srvA, "http://"+srvB.Status.PodIP+":8080/", "srv-b")
		eventually(t, ctx, host, srvB, "http://"+peerA.Status.PodIP+":8080/", "peer-a")
	})
	for _, n := range []string{ns, other} {
		_ = tenant.CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{})
	}
}

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// TestSeedEnforcesNetworkPolicy: the seed itself enforces NetworkPolicy (kube-router beside
// its bridge CNI), so the policies that fence tenants' control planes hold. Positive control
// first: a pod of another namespace reaches the server before the policy, not after, while
// a pod of the server's namespace still does.
func TestSeedEnforcesNetworkPolicy(t *testing.T) {
	if _, ok := provider.(*seed.Local); !ok {
		t.Skip("only the local seed runs kubeseed's NetworkPolicy engine; kind's CNI is its own (docs/networking.md)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns, other := newNamespace(t), newNamespace(t)
	pods := startPods(t, ctx, clients, netPod(ns, "server", "", 0), netPod(ns, "friend", "", 0), netPod(other, "stranger", "", 0))
	target := "http://" + pods["server"].Status.PodIP + ":8080/"
	fetch := func(from string) (string, error) {
		return httpDo("GET", fmt.Sprintf("http://%s:8080/fetch?url=%s", pods[from].Status.PodIP, url.QueryEscape(target)), "")
	}
	for _, from := range []string{"friend", "stranger"} {
		if got, err := fetch(from); err != nil || got != "server" {
			t.Fatalf("positive control: %s → server: %q (%v)", from, got, err)
		}
	}
	policy := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "same-namespace-only"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "server"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
		},
	}
	if _, err := clients.NetworkingV1().NetworkPolicies(ns).Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	denied(t, ctx, func() (string, error) { return fetch("stranger") }, "a pod of another namespace → the server under the policy")
	if got, err := fetch("friend"); err != nil || got != "server" {
		t.Fatalf("a pod of the server's namespace is refused: %q (%v)", got, err)
	}
}
