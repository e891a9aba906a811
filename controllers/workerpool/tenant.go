package workerpool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/tenantaccess"
)

// tenantAccess is how servers join a tenant and how kubeseed reaches it.
type tenantAccess struct {
	client client.Client
	// endpoint is host:port of the published endpoint, for kubeadm join.
	endpoint string
	// caHash is the cluster CA's hash, for kubeadm's discovery.
	caHash string
}

// clusterCheck says whether the TenantCluster can take workers: Ready, bootstrapped for
// kubeadm join, its endpoint and admin kubeconfig published.
func clusterCheck(tc *v1alpha1.TenantCluster) check {
	wait := func(msg string) check {
		return check{reason: v1alpha1.WaitingForDependencyReason, message: fmt.Sprintf("waiting for TenantCluster %s: %s", tc.Name, msg)}
	}
	ready := findCondition(tc.Status.Conditions, v1alpha1.ReadyCondition)
	boot := findCondition(tc.Status.Conditions, v1alpha1.TenantBootstrappedCondition)
	switch {
	case !tc.DeletionTimestamp.IsZero():
		return wait("it is being deleted")
	case ready == nil || ready.Status != metav1.ConditionTrue:
		return wait("it is not Ready")
	case boot == nil || boot.Status != metav1.ConditionTrue:
		return wait("it does not hold what kubeadm join needs yet (TenantBootstrapped)")
	case tc.Status.Endpoint == "" || tc.Status.KubeconfigSecretRef == nil:
		return wait("its endpoint and admin kubeconfig are not published yet")
	}
	return check{ok: true}
}

func findCondition(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// tenant reads the TenantCluster's admin kubeconfig and returns a client of its
// kube-apiserver (through its Service in the seed), the endpoint workers join and the CA
// hash. The kubeconfig is the one in the control-plane namespace, which only kubeseed
// writes, never the copy published in the customer's namespace nor a name found in status.
func (r *Reconciler) tenant(ctx context.Context, tc *v1alpha1.TenantCluster) (*tenantAccess, error) {
	name := controlplane.AdminKubeconfigSecret.Name(tc.Name)
	secret := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: controlplane.NamespaceOf(tc), Name: name}, secret); err != nil {
		return nil, fmt.Errorf("get the admin kubeconfig Secret %s: %w", name, err)
	}
	kubeconfig := secret.Data[controlplane.KubeconfigKey]
	cfg, err := tenantaccess.Config(tc, kubeconfig)
	if err != nil {
		return nil, err
	}
	caHash, err := bootstrap.CACertHash(cfg.CAData)
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig of %s: %w", tc.Name, err)
	}
	endpoint, err := joinEndpoint(tc.Status.Endpoint)
	if err != nil {
		return nil, err
	}
	c, err := r.Tenants.Client(ctx, tc, kubeconfig)
	if err != nil {
		return nil, err
	}
	return &tenantAccess{client: c, endpoint: endpoint, caHash: caHash}, nil
}

// joinEndpoint is host:port of the TenantCluster's published URL.
func joinEndpoint(published string) (string, error) {
	u, err := url.Parse(published)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("status.endpoint %q of the TenantCluster is not a URL", published)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// poolNodes are the tenant's Nodes that carry the pool's label, by name.
func poolNodes(ctx context.Context, c client.Client, pool string) (map[string]*corev1.Node, error) {
	list := &corev1.NodeList{}
	if err := c.List(ctx, list, client.MatchingLabels{PoolLabel: pool}); err != nil {
		return nil, fmt.Errorf("list the pool's Nodes: %w", err)
	}
	out := make(map[string]*corev1.Node, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, nil
}

// poolTokens are the bootstrap token Secrets kubeseed made for the pool's servers.
func poolTokens(ctx context.Context, c client.Client, uid types.UID) ([]corev1.Secret, error) {
	list := &corev1.SecretList{}
	if err := c.List(ctx, list, client.InNamespace(metav1.NamespaceSystem), client.MatchingLabels{TokenPoolLabel: string(uid)}); err != nil {
		return nil, fmt.Errorf("list the pool's bootstrap tokens: %w", err)
	}
	return list.Items, nil
}

// createToken makes a server's bootstrap token in the tenant, as kubeadm does: a Secret in
// kube-system, expiring after ttl (the tenant's tokencleaner deletes it then; kubeseed
// deletes it as soon as the server's Node registers).
func createToken(ctx context.Context, c client.Client, wp *v1alpha1.WorkerPool, server string, ttl time.Duration) (bootstrap.Token, error) {
	token, err := bootstrap.NewToken(ttl, fmt.Sprintf("kubeseed: server %s of WorkerPool %s/%s", server, wp.Namespace, wp.Name))
	if err != nil {
		return bootstrap.Token{}, err
	}
	secret := token.Secret()
	secret.Labels[TokenPoolLabel] = string(wp.UID)
	secret.Labels[TokenServerLabel] = server
	if err := c.Create(ctx, secret); err != nil {
		return bootstrap.Token{}, fmt.Errorf("create bootstrap token %s for server %s: %w", token, server, err)
	}
	return token, nil
}

func deleteToken(ctx context.Context, c client.Client, s *corev1.Secret) error {
	if err := c.Delete(ctx, s); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete bootstrap token Secret %s: %w", s.Name, err)
	}
	return nil
}

func deleteNode(ctx context.Context, c client.Client, name string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Delete(ctx, node); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete Node %s: %w", name, err)
	}
	return nil
}

// drainResult is how far a drain got.
type drainResult struct {
	// done: no pod to wait for is left, or the timeout passed (timedOut).
	done, timedOut bool
	// started is when the drain began (the Node's DrainStartedAnnotation).
	started time.Time
	// left is how many pods are still on the Node; blocked how many evictions a
	// PodDisruptionBudget refused this time; volumes how many volumes are still attached
	// to it once its pods are gone.
	left, blocked, volumes int
}

// drain cordons the Node (once, noting when) and evicts its pods through the Eviction API,
// which respects PodDisruptionBudgets: a refused eviction (429) is tried again at the next
// reconcile. DaemonSet pods, mirror pods and finished pods are left. Done once no pod is
// left and no volume is attached to the Node any more (a Cinder volume deleted with its
// server while attached may be lost or stuck), or timeout after the drain started.
func drain(ctx context.Context, c client.Client, node *corev1.Node, now time.Time, timeout time.Duration) (drainResult, error) {
	started, err := time.Parse(time.RFC3339, node.Annotations[DrainStartedAnnotation])
	if err != nil || !node.Spec.Unschedulable {
		if err != nil {
			started = now.UTC().Truncate(time.Second)
		}
		patch := client.MergeFrom(node.DeepCopy())
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		node.Annotations[DrainStartedAnnotation] = started.Format(time.RFC3339)
		node.Spec.Unschedulable = true
		if err := c.Patch(ctx, node, patch); err != nil {
			return drainResult{}, fmt.Errorf("cordon Node %s: %w", node.Name, err)
		}
	}
	res := drainResult{started: started}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.MatchingFields{"spec.nodeName": node.Name}); err != nil {
		return res, fmt.Errorf("list the pods of Node %s: %w", node.Name, err)
	}
	var errs []error
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !evictable(pod) {
			continue
		}
		res.left++
		if pod.DeletionTimestamp != nil {
			continue // evicted already, terminating
		}
		err := c.SubResource("eviction").Create(ctx, pod, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		})
		switch {
		case err == nil:
		case apierrors.IsNotFound(err):
			res.left--
		case apierrors.IsTooManyRequests(err):
			res.blocked++ // a PodDisruptionBudget says not now
		default:
			errs = append(errs, fmt.Errorf("evict pod %s/%s: %w", pod.Namespace, pod.Name, err))
		}
	}
	if res.left == 0 {
		res.volumes = len(node.Status.VolumesAttached)
	}
	waiting := res.left > 0 || res.volumes > 0
	res.timedOut = waiting && now.Sub(started) >= timeout
	res.done = !waiting || res.timedOut
	if res.timedOut {
		return res, nil // the server goes anyway; its pods with it
	}
	return res, errors.Join(errs...)
}

// evictable says whether a drain must evict the pod: not a mirror pod, not one of a
// DaemonSet (it would come back, and tolerates the cordon), not finished.
func evictable(pod *corev1.Pod) bool {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	for _, o := range pod.OwnerReferences {
		if o.Kind == "DaemonSet" && o.Controller != nil && *o.Controller {
			return false
		}
	}
	return true
}

// uncordon undoes a drain kubeseed started on a server it no longer removes (the pool
// was scaled up again meanwhile).
func uncordon(ctx context.Context, c client.Client, node *corev1.Node) error {
	patch := client.MergeFrom(node.DeepCopy())
	delete(node.Annotations, DrainStartedAnnotation)
	node.Spec.Unschedulable = false
	if err := c.Patch(ctx, node, patch); err != nil {
		return fmt.Errorf("uncordon Node %s: %w", node.Name, err)
	}
	return nil
}
