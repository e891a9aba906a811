package tenantcluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/pki"
)

func TestEndpointOf(t *testing.T) {
	tcOf := func(typ v1alpha1.EndpointType) *v1alpha1.TenantCluster {
		tc := &v1alpha1.TenantCluster{}
		tc.Spec.Endpoint.Type = typ
		return tc
	}
	svc := func(nodePort int32, ingress ...corev1.LoadBalancerIngress) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "acme-kube-apiserver", Namespace: "p1"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 6443, NodePort: nodePort}}},
			Status:     corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: ingress}},
		}
	}
	cases := []struct {
		name    string
		tc      *v1alpha1.TenantCluster
		svc     *corev1.Service
		node    string
		wantURL string
		wantMsg string
	}{
		{"no service yet", tcOf(v1alpha1.EndpointNodePort), nil, "192.0.2.2", "", "does not exist yet"},
		{"node port", tcOf(v1alpha1.EndpointNodePort), svc(30443), "192.0.2.2", "https://192.0.2.2:30443", "published"},
		{"node port without nodes", tcOf(v1alpha1.EndpointNodePort), svc(30443), "", "", "no Ready seed node"},
		{"node port not allocated", tcOf(v1alpha1.EndpointNodePort), svc(0), "192.0.2.2", "", "no node port yet"},
		{"load balancer IP", tcOf(v1alpha1.EndpointLoadBalancer), svc(30443, corev1.LoadBalancerIngress{IP: "203.0.113.10"}), "", "https://203.0.113.10:6443", "published"},
		{"load balancer name", tcOf(v1alpha1.EndpointLoadBalancer), svc(30443, corev1.LoadBalancerIngress{Hostname: "api.example.com"}), "", "https://api.example.com:6443", "published"},
		{"load balancer pending", tcOf(v1alpha1.EndpointLoadBalancer), svc(30443), "", "", "use spec.endpoint.type NodePort"},
		{"IPv6 node", tcOf(v1alpha1.EndpointNodePort), svc(30443), "fd00::2", "https://[fd00::2]:30443", "published"},
		{"octavia", tcOf(v1alpha1.EndpointOctavia), svc(30443), "192.0.2.2", "", "waiting for the Octavia load balancer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ep, chk := endpointOf(c.tc, c.svc, c.node)
			if ep.URL() != c.wantURL || chk.ok != (c.wantURL != "") || !strings.Contains(chk.message, c.wantMsg) {
				t.Errorf("endpointOf = %q, %+v; want %q, message containing %q", ep.URL(), chk, c.wantURL, c.wantMsg)
			}
		})
	}
}

func TestNodeAddress(t *testing.T) {
	node := func(name string, ready bool, addr string) corev1.Node {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: addr}},
		}}
	}
	a, b, c := node("a", true, "10.0.0.1"), node("b", true, "10.0.0.2"), node("c", true, "10.0.0.3")
	cases := []struct {
		name      string
		nodes     []corev1.Node
		published string
		want      string
	}{
		{"first Ready node by name", []corev1.Node{c, b, a}, "", "10.0.0.1"},
		{"NotReady nodes are skipped", []corev1.Node{node("a", false, "10.0.0.1"), b}, "", "10.0.0.2"},
		{"no Ready node", []corev1.Node{node("a", false, "10.0.0.1")}, "", ""},
		{"the published address stays", []corev1.Node{a, b, c}, "10.0.0.2", "10.0.0.2"},
		{"and stays while its node is NotReady", []corev1.Node{a, node("b", false, "10.0.0.2")}, "10.0.0.2", "10.0.0.2"},
		{"moves only when its node is gone", []corev1.Node{c, a}, "10.0.0.2", "10.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := nodeAddress(tc.nodes, tc.published); got != tc.want {
				t.Errorf("nodeAddress = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPublishedEndpoint(t *testing.T) {
	cases := []struct {
		status string
		want   pki.Endpoint
	}{
		{"", pki.Endpoint{}},
		{"https://203.0.113.7:6443", pki.Endpoint{Host: "203.0.113.7", Port: 6443}},
		{"https://[fd00::7]:6443", pki.Endpoint{Host: "fd00::7", Port: 6443}},
		{"https://api.example.com", pki.Endpoint{}},
		{"::not a url", pki.Endpoint{}},
	}
	for _, c := range cases {
		tc := &v1alpha1.TenantCluster{Status: v1alpha1.TenantClusterStatus{Endpoint: c.status}}
		if got := publishedEndpoint(tc); got != c.want {
			t.Errorf("publishedEndpoint(%q) = %+v, want %+v", c.status, got, c.want)
		}
	}
}
