//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// testCloud is the OpenStack test cloud of hack/openstack (make openstack-up): real
// Keystone, Neutron and Octavia, with no data plane (the VIP forwards nothing).
type testCloud struct {
	cloudsYAML []byte
	env        map[string]string
}

// openStackCloud reads the test cloud make test-e2e brings up. Run by hand without it, the
// tests that need it skip and say how to get it.
func openStackCloud(t *testing.T) testCloud {
	t.Helper()
	path := os.Getenv("KUBESEED_OPENSTACK_CLOUDS")
	if path == "" {
		t.Skip("no OpenStack test cloud: run `make openstack-up` and set KUBESEED_OPENSTACK_CLOUDS=$(make -s openstack-clouds) (make test-e2e does both)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the test cloud's clouds.yaml: %v", err)
	}
	f, err := os.Open(filepath.Join(filepath.Dir(path), "openstack.env"))
	if err != nil {
		t.Fatalf("the test cloud's openstack.env: %v", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	return testCloud{cloudsYAML: data, env: env}
}

// customerCloudsYAML is the clouds.yaml a customer hands over: their application
// credential only, under the cloud name "openstack" (the admin's entry stays out of the seed).
func (c testCloud) customerCloudsYAML(t *testing.T) []byte {
	t.Helper()
	var doc struct {
		Clouds map[string]any `json:"clouds"`
	}
	if err := yaml.Unmarshal(c.cloudsYAML, &doc); err != nil {
		t.Fatalf("parse the test cloud's clouds.yaml: %v", err)
	}
	customer, ok := doc.Clouds["customer"]
	if !ok {
		t.Fatal("the test cloud's clouds.yaml has no cloud \"customer\"")
	}
	out, err := yaml.Marshal(map[string]any{"clouds": map[string]any{"openstack": customer}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// asCustomer builds clients with the customer's application credential, as the customer
// would look at their project.
func (c testCloud) asCustomer(t *testing.T, ctx context.Context) *openstack.Clients {
	t.Helper()
	cl, err := openstack.NewFromCloudsYAML(ctx, c.cloudsYAML, "customer", openstack.Options{})
	if err != nil {
		t.Fatalf("authenticate as the customer: %v", err)
	}
	return cl
}

func TestOctaviaEndpointInCustomerProject(t *testing.T) {
	cloud := openStackCloud(t)
	ctx := context.Background()
	ns := newNamespace(t)
	secret := cloud.customerSecret(t, ctx, ns)
	tc := smallTenant(ns, "octavia")
	tc.Spec.Endpoint = v1alpha1.EndpointSpec{Type: v1alpha1.EndpointOctavia, Octavia: &v1alpha1.OctaviaEndpointSpec{
		CredentialsSecretRef: corev1.LocalObjectReference{Name: secret.Name},
		SubnetID:             cloud.env["KUBESEED_OPENSTACK_CUSTOMER_SUBNET"],
		FloatingNetworkID:    cloud.env["KUBESEED_OPENSTACK_EXTERNAL_NETWORK"],
		AllowedCIDRs:         []string{"10.0.0.0/24", "192.0.2.0/24"},
	}}
	start := time.Now()
	if err := kube.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	stop := traceCondition(t, ctx, tc, v1alpha1.EndpointReadyCondition, start)
	waitCondition(t, ctx, tc, v1alpha1.EndpointReadyCondition, 4*time.Minute)
	stop()
	t.Logf("Octavia endpoint ready %.1fs after the TenantCluster was created: %s", time.Since(start).Seconds(), tc.Status.Endpoint)
	waitTenantReady(t, ctx, tc)

	st := tc.Status.Octavia
	if st == nil || st.LoadBalancerID == "" || st.VIPAddress == "" || st.FloatingIP == "" {
		t.Fatalf("status.octavia = %+v, want the load balancer, VIP and floating IP", st)
	}
	if want := "https://" + st.FloatingIP + ":6443"; tc.Status.Endpoint != want {
		t.Errorf("status.endpoint = %s, want %s (the floating IP)", tc.Status.Endpoint, want)
	}
	// Every kubeconfig handed out names the published address.
	kc, err := clients.CoreV1().Secrets(ns).Get(ctx, controlplane.AdminKubeconfigSecret.Name(tc.Name), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(kc.Data[controlplane.KubeconfigKey])
	if err != nil {
		t.Fatal(err)
	}
	for name, cl := range cfg.Clusters {
		if cl.Server != tc.Status.Endpoint {
			t.Errorf("admin kubeconfig cluster %s points at %s, want %s", name, cl.Server, tc.Status.Endpoint)
		}
	}

	// What the customer sees in their own project, through Octavia's and Neutron's APIs.
	customer := cloud.asCustomer(t, ctx)
	tag := openstack.TenantTag(string(tc.UID))
	lb, err := customer.LoadBalancer.GetLoadBalancer(ctx, st.LoadBalancerID)
	if err != nil {
		t.Fatalf("the customer cannot see load balancer %s: %v", st.LoadBalancerID, err)
	}
	if lb.ProvisioningStatus != openstack.StatusActive || !openstack.HasTag(lb.Tags, tag) || lb.VIPSubnetID != tc.Spec.Endpoint.Octavia.SubnetID {
		t.Errorf("load balancer %+v: want ACTIVE, tagged %s, VIP on the customer subnet", lb, tag)
	}
	svc, err := clients.CoreV1().Services(controlplane.NamespaceOf(tc)).Get(ctx, controlplane.APIServer.ObjectName(tc.Name), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodePorts := map[int]int{} // service port -> node port
	for _, p := range svc.Spec.Ports {
		nodePorts[int(p.Port)] = int(p.NodePort)
	}
	nodes, err := clients.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var nodeIPs []string
	for _, n := range nodes.Items {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				nodeIPs = append(nodeIPs, a.Address)
			}
		}
	}
	listeners, err := customer.LoadBalancer.ListListeners(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for _, l := range listeners {
		ports = append(ports, l.Port)
		if l.Protocol != "TCP" || l.LoadBalancerID != lb.ID || l.DefaultPoolID == "" {
			t.Errorf("listener %+v: want TCP on load balancer %s with a pool", l, lb.ID)
			continue
		}
		if !sameStrings(l.AllowedCIDRs, tc.Spec.Endpoint.Octavia.AllowedCIDRs) {
			t.Errorf("listener %s allows %v, want %v", l.Name, l.AllowedCIDRs, tc.Spec.Endpoint.Octavia.AllowedCIDRs)
		}
		pool, err := customer.LoadBalancer.GetPool(ctx, l.DefaultPoolID)
		if err != nil {
			t.Fatal(err)
		}
		if pool.MonitorID == "" {
			t.Errorf("pool %s has no health monitor", pool.Name)
		} else if mon, err := customer.LoadBalancer.GetMonitor(ctx, pool.MonitorID); err != nil || mon.Type != "TCP" {
			t.Errorf("monitor of pool %s: %+v, %v; want a TCP monitor", pool.Name, mon, err)
		}
		members, err := customer.LoadBalancer.ListMembers(ctx, pool.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range members {
			got = append(got, m.Address)
			if m.Port != nodePorts[l.Port] {
				t.Errorf("member %s of pool %s forwards to port %d, want the Service's node port %d", m.Address, pool.Name, m.Port, nodePorts[l.Port])
			}
		}
		if !sameStrings(got, nodeIPs) {
			t.Errorf("pool %s members %v, want the seed nodes %v", pool.Name, got, nodeIPs)
		}
	}
	slices.Sort(ports)
	if want := []int{6443, int(controlplane.TunnelPort)}; !slices.Equal(ports, want) {
		t.Errorf("listener ports %v, want %v", ports, want)
	}
	fips, err := customer.Network.ListFloatingIPs(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if len(fips) != 1 || fips[0].Address != st.FloatingIP || fips[0].PortID != lb.VIPPortID {
		t.Errorf("floating IPs %+v: want %s on the VIP port %s", fips, st.FloatingIP, lb.VIPPortID)
	}

	// Deleting the tenant leaves no load balancer, VIP port or floating IP behind.
	start = time.Now()
	if err := kube.Delete(ctx, tc); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(kube.Get(ctx, client.ObjectKeyFromObject(tc), &v1alpha1.TenantCluster{})), nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("TenantCluster not deleted within 3m: %+v", meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ReadyCondition))
	}
	t.Logf("TenantCluster and its load balancer deleted in %.1fs", time.Since(start).Seconds())
	if lbs, err := customer.LoadBalancer.ListLoadBalancers(ctx, tag); err != nil || len(lbs) != 0 {
		t.Errorf("load balancers left in the customer's project: %+v (%v)", lbs, err)
	}
	if _, err := customer.LoadBalancer.GetLoadBalancer(ctx, lb.ID); err == nil {
		if lb, _ := customer.LoadBalancer.GetLoadBalancer(ctx, lb.ID); lb != nil && lb.ProvisioningStatus != openstack.StatusDeleted {
			t.Errorf("load balancer %s is still there: %s", lb.ID, lb.ProvisioningStatus)
		}
	}
	if fips, err := customer.Network.ListFloatingIPs(ctx, tag); err != nil || len(fips) != 0 {
		t.Errorf("floating IPs left: %+v (%v)", fips, err)
	}
	if _, err := customer.Network.GetPort(ctx, lb.VIPPortID); !openstack.IsNotFound(err) {
		t.Errorf("VIP port %s: %v, want it gone", lb.VIPPortID, err)
	}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
		t.Fatal(err)
	}
	if len(secret.Finalizers) != 0 {
		t.Errorf("the credentials Secret is still held: %v", secret.Finalizers)
	}
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// customerSecret creates the credentials Secret "customer-cloud" of the test cloud's
// customer in ns.
func (c testCloud) customerSecret(t *testing.T, ctx context.Context, ns string) *corev1.Secret {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "customer-cloud"},
		Data:       map[string][]byte{openstack.SecretKeyCloudsYAML: c.customerCloudsYAML(t)},
	}
	if err := kube.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	return secret
}
