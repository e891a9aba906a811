//go:build envtest

package workerpool_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/workerpool"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

const (
	testEndpoint = "https://203.0.113.10:6443"
	flavorName   = "m1.large"
	imageName    = "ubuntu-24.04-kube"
)

// world is one test's seed namespace, TenantCluster, credentials and fake cloud.
type world struct {
	ns      string
	cloud   *openstack.Fake
	tc      *v1alpha1.TenantCluster
	network *openstack.Net
	subnet  *openstack.Subnet
}

// newWorld makes a namespace with a TenantCluster that is Ready and bootstrapped (its
// status written as the TenantCluster controller would, its admin kubeconfig the fake
// tenant's), a credentials Secret and the fake cloud behind it with a flavor, an image, a
// network and a subnet.
func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "wp-"}}
	if err := k8sClient.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	w := &world{ns: ns.Name, cloud: openstack.NewFake()}
	w.cloud.AddFlavor(openstack.Flavor{Name: flavorName, VCPUs: 4, RAMMiB: 8192, DiskGiB: 40})
	w.cloud.AddImage(openstack.Image{Name: imageName})
	var err error
	if w.network, err = w.cloud.CreateNetwork(ctx, openstack.NetSpec{Name: "customer"}); err != nil {
		t.Fatal(err)
	}
	if w.subnet, err = w.cloud.CreateSubnet(ctx, openstack.SubnetSpec{Name: "customer", NetworkID: w.network.ID, CIDR: "10.0.0.0/24", IPVersion: 4}); err != nil {
		t.Fatal(err)
	}
	fakeClouds.Register(w.ns, "openstack", w.cloud)
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "openstack"},
		Data:       map[string][]byte{openstack.SecretKeyCloudsYAML: []byte("clouds: {openstack: {}}\n")},
	})
	// The admin kubeconfig where the TenantCluster controller keeps it: in the control
	// plane's namespace, which only kubeseed writes (the customer's copy is never read).
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlplane.NamespaceName(w.ns, "acme")}})
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: controlplane.NamespaceName(w.ns, "acme"), Name: "acme-kubeconfig"},
		Data:       map[string][]byte{controlplane.KubeconfigKey: tenantKubeconfig},
	})
	one := ptr.To[int32](1)
	w.tc = &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "acme"},
		Spec: v1alpha1.TenantClusterSpec{
			Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort},
			ControlPlane: v1alpha1.ControlPlaneSpec{
				APIServer:         v1alpha1.APIServerSpec{ComponentSpec: v1alpha1.ComponentSpec{Replicas: one}},
				ControllerManager: v1alpha1.ComponentSpec{Replicas: one},
				Scheduler:         v1alpha1.ComponentSpec{Replicas: one},
				Etcd:              v1alpha1.EtcdSpec{Replicas: one},
			},
		},
	}
	create(t, w.tc)
	now := metav1.Now()
	w.tc.Status = v1alpha1.TenantClusterStatus{
		Phase: v1alpha1.TenantClusterReady, Endpoint: testEndpoint,
		KubeconfigSecretRef: &corev1.LocalObjectReference{Name: "acme-kubeconfig"},
		Conditions: []metav1.Condition{
			{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.AvailableReason, LastTransitionTime: now},
			{Type: v1alpha1.TenantBootstrappedCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.BootstrappedReason, LastTransitionTime: now},
		},
	}
	if err := k8sClient.Status().Update(ctx, w.tc); err != nil {
		t.Fatalf("TenantCluster status: %v", err)
	}
	return w
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8sClient.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// pool is a WorkerPool of the world's cluster.
func (w *world) pool(name string, replicas int32, mutate ...func(*v1alpha1.WorkerPool)) *v1alpha1.WorkerPool {
	wp := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
		Spec: v1alpha1.WorkerPoolSpec{
			ClusterName: "acme", Replicas: ptr.To(replicas), Flavor: flavorName, Image: imageName,
			NetworkID: w.network.ID, CredentialsSecretRef: corev1.LocalObjectReference{Name: "openstack"},
		},
	}
	for _, m := range mutate {
		m(wp)
	}
	return wp
}

// waitPool polls the WorkerPool until cond holds.
func waitPool(t *testing.T, wp *v1alpha1.WorkerPool, timeout time.Duration, what string, cond func(*v1alpha1.WorkerPool) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(wp), wp); err != nil {
			return false, nil
		}
		return cond(wp), nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s; status %s", what, timeout, dump(wp.Status))
	}
}

func dump(v any) string {
	out, _ := yaml.Marshal(v)
	return "\n" + string(out)
}

// readyWith says whether the pool is Ready with n servers and n Ready Nodes, for its
// current generation.
func readyWith(n int32) func(*v1alpha1.WorkerPool) bool {
	return func(wp *v1alpha1.WorkerPool) bool {
		return meta.IsStatusConditionTrue(wp.Status.Conditions, v1alpha1.ReadyCondition) &&
			wp.Status.Replicas == n && wp.Status.ReadyReplicas == n && wp.Status.ObservedGeneration == wp.Generation
	}
}

// poolServers are the fake cloud's servers of a pool (by tag), sorted by name.
func poolServers(t *testing.T, f *openstack.Fake, wp *v1alpha1.WorkerPool) []openstack.Server {
	t.Helper()
	list, err := f.ListServers(context.Background(), openstack.PoolTag(string(wp.UID)))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(list, func(a, b openstack.Server) int { return strings.Compare(a.Name, b.Name) })
	return list
}

func names(servers []openstack.Server) []string {
	out := make([]string, 0, len(servers))
	for _, s := range servers {
		out = append(out, s.Name)
	}
	return out
}

// joinConfig is what the tests read of a server's user_data: the cloud-config's two keys
// and the JoinConfiguration in it.
type joinConfig struct {
	NodeName, Endpoint, Token, CAHash string
	NodeLabels                        map[string]string
	KubeletPatch                      string
	RunCmd                            []string
}

func mustParseUserData(t *testing.T, data []byte) joinConfig {
	t.Helper()
	jc, err := parseUserData(data)
	if err != nil {
		t.Fatalf("%v:\n%s", err, data)
	}
	return jc
}

func parseUserData(data []byte) (joinConfig, error) {
	var cc struct {
		WriteFiles     []struct{ Path, Content, Permissions string } `json:"write_files"`
		RunCmd         []string                                      `json:"runcmd"`
		ManageEtcHosts string                                        `json:"manage_etc_hosts"`
	}
	if !strings.HasPrefix(string(data), "#cloud-config\n") {
		return joinConfig{}, fmt.Errorf("user_data is no #cloud-config")
	}
	if err := yaml.UnmarshalStrict(data, &cc); err != nil {
		return joinConfig{}, fmt.Errorf("user_data has more than write_files, runcmd and manage_etc_hosts: %w", err)
	}
	out := joinConfig{RunCmd: cc.RunCmd, NodeLabels: map[string]string{}}
	for _, f := range cc.WriteFiles {
		switch f.Path {
		case bootstrap.KubeletPatchPath:
			out.KubeletPatch = f.Content
		case bootstrap.JoinConfigurationPath:
			var join struct {
				Discovery struct {
					BootstrapToken struct {
						APIServerEndpoint string   `json:"apiServerEndpoint"`
						Token             string   `json:"token"`
						CACertHashes      []string `json:"caCertHashes"`
					} `json:"bootstrapToken"`
				} `json:"discovery"`
				NodeRegistration struct {
					Name             string `json:"name"`
					KubeletExtraArgs []struct{ Name, Value string }
				} `json:"nodeRegistration"`
			}
			if err := yaml.Unmarshal([]byte(f.Content), &join); err != nil {
				return joinConfig{}, fmt.Errorf("JoinConfiguration: %w", err)
			}
			bt := join.Discovery.BootstrapToken
			out.NodeName, out.Endpoint, out.Token = join.NodeRegistration.Name, bt.APIServerEndpoint, bt.Token
			if len(bt.CACertHashes) == 1 {
				out.CAHash = bt.CACertHashes[0]
			}
			for _, a := range join.NodeRegistration.KubeletExtraArgs {
				if a.Name == "node-labels" {
					for _, kv := range strings.Split(a.Value, ",") {
						k, v, _ := strings.Cut(kv, "=")
						out.NodeLabels[k] = v
					}
				}
			}
		}
	}
	return out, nil
}

// fakeKubelets plays the kubelets of the world's servers until the test ends: each
// ACTIVE server of the pool "boots", reads its user_data and, if the bootstrap token in it
// is one the tenant holds, registers its Node with the labels it was given, Ready. It
// joins once per server ID; a lost server's Node is left to the controller.
func (w *world) fakeKubelets(t *testing.T, pool string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	joined := map[string]bool{}
	go func() {
		for ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			servers, err := w.cloud.ListServers(ctx, "")
			if err != nil {
				continue
			}
			for _, s := range servers {
				if s.Status != "ACTIVE" || joined[s.ID] || !strings.HasPrefix(s.Name, pool+"-") {
					continue
				}
				data, err := w.cloud.ServerUserData(ctx, s.ID)
				if err != nil {
					continue
				}
				jc, err := parseUserData(data)
				if err != nil {
					continue
				}
				if err := join(ctx, jc); err == nil {
					joined[s.ID] = true
				}
			}
		}
	}()
}

// join does what kubeadm join and the kubelet would: check the token, register the Node.
func join(ctx context.Context, jc joinConfig) error {
	id, secret, _ := strings.Cut(jc.Token, ".")
	tok := &corev1.Secret{}
	if err := tenantClient.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: "bootstrap-token-" + id}, tok); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if string(tok.Data["token-secret"]) != secret {
		return fmt.Errorf("token %s: wrong secret", id)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: jc.NodeName, Labels: jc.NodeLabels}}
	if err := tenantClient.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return setNodeReady(ctx, jc.NodeName, true)
}

func setNodeReady(ctx context.Context, name string, ready bool) error {
	node := &corev1.Node{}
	if err := tenantClient.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
		return err
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}}
	return tenantClient.Status().Update(ctx, node)
}

// poolNodes are the tenant's Nodes of a pool, by name.
func poolNodes(t *testing.T, pool string) map[string]corev1.Node {
	t.Helper()
	list := &corev1.NodeList{}
	if err := tenantClient.List(context.Background(), list, client.MatchingLabels{workerpool.PoolLabel: pool}); err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.Node{}
	for _, n := range list.Items {
		out[n.Name] = n
	}
	return out
}

// poolTokens counts the tenant's bootstrap tokens made for a pool.
func poolTokens(t *testing.T, wp *v1alpha1.WorkerPool) int {
	t.Helper()
	list := &corev1.SecretList{}
	if err := tenantClient.List(context.Background(), list, client.InNamespace("kube-system"), client.MatchingLabels{workerpool.TokenPoolLabel: string(wp.UID)}); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// eventually polls cond for up to timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s", what, timeout)
	}
}

// countCalls counts the fake cloud's calls of op.
func countCalls(f *openstack.Fake, op string) int {
	n := 0
	for _, c := range f.Calls() {
		if c == op {
			n++
		}
	}
	return n
}
