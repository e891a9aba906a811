package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/addons"
	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/pki"
	"github.com/kubeseed/kubeseed/pkg/tenantaccess"
)

const (
	// tenantTimeout bounds all the work inside a tenant in one reconcile, as
	// tenantaccess.Timeout bounds each request: an apiserver that hangs is reported and
	// retried, never waited for.
	tenantTimeout = tenantaccess.Timeout
	// requeueTenantBusy polls a tenant with pending serving CSRs or addons not ready:
	// nothing in the seed wakes the reconciler for what happens inside a tenant.
	requeueTenantBusy = 15 * time.Second
	// requeueTenantIdle polls a settled tenant, so a worker that joins later gets its
	// serving certificate approved within this long.
	requeueTenantIdle = 30 * time.Second
)

// tenantState is what reconcileTenant needs of the rest of the reconcile.
type tenantState struct {
	endpoint   pki.Endpoint
	caPEM      []byte       // the cluster CA certificate
	kubeconfig []byte       // the admin kubeconfig, nil until assembled
	tunnel     *tunnelAgent // nil: no tunnel agents yet
	// holdAddons leaves the addons as they are: the control plane waits for a rollout slot
	// and still runs another release's render, which new agents may not fit.
	holdAddons bool
}

// tunnelAgent is what the tenant's tunnel agents need: the server to dial. They
// authenticate with their kubelets' client certificates.
type tunnelAgent struct {
	host string
	port int32
}

// reconcileTenant works inside the tenant once its apiserver serves: the kubeadm bootstrap
// objects, the approval of kubelet serving CSRs, and the addons. It fills the
// TenantBootstrapped and AddonsReady checks, records the pinned addon versions, and returns
// when to look again. Failures inside the tenant are conditions, never reconcile errors:
// the seed side has converged, and the requeue retries.
func (r *Reconciler) reconcileTenant(ctx context.Context, tc *v1alpha1.TenantCluster, o *observed, st tenantState) time.Duration {
	if !o.checks[v1alpha1.APIServerAvailableCondition].ok || st.kubeconfig == nil || st.endpoint.Host == "" || len(st.caPEM) == 0 {
		wait := check{reason: v1alpha1.WaitingForAPIServerReason, message: "waiting for the tenant's kube-apiserver and admin kubeconfig"}
		o.checks[v1alpha1.TenantBootstrappedCondition], o.checks[v1alpha1.AddonsReadyCondition], o.checks[v1alpha1.TunnelReadyCondition] = wait, wait, wait
		return 0
	}
	unreachable := func(err error) time.Duration {
		c := check{reason: v1alpha1.TenantUnreachableReason, message: err.Error()}
		o.checks[v1alpha1.TenantBootstrappedCondition], o.checks[v1alpha1.AddonsReadyCondition], o.checks[v1alpha1.TunnelReadyCondition] = c, c, c
		return requeueWhileProgressing
	}
	ctx, cancel := context.WithTimeout(ctx, tenantTimeout)
	defer cancel()
	c, err := r.tenantClient(ctx, tc, st.kubeconfig)
	if err != nil {
		return unreachable(err)
	}
	version := tc.Status.Version
	if version == "" {
		version = tc.Spec.Version // not Ready yet: the apiservers run the spec's version
	}
	objs, err := bootstrap.Objects(bootstrap.Inputs{
		Endpoint: st.endpoint.URL(), CAPEM: st.caPEM, Version: version, ClusterName: tc.Name, Network: tc.Spec.Network,
	})
	if err != nil {
		// Only inputs kubeseed computed can be wrong here; retrying will not help, saying so does.
		o.checks[v1alpha1.TenantBootstrappedCondition] = check{reason: v1alpha1.ProgressingReason, message: err.Error()}
		o.checks[v1alpha1.AddonsReadyCondition] = check{reason: v1alpha1.WaitingForAPIServerReason, message: "waiting for the tenant bootstrap"}
		o.checks[v1alpha1.TunnelReadyCondition] = o.checks[v1alpha1.AddonsReadyCondition]
		return requeueWhileProgressing
	}
	sum, err := tenantSum(tc, objs)
	if err != nil {
		return unreachable(err)
	}
	now := time.Now()
	if r.applied.due(tc.UID, tenantPartBootstrap, sum, meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.TenantBootstrappedCondition), now) ||
		!clusterInfoPresent(ctx, c) {
		if err := bootstrap.Apply(ctx, c, FieldOwner, objs...); err != nil {
			r.applied.failed(tc.UID, tenantPartBootstrap)
			return unreachable(fmt.Errorf("bootstrap tenant: %w", err))
		}
		r.applied.done(tc.UID, tenantPartBootstrap, sum, now)
	}
	o.checks[v1alpha1.TenantBootstrappedCondition] = check{ok: true, reason: v1alpha1.BootstrappedReason, message: "the tenant holds what kubeadm join needs"}

	pending, err := r.approveServingCSRs(ctx, tc, c)
	if err != nil {
		return unreachable(err)
	}
	if err := r.reconcileAddons(ctx, tc, c, o, st); err != nil {
		o.checks[v1alpha1.AddonsReadyCondition] = check{reason: v1alpha1.TenantUnreachableReason, message: err.Error()}
		o.checks[v1alpha1.TunnelReadyCondition] = o.checks[v1alpha1.AddonsReadyCondition]
		return requeueWhileProgressing
	}
	if pending > 0 || !o.checks[v1alpha1.AddonsReadyCondition].ok || !o.checks[v1alpha1.TunnelReadyCondition].ok {
		return requeueTenantBusy
	}
	return requeueTenantIdle
}

// tenantCIDRs are the tenant's pod and Service ranges (defaults when the spec leaves them).
func tenantCIDRs(tc *v1alpha1.TenantCluster) []string {
	return controlplane.TenantCIDRs(tc.Spec.Network)
}

// reconcileAddons applies the addons at their pinned versions, records the versions once
// applied, and reads their health.
func (r *Reconciler) reconcileAddons(ctx context.Context, tc *v1alpha1.TenantCluster, c client.Client, o *observed, st tenantState) error {
	pinned, err := addons.Pin(tc)
	if err != nil {
		return err
	}
	nodes := &corev1.NodeList{}
	if err := c.List(ctx, nodes); err != nil {
		return fmt.Errorf("list tenant nodes: %w", err)
	}
	in := addons.Inputs{
		Endpoint: st.endpoint.URL(), Versions: pinned, ImageRegistry: r.ImageRegistry,
		NodeVersions: addons.NodeVersions(nodes.Items),
	}
	if st.tunnel != nil {
		if !st.holdAddons {
			if err := r.dropSharedTunnelCertificate(ctx, tc, c); err != nil {
				return err
			}
		}
		in.Tunnel = addons.TunnelValues{
			Enabled: true, Image: controlplane.TunnelImage(r.ImageRegistry), ServerHost: st.tunnel.host, ServerPort: st.tunnel.port,
			AllowedCIDRs: tenantCIDRs(tc),
		}
	}
	values, err := addons.ValuesFor(tc, in)
	if err != nil {
		return err
	}
	objs, err := addons.Render(values)
	if err != nil {
		return err
	}
	if !st.holdAddons {
		sum, err := tenantSum(tc, objs)
		if err != nil {
			return err
		}
		now := time.Now()
		if r.applied.due(tc.UID, tenantPartAddons, sum, addonsHealthy(tc), now) {
			if err := addons.Apply(ctx, c, FieldOwner, objs); err != nil {
				r.applied.failed(tc.UID, tenantPartAddons)
				return err
			}
			r.applied.done(tc.UID, tenantPartAddons, sum, now)
		}
		o.addons = &pinned
	}
	h, err := addons.Observe(ctx, c, nodes.Items, addons.ExpectedDaemonSets(values))
	if err != nil {
		return err
	}
	o.checks[v1alpha1.AddonsReadyCondition] = check{ok: h.Ready, reason: h.Reason, message: h.Message}
	if st.tunnel == nil {
		o.checks[v1alpha1.TunnelReadyCondition] = check{reason: v1alpha1.ProgressingReason, message: "waiting for the tunnel's port on the apiserver Service"}
		return nil
	}
	t, err := addons.ObserveTunnel(ctx, c)
	if err != nil {
		return err
	}
	o.checks[v1alpha1.TunnelReadyCondition] = check{ok: t.Ready, reason: t.Reason, message: t.Message}
	return nil
}

// clusterInfoPresent says whether the tenant still has the ConfigMap every join begins with
// (one metadata read): without it no worker joins, so it is put back at once, not after the
// drift period.
func clusterInfoPresent(ctx context.Context, c client.Client) bool {
	cm := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}}
	return c.Get(ctx, client.ObjectKey{Namespace: metav1.NamespacePublic, Name: bootstrap.ClusterInfoConfigMap}, cm) == nil
}

// addonsHealthy says whether the addons and the tunnel were ready at the last reconcile.
func addonsHealthy(tc *v1alpha1.TenantCluster) bool {
	return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.AddonsReadyCondition) &&
		meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.TunnelReadyCondition)
}

// tenantClient returns a client for the tenant (tenantaccess: cached while its admin
// kubeconfig stays the same).
func (r *Reconciler) tenantClient(ctx context.Context, tc *v1alpha1.TenantCluster, kubeconfig []byte) (client.Client, error) {
	return r.Tenants.Client(ctx, tc, kubeconfig)
}

// forgetTenant drops what the reconciler keeps in memory about a deleted tenant.
func (r *Reconciler) forgetTenant(uid types.UID) {
	r.Tenants.Forget(uid)
	r.refusedCSRs.Delete(uid)
	r.legacyTunnelSecretGone.Delete(uid)
	r.removedAPIs.Delete(uid)
	r.rollouts.release(uid)
	r.applied.forget(uid)
}

// approveServingCSRs approves the tenant's pending kubelet serving CSRs that
// bootstrap.ValidServingCSR accepts for the node that asks, and warns once (an event) about
// each one it refuses; those stay pending for a person to deny or for the tenant's
// csrcleaner. It returns how many may still be approved: those whose Node does not exist
// yet.
func (r *Reconciler) approveServingCSRs(ctx context.Context, tc *v1alpha1.TenantCluster, c client.Client) (int, error) {
	list := &certificatesv1.CertificateSigningRequestList{}
	if err := c.List(ctx, list, client.MatchingFields{"spec.signerName": certificatesv1.KubeletServingSignerName}); err != nil {
		return 0, fmt.Errorf("list tenant CSRs: %w", err)
	}
	warned, _ := r.refusedCSRs.Load(tc.UID)
	before, _ := warned.(map[types.UID]bool)
	refused := map[types.UID]bool{}
	defer r.refusedCSRs.Store(tc.UID, refused) // only CSRs still pending: the map stays small

	pending := 0
	var errs []error
	for i := range list.Items {
		csr := &list.Items[i]
		if csr.Spec.SignerName != certificatesv1.KubeletServingSignerName || decided(csr) {
			continue
		}
		nodeName, isNode := strings.CutPrefix(csr.Spec.Username, bootstrap.NodeUserPrefix)
		node := &corev1.Node{}
		err := errors.New("not requested by a node")
		if isNode {
			err = c.Get(ctx, client.ObjectKey{Name: nodeName}, node)
		}
		switch {
		case apierrors.IsNotFound(err):
			pending++ // the kubelet asks before its Node is registered
			continue
		case isNode && err != nil:
			errs = append(errs, fmt.Errorf("get tenant node %s: %w", nodeName, err))
			continue
		case err == nil:
			err = bootstrap.ValidServingCSR(csr, node)
		}
		if err != nil {
			refused[csr.UID] = true
			if !before[csr.UID] {
				r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, "ServingCSRNotApproved", "ApproveCSR",
					"kubelet serving CSR %s left pending: %v", csr.Name, err)
			}
			continue
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubeseedApproved",
			Message: "kubeseed approved the kubelet serving certificate of node " + nodeName, LastUpdateTime: metav1.Now(),
		})
		if err := c.SubResource("approval").Update(ctx, csr); err != nil {
			errs = append(errs, fmt.Errorf("approve tenant CSR %s: %w", csr.Name, err))
			continue
		}
		r.Recorder.Eventf(tc, nil, corev1.EventTypeNormal, "ServingCSRApproved", "ApproveCSR",
			"approved kubelet serving CSR %s of node %s", csr.Name, nodeName)
	}
	return pending, errors.Join(errs...)
}

// legacyTunnelSecret is the tunnel agents' shared certificate kubeseed copied into tenants
// before agents authenticated as their nodes; no server accepts it any more.
const legacyTunnelSecret = "kubeseed-tunnel-agent"

// dropSharedTunnelCertificate deletes legacyTunnelSecret from the tenant, once per tenant
// and manager process: a credential nothing needs is not left lying around.
func (r *Reconciler) dropSharedTunnelCertificate(ctx context.Context, tc *v1alpha1.TenantCluster, c client.Client) error {
	if _, done := r.legacyTunnelSecretGone.Load(tc.UID); done {
		return nil
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: legacyTunnelSecret, Namespace: metav1.NamespaceSystem}}
	if err := c.Delete(ctx, s); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete the tenant's old shared tunnel certificate: %w", err)
	}
	r.legacyTunnelSecretGone.Store(tc.UID, true)
	return nil
}

// decided says whether a CSR was approved or denied already.
func decided(csr *certificatesv1.CertificateSigningRequest) bool {
	return slices.ContainsFunc(csr.Status.Conditions, func(c certificatesv1.CertificateSigningRequestCondition) bool {
		return c.Type == certificatesv1.CertificateApproved || c.Type == certificatesv1.CertificateDenied
	})
}

// tenantMemory is what the Reconciler remembers per TenantCluster between reconciles.
type tenantMemory struct {
	refusedCSRs            sync.Map // types.UID -> map[types.UID]bool, the CSRs already warned about
	legacyTunnelSecretGone sync.Map // types.UID -> true once dropSharedTunnelCertificate did its job
	removedAPIs            sync.Map // types.UID -> removedAPIsCheck, while an upgrade runs
	rollouts               rolloutSlots
	applied                tenantApplied
}
