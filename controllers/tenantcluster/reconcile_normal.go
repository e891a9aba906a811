package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/health"
	"github.com/kubeseed/kubeseed/pkg/pki"
	"github.com/kubeseed/kubeseed/pkg/render"
)

// reconcileNormal recomputes the whole desired state from the spec and what it observes
// (the Service's address, the issued Secrets), applies it in one server-side apply with
// pruning, and reads the components' health. It never blocks: what is not ready yet is a
// condition and a requeue.
func (r *Reconciler) reconcileNormal(ctx context.Context, tc *v1alpha1.TenantCluster) (ctrl.Result, error) {
	var o observed
	defer func() { setStatus(tc, o) }()

	ns, nsCheck, err := r.ensureNamespace(ctx, tc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if ns == nil {
		o.blocked = nsCheck
		return ctrl.Result{RequeueAfter: namespaceWait}, nil
	}
	o.namespace = ns.Name

	svc, err := getOptional[corev1.Service](ctx, r.Client, ns.Name, controlplane.APIServer.ObjectName(tc.Name))
	if err != nil {
		return ctrl.Result{}, err
	}
	addr := r.NodeAddress
	if addr == "" && tc.Spec.Endpoint.Type == v1alpha1.EndpointNodePort {
		nodes := &corev1.NodeList{}
		if err := r.Client.List(ctx, nodes); err != nil {
			return ctrl.Result{}, fmt.Errorf("list seed nodes: %w", err)
		}
		addr = nodeAddress(nodes.Items)
	}
	ep, epCheck := endpointOf(tc, svc, addr)
	var epRequeue time.Duration
	var cloudErr error
	if tc.Spec.Endpoint.Type == v1alpha1.EndpointOctavia && svc != nil {
		ep, epCheck, epRequeue, cloudErr = r.reconcileOctavia(ctx, tc, svc)
		if ep.Host == "" && !epCheck.ok {
			// The cloud cannot be read now: keep the address already published rather than
			// withdraw the certificate and kubeconfigs that name it.
			ep = publishedEndpoint(tc)
		}
	}
	o.endpointOK, o.endpoint = epCheck, ep.URL()

	// The PKI: cert-manager objects now; the apiserver certificate once the endpoint is known.
	desired, err := pki.Objects(tc, ep)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("compute PKI of %s: %w", tc.Name, err)
	}
	certs := &cmv1.CertificateList{}
	if err := r.Client.List(ctx, certs, client.InNamespace(controlplane.NamespaceOf(tc)), client.MatchingLabels{controlplane.LabelTenantCluster: tc.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list certificates: %w", err)
	}
	o.certificates = certificatesCheck(certs.Items, desired)

	secrets, sums, err := r.issuedSecrets(ctx, tc)
	if err != nil {
		return ctrl.Result{}, err
	}
	var adminKubeconfig []byte
	if o.certificates.ok && ep.Host != "" {
		kubeconfigs, err := pki.KubeconfigSecrets(tc, ep.URL(), secrets)
		switch {
		case errors.Is(err, pki.ErrNotIssued):
			o.certificates = check{reason: v1alpha1.WaitingForCertificatesReason, message: err.Error()}
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("assemble kubeconfigs of %s: %w", tc.Name, err)
		default:
			for _, s := range kubeconfigs {
				if s.Name == controlplane.AdminKubeconfigSecret.Name(tc.Name) {
					adminKubeconfig = s.Data[controlplane.KubeconfigKey]
				}
				desired = append(desired, s)
				sums[s.Name] = controlplane.SecretDataChecksum(s.Data)
			}
		}
	}

	sts, err := getOptional[appsv1.StatefulSet](ctx, r.Client, controlplane.NamespaceOf(tc), controlplane.Etcd.ObjectName(tc.Name))
	if err != nil {
		return ctrl.Result{}, err
	}
	cm, err := getOptional[corev1.ConfigMap](ctx, r.Client, controlplane.NamespaceOf(tc), controlplane.EtcdClusterConfigMapName(tc.Name))
	if err != nil {
		return ctrl.Result{}, err
	}
	membership := r.reconcileEtcdMembers(ctx, tc, sts, cm, secrets)
	o.etcdMembership = membership
	hold, err := r.holdControllers(ctx, tc)
	if err != nil {
		return ctrl.Result{}, err
	}
	o.holdControllers = hold
	holdAPI, err := r.holdAPIServer(ctx, tc, o.certificates.ok)
	if err != nil {
		return ctrl.Result{}, err
	}
	o.holdAPIServer = holdAPI

	values, err := controlplane.ValuesFor(tc, controlplane.Inputs{
		EndpointHost:        ep.Host,
		NodePort:            nodePortOf(svc),
		TunnelNodePort:      tunnelNodePortOf(svc),
		SecretChecksums:     sums,
		ImageRegistry:       r.ImageRegistry,
		HoldControllers:     hold,
		HoldAPIServer:       holdAPI,
		EtcdReplicas:        membership.replicas,
		EtcdMembers:         membership.members,
		EtcdClusterExisting: membership.existing,
	})
	var invalid *controlplane.InvalidSpecError
	if errors.As(err, &invalid) {
		o.invalid = invalid.Error()
		return ctrl.Result{}, reconcile.TerminalError(err) // retrying cannot fix the spec
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("compute values of %s: %w", tc.Name, err)
	}
	rendered, err := render.Render(charts.TenantControlPlane, tc.Name, ns.Name, values)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("render control plane of %s: %w", tc.Name, err)
	}
	objs, err := r.toUnstructured(desired)
	if err != nil {
		return ctrl.Result{}, err
	}
	if _, err := r.Applier.Apply(ctx, ns, inventoryOf(tc), append(objs, rendered...)); err != nil {
		return ctrl.Result{}, fmt.Errorf("apply control plane of %s: %w", tc.Name, err)
	}
	if adminKubeconfig != nil {
		if err := r.publishKubeconfig(ctx, tc, adminKubeconfig); err != nil {
			return ctrl.Result{}, err
		}
	}

	if err := r.observeComponents(ctx, tc, &o); err != nil {
		return ctrl.Result{}, err
	}
	var caPEM []byte
	if ca := secrets[controlplane.CASecret.Name(tc.Name)]; ca != nil {
		caPEM = ca.Data[corev1.TLSCertKey]
	}
	tenantRequeue := r.reconcileTenant(ctx, tc, &o, tenantState{
		endpoint: ep, caPEM: caPEM, kubeconfig: adminKubeconfig,
		tunnel: tunnelAgentOf(tc, ep, svc, secrets[controlplane.TunnelAgentSecret.Name(tc.Name)]),
	})

	requeue := membership.requeueFor()
	for _, c := range o.byCondition() {
		if !c.ok && (requeue == 0 || requeue > requeueWhileProgressing) {
			requeue = requeueWhileProgressing
		}
	}
	if tenantRequeue > 0 && (requeue == 0 || requeue > tenantRequeue) {
		requeue = tenantRequeue
	}
	if epRequeue > 0 && (requeue == 0 || requeue > epRequeue) {
		requeue = epRequeue
	}
	if cloudErr != nil {
		return ctrl.Result{}, cloudErr // the cloud failed: backoff
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// holdControllers says whether kube-controller-manager and kube-scheduler must wait with no
// replica: until the kube-apiserver Deployment has had an available replica once (started
// earlier, they crash-loop). Once either of them has replicas it keeps them, so that an
// apiserver blip never stops the controllers of a running cluster.
func (r *Reconciler) holdControllers(ctx context.Context, tc *v1alpha1.TenantCluster) (bool, error) {
	api, err := getOptional[appsv1.Deployment](ctx, r.Client, controlplane.NamespaceOf(tc), controlplane.APIServer.ObjectName(tc.Name))
	if err != nil {
		return false, err
	}
	if api != nil && api.Status.AvailableReplicas > 0 {
		return false, nil
	}
	for _, c := range []controlplane.Component{controlplane.ControllerManager, controlplane.Scheduler} {
		d, err := getOptional[appsv1.Deployment](ctx, r.Client, controlplane.NamespaceOf(tc), c.ObjectName(tc.Name))
		if err != nil {
			return false, err
		}
		if d != nil && ptr.Deref(d.Spec.Replicas, 1) > 0 {
			return false, nil
		}
	}
	return true, nil
}

// holdAPIServer says whether the first kube-apiserver must wait with no replica until every
// certificate is issued: each Secret that appears changes the pods' checksum annotation, and
// a pod started earlier would be replaced two or three times during a bring-up, each start
// costing seconds of CPU. A Deployment that has replicas keeps them: renewals roll it.
func (r *Reconciler) holdAPIServer(ctx context.Context, tc *v1alpha1.TenantCluster, certificatesIssued bool) (bool, error) {
	if certificatesIssued {
		return false, nil
	}
	d, err := getOptional[appsv1.Deployment](ctx, r.Client, controlplane.NamespaceOf(tc), controlplane.APIServer.ObjectName(tc.Name))
	if err != nil {
		return false, err
	}
	return d == nil || ptr.Deref(d.Spec.Replicas, 1) == 0, nil
}

// issuedSecrets reads the tenant's PKI Secrets that exist, and their checksums, which roll
// the pods that mount them when cert-manager renews a certificate.
func (r *Reconciler) issuedSecrets(ctx context.Context, tc *v1alpha1.TenantCluster) (map[string]*corev1.Secret, map[string]string, error) {
	list := &corev1.SecretList{}
	if err := r.Client.List(ctx, list, client.InNamespace(controlplane.NamespaceOf(tc)), client.MatchingLabels{controlplane.LabelTenantCluster: tc.Name}); err != nil {
		return nil, nil, fmt.Errorf("list secrets of %s: %w", tc.Name, err)
	}
	secrets := map[string]*corev1.Secret{}
	sums := map[string]string{}
	for i := range list.Items {
		s := &list.Items[i]
		secrets[s.Name] = s
		sums[s.Name] = controlplane.SecretDataChecksum(s.Data)
	}
	return secrets, sums, nil
}

// observeComponents fills the component conditions from the live objects' status.
func (r *Reconciler) observeComponents(ctx context.Context, tc *v1alpha1.TenantCluster, o *observed) error {
	sts, err := getOptional[appsv1.StatefulSet](ctx, r.Client, controlplane.NamespaceOf(tc), controlplane.Etcd.ObjectName(tc.Name))
	if err != nil {
		return err
	}
	o.etcd = etcdCheck(sts, o.etcdMembership)
	deployments := []struct {
		c   controlplane.Component
		out *check
	}{
		{controlplane.APIServer, &o.apiServer},
		{controlplane.ControllerManager, &o.controllers},
		{controlplane.Scheduler, &o.scheduler},
	}
	for _, d := range deployments {
		dep, err := getOptional[appsv1.Deployment](ctx, r.Client, controlplane.NamespaceOf(tc), d.c.ObjectName(tc.Name))
		if err != nil {
			return err
		}
		*d.out = toCheck(health.Deployment(dep))
		if o.holdAPIServer && d.c == controlplane.APIServer {
			*d.out = check{reason: v1alpha1.WaitingForCertificatesReason, message: "waiting for its certificates to be issued"}
		}
		if o.holdControllers && d.c != controlplane.APIServer {
			*d.out = check{reason: v1alpha1.WaitingForDependencyReason, message: "waiting for the kube-apiserver to answer"}
		}
	}
	return nil
}

func toCheck(ok bool, msg string) check {
	if ok {
		return check{ok: true, reason: v1alpha1.AvailableReason, message: msg}
	}
	return check{reason: v1alpha1.ProgressingReason, message: msg}
}

// certificatesCheck says whether every desired Certificate is issued, and names those that
// are not.
func certificatesCheck(live []cmv1.Certificate, desired []client.Object) check {
	byName := map[string]*cmv1.Certificate{}
	for i := range live {
		byName[live[i].Name] = &live[i]
	}
	want, ready := 0, 0
	var waiting []string
	for _, obj := range desired {
		if _, isCert := obj.(*cmv1.Certificate); !isCert {
			continue
		}
		want++
		if c, ok := byName[obj.GetName()]; ok {
			if isReady, _ := pki.Ready(c); isReady {
				ready++
				continue
			}
		}
		waiting = append(waiting, obj.GetName())
	}
	if ready == want && want > 0 {
		return check{ok: true, reason: v1alpha1.AvailableReason, message: fmt.Sprintf("%d certificates issued", want)}
	}
	return check{reason: v1alpha1.WaitingForCertificatesReason, message: fmt.Sprintf("%d of %d certificates issued; waiting for %v", ready, want, waiting)}
}

func nodePortOf(svc *corev1.Service) int32 {
	if svc == nil {
		return 0
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == apiServerPort {
			return p.NodePort
		}
	}
	return 0
}

// tunnelNodePortOf is the node port the seed gave the apiserver Service's tunnel port.
func tunnelNodePortOf(svc *corev1.Service) int32 {
	if svc == nil {
		return 0
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "tunnel" {
			return p.NodePort
		}
	}
	return 0
}

// tunnelAgentOf is where the tenant's tunnel agents dial and what they authenticate with:
// the endpoint's host on the tunnel's node port (NodePort) or port (LoadBalancer). Nil
// until the port and the agent certificate exist.
func tunnelAgentOf(tc *v1alpha1.TenantCluster, ep pki.Endpoint, svc *corev1.Service, secret *corev1.Secret) *tunnelAgent {
	if ep.Host == "" || secret == nil || len(secret.Data[corev1.TLSCertKey]) == 0 {
		return nil
	}
	port := controlplane.TunnelPort
	if tc.Spec.Endpoint.Type == v1alpha1.EndpointNodePort {
		if port = tunnelNodePortOf(svc); port == 0 {
			return nil
		}
	}
	return &tunnelAgent{host: ep.Host, port: port, secret: secret}
}

// publishKubeconfig writes the admin kubeconfig into the TenantCluster's own namespace, for
// the customer and Magnum to read, owned by the TenantCluster. kubeseed never reads this copy
// back: a customer may change it.
func (r *Reconciler) publishKubeconfig(ctx context.Context, tc *v1alpha1.TenantCluster, kubeconfig []byte) error {
	name := controlplane.AdminKubeconfigSecret.Name(tc.Name)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tc.Namespace, Labels: pki.Labels(tc.Name)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{controlplane.KubeconfigKey: kubeconfig},
	}
	objs, err := r.toUnstructured([]client.Object{secret})
	if err != nil {
		return err
	}
	if _, err := r.Applier.Apply(ctx, tc, publishedInventory(tc), objs); err != nil {
		return fmt.Errorf("publish the admin kubeconfig of %s: %w", tc.Name, err)
	}
	tc.Status.KubeconfigSecretRef = &corev1.LocalObjectReference{Name: name}
	return nil
}

// toUnstructured converts typed objects for the applier, with their GVK set from the scheme.
func (r *Reconciler) toUnstructured(objs []client.Object) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		gvk, err := r.Client.GroupVersionKindFor(obj)
		if err != nil {
			return nil, fmt.Errorf("kind of %s: %w", obj.GetName(), err)
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("convert %s: %w", obj.GetName(), err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetGroupVersionKind(gvk)
		// Server-side apply refuses creationTimestamp: null and an empty status.
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "status")
		out = append(out, u)
	}
	return out, nil
}

// getOptional gets an object, returning nil when it does not exist.
func getOptional[T any, PT interface {
	*T
	client.Object
}](ctx context.Context, c client.Client, ns, name string) (*T, error) {
	obj := PT(new(T))
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get %s/%s: %w", ns, name, err)
	}
	return (*T)(obj), nil
}
