//go:build envtest

package workerpool_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/workerpool"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// TestScaleUpThroughTheScaleSubresource: a pool of 0 is Ready at once; `kubectl scale` (an
// update of /scale) to 2 creates two servers in the pool's server group, tagged, spread
// over the zones, each with user_data that joins it to the tenant with its own bootstrap
// token; the Nodes register, the status counts them, and the tokens are deleted once used.
func TestScaleUpThroughTheScaleSubresource(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	wp := w.pool("up", 0, func(wp *v1alpha1.WorkerPool) {
		wp.Spec.AvailabilityZones = []string{"az1", "az2"}
		wp.Spec.ServerGroupPolicy = openstack.PolicyAntiAffinity
	})
	create(t, wp)
	w.fakeKubelets(t, wp.Name)
	waitPool(t, wp, 30*time.Second, "an empty pool is Ready", readyWith(0))
	if wp.Status.Selector != "kubeseed.io/worker-pool=up" {
		t.Errorf("status.selector %q", wp.Status.Selector)
	}
	if len(wp.OwnerReferences) != 1 || wp.OwnerReferences[0].UID != w.tc.UID {
		t.Errorf("owner references %+v, want the TenantCluster", wp.OwnerReferences)
	}

	scale := &autoscalingv1.Scale{}
	if err := k8sClient.SubResource("scale").Get(ctx, wp, scale); err != nil {
		t.Fatalf("get /scale: %v", err)
	}
	scale.Spec.Replicas = 2
	if err := k8sClient.SubResource("scale").Update(ctx, wp, client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("update /scale: %v", err)
	}
	waitPool(t, wp, time.Minute, "two servers joined", readyWith(2))

	servers := poolServers(t, w.cloud, wp)
	if got := names(servers); !slices.Equal(got, []string{"up-0", "up-1"}) {
		t.Fatalf("servers %v, want up-0 and up-1", got)
	}
	groups, _ := w.cloud.ListServerGroups(ctx)
	if len(groups) != 1 || groups[0].Name != "kubeseed-up-"+string(wp.UID) || groups[0].Policy != openstack.PolicyAntiAffinity {
		t.Fatalf("server groups %+v, want one anti-affinity group named after the pool", groups)
	}
	hash, err := bootstrap.CACertHash(tenantCfg.CAData)
	if err != nil {
		t.Fatal(err)
	}
	var zones []string
	for _, s := range servers {
		for _, tag := range []string{openstack.PoolTag(string(wp.UID)), openstack.TenantTag(string(w.tc.UID)), openstack.RoleTag("worker")} {
			if !openstack.HasTag(s.Tags, tag) {
				t.Errorf("server %s lacks tag %s: %v", s.Name, tag, s.Tags)
			}
		}
		if !slices.Contains(groups[0].Members, s.ID) {
			t.Errorf("server %s is not in the server group", s.Name)
		}
		zones = append(zones, s.AvailabilityZone)
		data, err := w.cloud.ServerUserData(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		jc := mustParseUserData(t, data)
		if jc.NodeName != s.Name || jc.Endpoint != "203.0.113.10:6443" || jc.CAHash != hash || jc.NodeLabels[workerpool.PoolLabel] != "up" {
			t.Errorf("user_data of %s: %+v", s.Name, jc)
		}
		// The image's kubeadm is checked against the pool's version, then it joins.
		if len(jc.RunCmd) != 2 || !strings.Contains(jc.RunCmd[0], "kubeadm version -o short") || jc.RunCmd[1] != "kubeadm join --config "+bootstrap.JoinConfigurationPath {
			t.Errorf("runcmd %q", jc.RunCmd)
		}
		// m1.large: 4 vCPUs, 8 GiB (docs/workers.md's table).
		if !strings.Contains(jc.KubeletPatch, "cpu: 80m") || !strings.Contains(jc.KubeletPatch, "memory: 1844Mi") {
			t.Errorf("kubelet reservations of %s:\n%s", s.Name, jc.KubeletPatch)
		}
	}
	if !slices.Equal(zones, []string{"az1", "az2"}) {
		t.Errorf("zones %v, want one server in each", zones)
	}
	if n := len(poolNodes(t, "up")); n != 2 {
		t.Errorf("%d Nodes in the tenant, want 2", n)
	}
	eventually(t, 10*time.Second, "the used bootstrap tokens are deleted", func() bool { return poolTokens(t, wp) == 0 })
	if err := k8sClient.SubResource("scale").Get(ctx, wp, scale); err != nil || scale.Status.Replicas != 2 || scale.Status.Selector != "kubeseed.io/worker-pool=up" {
		t.Errorf("/scale status %+v (%v)", scale.Status, err)
	}
	for _, c := range []string{v1alpha1.ServersReadyCondition, v1alpha1.NodesReadyCondition, v1alpha1.ReadyCondition} {
		cond := meta.FindStatusCondition(wp.Status.Conditions, c)
		if cond == nil || cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != wp.Generation {
			t.Errorf("%s: %+v", c, cond)
		}
	}
	if !hasEvent(t, wp, "ServerCreated") {
		t.Errorf("no ServerCreated event")
	}
}

// TestScaleDownDrains: scaling 2 to 1 cordons the chosen Node and evicts its pods through
// the Eviction API; a pod a PodDisruptionBudget protects is refused (429) until the drain
// timeout, after which the server and its Node are deleted anyway. The other Node and its
// pods are left alone.
func TestScaleDownDrains(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	wp := w.pool("down", 2)
	create(t, wp)
	w.fakeKubelets(t, wp.Name)
	waitPool(t, wp, time.Minute, "two servers joined", readyWith(2))
	before := poolServers(t, w.cloud, wp)

	// Pods on both Nodes; on down-0 (the one to go: all are Ready and as old, so the
	// first by name) one a PodDisruptionBudget guards.
	podNS := tenantNamespace(t)
	for _, p := range []struct {
		name, node string
		labels     map[string]string
	}{{"evict-me", "down-0", nil}, {"guarded", "down-0", map[string]string{"app": "guarded"}}, {"stays", "down-1", nil}} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: podNS, Name: p.name, Labels: p.labels},
			Spec: corev1.PodSpec{NodeName: p.node, TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
		}
		if err := tenantClient.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		// Running and Ready, as its kubelet would say: a Pending pod is evicted whatever
		// its PodDisruptionBudget says.
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		if err := tenantClient.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: podNS, Name: "guarded"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
	}
	if err := tenantClient.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}

	wp.Spec.Replicas = ptr.To[int32](1)
	if err := k8sClient.Update(ctx, wp); err != nil {
		t.Fatal(err)
	}
	waitPool(t, wp, 30*time.Second, "ServersReady says it is draining", func(wp *v1alpha1.WorkerPool) bool {
		c := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ServersReadyCondition)
		return c != nil && c.Reason == v1alpha1.ScalingReason && strings.Contains(c.Message, "down-0 (draining its Node)")
	})
	n := poolNodes(t, "down")["down-0"]
	if !n.Spec.Unschedulable || n.Annotations[workerpool.DrainStartedAnnotation] == "" {
		t.Errorf("Node down-0 is not cordoned by kubeseed: unschedulable %v, annotations %v", n.Spec.Unschedulable, n.Annotations)
	}
	eventually(t, 10*time.Second, "pod evict-me evicted", func() bool {
		return apierrors.IsNotFound(tenantClient.Get(ctx, client.ObjectKey{Namespace: podNS, Name: "evict-me"}, &corev1.Pod{}))
	})
	if err := tenantClient.Get(ctx, client.ObjectKey{Namespace: podNS, Name: "guarded"}, &corev1.Pod{}); err != nil {
		t.Errorf("the PodDisruptionBudget did not hold pod guarded: %v", err)
	}
	if got := names(poolServers(t, w.cloud, wp)); len(got) != 2 {
		t.Errorf("servers %v deleted before the drain ended", got)
	}

	waitPool(t, wp, testDrain+30*time.Second, "scaled down after the drain timeout", readyWith(1))
	after := poolServers(t, w.cloud, wp)
	if len(after) != 1 || after[0].ID != before[1].ID {
		t.Fatalf("servers left %v, want down-1 (%s)", names(after), before[1].ID)
	}
	nodes := poolNodes(t, "down")
	if _, ok := nodes["down-0"]; ok || len(nodes) != 1 {
		t.Errorf("Nodes left %v, want only down-1", slices.Collect(maps.Keys(nodes)))
	}
	if nodes["down-1"].Spec.Unschedulable {
		t.Errorf("Node down-1 was cordoned")
	}
	if err := tenantClient.Get(ctx, client.ObjectKey{Namespace: podNS, Name: "stays"}, &corev1.Pod{}); err != nil {
		t.Errorf("pod stays on down-1: %v", err)
	}
	for _, reason := range []string{"DrainingNode", "DrainTimedOut", "ServerDeleted"} {
		if !hasEvent(t, wp, reason) {
			t.Errorf("no %s event", reason)
		}
	}
}

// TestLostServersAreReplaced: a server deleted behind kubeseed's back is noticed at the
// next poll and replaced under the same name, its stale Node deleted first; a server
// Nova puts in ERROR is deleted and replaced.
func TestLostServersAreReplaced(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	wp := w.pool("lost", 2)
	create(t, wp)
	w.fakeKubelets(t, wp.Name)
	waitPool(t, wp, time.Minute, "two servers joined", readyWith(2))
	before := poolServers(t, w.cloud, wp)

	if err := w.cloud.DeleteServer(ctx, before[1].ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "lost-1 replaced by a new server", func() bool {
		s := poolServers(t, w.cloud, wp)
		return len(s) == 2 && s[1].Name == "lost-1" && s[1].ID != before[1].ID
	})
	waitPool(t, wp, 30*time.Second, "the replacement joined", readyWith(2))

	if err := w.cloud.SetServerStatus(before[0].ID, "ERROR", "No valid host was found."); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "lost-0 in ERROR replaced", func() bool {
		s := poolServers(t, w.cloud, wp)
		return len(s) == 2 && s[0].Name == "lost-0" && s[0].ID != before[0].ID
	})
	waitPool(t, wp, 30*time.Second, "the replacement joined", readyWith(2))
	if !hasEvent(t, wp, v1alpha1.ProvisioningFailedReason) {
		t.Errorf("no ProvisioningFailed event for the server in ERROR")
	}
}

// TestQuotaIsACondition: a create the project's quota refuses is a condition naming the
// quota, on ServersReady and Ready, looked at again in minutes.
func TestQuotaIsACondition(t *testing.T) {
	for _, c := range []struct {
		pool, quota string
		set         func(*openstack.Fake)
	}{
		{"quota-instances", "instances", func(f *openstack.Fake) { f.SetQuota("instances", 1) }},
		{"quota-cores", "cores", func(f *openstack.Fake) { f.Inject("CreateServer", openstack.NewQuotaError("cores"), 0) }},
	} {
		t.Run(c.quota, func(t *testing.T) {
			w := newWorld(t)
			c.set(w.cloud)
			wp := w.pool(c.pool, 2)
			create(t, wp)
			waitPool(t, wp, 30*time.Second, "QuotaExceeded", func(wp *v1alpha1.WorkerPool) bool {
				s := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ServersReadyCondition)
				r := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ReadyCondition)
				return s != nil && s.Reason == v1alpha1.QuotaExceededReason && strings.Contains(s.Message, "out of its "+c.quota+" quota") &&
					r != nil && r.Status == metav1.ConditionFalse && r.Reason == v1alpha1.QuotaExceededReason
			})
			creates := countCalls(w.cloud, "CreateServer")
			time.Sleep(3 * time.Second)
			if n := countCalls(w.cloud, "CreateServer") - creates; n > 1 {
				t.Errorf("%d more CreateServer calls within 3 s of the quota error: a hot loop", n)
			}
		})
	}
}

// TestUnknownFlavorIsInvalidSpec: a flavor the cloud does not know is InvalidSpec naming
// spec.flavor, nothing is created, and the cloud is not asked again in a loop.
func TestUnknownFlavorIsInvalidSpec(t *testing.T) {
	w := newWorld(t)
	wp := w.pool("badflavor", 1, func(wp *v1alpha1.WorkerPool) { wp.Spec.Flavor = "m1.huge" })
	create(t, wp)
	waitPool(t, wp, 30*time.Second, "InvalidSpec naming spec.flavor", func(wp *v1alpha1.WorkerPool) bool {
		r := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ReadyCondition)
		return r != nil && r.Reason == v1alpha1.InvalidSpecReason && strings.Contains(r.Message, "spec.flavor") && strings.Contains(r.Message, "m1.huge")
	})
	lookups := countCalls(w.cloud, "GetFlavor")
	time.Sleep(5 * time.Second)
	if n := countCalls(w.cloud, "GetFlavor") - lookups; n > 1 {
		t.Errorf("%d more flavor lookups within 5 s: a hot loop", n)
	}
	if n := countCalls(w.cloud, "CreateServer"); n != 0 {
		t.Errorf("%d servers created with an unknown flavor", n)
	}
	if n := poolTokens(t, wp); n != 0 {
		t.Errorf("%d bootstrap tokens made for servers that cannot be created", n)
	}
	if !hasEvent(t, wp, v1alpha1.InvalidSpecReason) {
		t.Errorf("no InvalidSpec event")
	}
}

// TestDeletingAPoolRemovesEverything: the finalizer deletes the servers (found by tag),
// their ports (a pool pinned to a subnet has one per server), the server group, the Nodes
// and tokens in the tenant, and releases the credentials Secret.
func TestDeletingAPoolRemovesEverything(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	wp := w.pool("gone", 2, func(wp *v1alpha1.WorkerPool) { wp.Spec.SubnetID = w.subnet.ID })
	create(t, wp)
	w.fakeKubelets(t, wp.Name)
	waitPool(t, wp, time.Minute, "two servers joined", readyWith(2))
	ports, _ := w.cloud.ListPorts(ctx, openstack.PoolTag(string(wp.UID)))
	if len(ports) != 2 || ports[0].DeviceID == "" || ports[0].FixedIPs[0].SubnetID != w.subnet.ID {
		t.Fatalf("ports %+v, want one per server on the subnet", ports)
	}
	secret := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "openstack"}, secret); err != nil || !slices.Contains(secret.Finalizers, workerpool.CredentialsFinalizer) {
		t.Errorf("credentials Secret not held: %v %v", secret.Finalizers, err)
	}

	if err := k8sClient.Delete(ctx, wp); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the WorkerPool is gone", func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(wp), &v1alpha1.WorkerPool{}))
	})
	if s := poolServers(t, w.cloud, wp); len(s) != 0 {
		t.Errorf("servers left: %v", names(s))
	}
	if p, _ := w.cloud.ListPorts(ctx, openstack.PoolTag(string(wp.UID))); len(p) != 0 {
		t.Errorf("ports left: %+v", p)
	}
	if g, _ := w.cloud.ListServerGroups(ctx); len(g) != 0 {
		t.Errorf("server groups left: %+v", g)
	}
	if n := poolNodes(t, "gone"); len(n) != 0 {
		t.Errorf("Nodes left: %v", slices.Collect(maps.Keys(n)))
	}
	if n := poolTokens(t, wp); n != 0 {
		t.Errorf("%d bootstrap tokens left", n)
	}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "openstack"}, secret); err != nil || slices.Contains(secret.Finalizers, workerpool.CredentialsFinalizer) {
		t.Errorf("credentials Secret not released: %v %v", secret.Finalizers, err)
	}
}

// tenantNamespace makes a namespace in the fake tenant, with the default ServiceAccount
// the ServiceAccount admission plugin wants (no controller-manager makes it).
func tenantNamespace(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pods-"}}
	if err := tenantClient.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := tenantClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// hasEvent says whether the controller emitted an event with reason about the pool.
func hasEvent(t *testing.T, wp *v1alpha1.WorkerPool, reason string) bool {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		list := &eventsv1.EventList{}
		if err := k8sClient.List(ctx, list, client.InNamespace(wp.Namespace)); err != nil {
			return false, nil
		}
		return slices.ContainsFunc(list.Items, func(e eventsv1.Event) bool {
			return e.Regarding.UID == wp.UID && e.Reason == reason
		}), nil
	})
	return err == nil
}

// TestWaitsForClusterAndCredentials: a pool whose TenantCluster is not Ready creates
// nothing and says why; one whose credentials Secret is missing says that. Each is woken
// by the watch on what it waited for: the TenantCluster turning Ready, the Secret created.
func TestWaitsForClusterAndCredentials(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	meta.SetStatusCondition(&w.tc.Status.Conditions, metav1.Condition{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.NotReadyReason})
	if err := k8sClient.Status().Update(ctx, w.tc); err != nil {
		t.Fatal(err)
	}
	wp := w.pool("waiting", 1, func(wp *v1alpha1.WorkerPool) { wp.Spec.CredentialsSecretRef.Name = "later" })
	create(t, wp)
	w.fakeKubelets(t, wp.Name)
	waitPool(t, wp, 30*time.Second, "CloudCredentialsInvalid naming the Secret", func(wp *v1alpha1.WorkerPool) bool {
		c := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ServersReadyCondition)
		return c != nil && c.Reason == v1alpha1.CloudCredentialsInvalidReason && strings.Contains(c.Message, "Secret later")
	})

	fakeClouds.Register(w.ns, "later", w.cloud)
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "later"},
		Data:       map[string][]byte{openstack.SecretKeyCloudsYAML: []byte("clouds: {openstack: {}}\n")},
	})
	waitPool(t, wp, 30*time.Second, "waiting for the TenantCluster", func(wp *v1alpha1.WorkerPool) bool {
		c := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ServersReadyCondition)
		return c != nil && c.Reason == v1alpha1.WaitingForDependencyReason && strings.Contains(c.Message, "TenantCluster acme: it is not Ready")
	})
	if n := countCalls(w.cloud, "CreateServer"); n != 0 {
		t.Errorf("%d servers created for a cluster that is not Ready", n)
	}

	meta.SetStatusCondition(&w.tc.Status.Conditions, metav1.Condition{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.AvailableReason})
	if err := k8sClient.Status().Update(ctx, w.tc); err != nil {
		t.Fatal(err)
	}
	waitPool(t, wp, 30*time.Second, "the server joined once the cluster is Ready", readyWith(1))
}

// TestPoolActsWithTheClustersCloud: a pool that names no credentials says it has none,
// naming both fields, until its TenantCluster's spec.cloud names a Secret; it then acts
// with that Secret, holds it, and releases it once deleted.
func TestPoolActsWithTheClustersCloud(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	wp := w.pool("inherits", 1, func(wp *v1alpha1.WorkerPool) { wp.Spec.CredentialsSecretRef = corev1.LocalObjectReference{} })
	create(t, wp)
	w.fakeKubelets(t, wp.Name)
	waitPool(t, wp, 30*time.Second, "CloudCredentialsInvalid naming both fields", func(wp *v1alpha1.WorkerPool) bool {
		c := meta.FindStatusCondition(wp.Status.Conditions, v1alpha1.ServersReadyCondition)
		return c != nil && c.Reason == v1alpha1.CloudCredentialsInvalidReason &&
			strings.Contains(c.Message, "spec.credentialsSecretRef, or spec.cloud.credentialsSecretRef of TenantCluster acme")
	})

	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(w.tc), w.tc); err != nil {
		t.Fatal(err)
	}
	w.tc.Spec.Cloud = &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "openstack"}}
	if err := k8sClient.Update(ctx, w.tc); err != nil {
		t.Fatal(err)
	}
	waitPool(t, wp, time.Minute, "the server joined with spec.cloud's credentials", readyWith(1))
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: w.ns, Name: "openstack"}
	if err := k8sClient.Get(ctx, key, secret); err != nil || !slices.Contains(secret.Finalizers, workerpool.CredentialsFinalizer) {
		t.Errorf("spec.cloud's Secret not held: %v %v", secret.Finalizers, err)
	}

	if err := k8sClient.Delete(ctx, wp); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the WorkerPool is gone", func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(wp), &v1alpha1.WorkerPool{}))
	})
	if s := poolServers(t, w.cloud, wp); len(s) != 0 {
		t.Errorf("servers left: %v", names(s))
	}
	if err := k8sClient.Get(ctx, key, secret); err != nil || slices.Contains(secret.Finalizers, workerpool.CredentialsFinalizer) {
		t.Errorf("spec.cloud's Secret not released: %v %v", secret.Finalizers, err)
	}
}

// TestAutoscaledPoolPublishesItsNodeAllocatable: an autoscaler scaling a pool from zero
// has no Node to copy; the pool says what a new Node will offer (the flavor less the
// kubelet's reservations), and stops saying it when it is no longer autoscaled.
func TestAutoscaledPoolPublishesItsNodeAllocatable(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	wp := w.pool("zero", 0, func(wp *v1alpha1.WorkerPool) {
		wp.Spec.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: 0, MaxReplicas: 3}
	})
	create(t, wp)
	waitPool(t, wp, 30*time.Second, "status.nodeAllocatable", func(wp *v1alpha1.WorkerPool) bool { return wp.Status.NodeAllocatable != nil })
	a := wp.Status.NodeAllocatable
	cpu, mem, pods := a[corev1.ResourceCPU], a[corev1.ResourceMemory], a[corev1.ResourcePods]
	// The flavor has 4 vCPUs and 8 GiB: something is reserved, most is left.
	if cpu.MilliValue() <= 3000 || cpu.MilliValue() >= 4000 || mem.Value() <= 5<<30 || mem.Value() >= 8<<30 || pods.Value() != 110 {
		t.Fatalf("status.nodeAllocatable %v, want a little under 4 cpu and 8Gi, and 110 pods", a)
	}

	patch := client.MergeFrom(wp.DeepCopy())
	wp.Spec.Autoscaling = nil
	if err := k8sClient.Patch(ctx, wp, patch); err != nil {
		t.Fatal(err)
	}
	waitPool(t, wp, 30*time.Second, "no status.nodeAllocatable without autoscaling", func(wp *v1alpha1.WorkerPool) bool {
		return wp.Status.NodeAllocatable == nil && wp.Status.ObservedGeneration == wp.Generation
	})
}
