package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/charts"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/health"
	"github.com/kubeseed/kubeseed/pkg/pki"
	"github.com/kubeseed/kubeseed/pkg/render"
)

// reconcileNamespace makes the control-plane namespace; a namespace that cannot be had yet
// stops the reconcile with the reason on every condition.
func (r *Reconciler) reconcileNamespace(ctx context.Context, s *scope) (bool, error) {
	// The name makes the namespace's: one that cannot is the spec's fault, for good.
	if err := controlplane.ValidateName(s.tc.Name); err != nil {
		s.o.invalid = err.Error()
		return true, reconcile.TerminalError(err)
	}
	ns, c, err := r.ensureNamespace(ctx, s.tc)
	if err != nil {
		return true, err
	}
	if ns == nil {
		s.o.blocked = c
		s.requeueAfter(namespaceWait)
		return true, nil
	}
	s.ns, s.o.namespace = ns, ns.Name
	return false, nil
}

// reconcileEndpoint decides the published address: the Service's (NodePort, LoadBalancer) or
// the customer's Octavia load balancer's, known before any certificate is issued.
func (r *Reconciler) reconcileEndpoint(ctx context.Context, s *scope) (bool, error) {
	tc := s.tc
	svc, err := getOptional[corev1.Service](ctx, r, s.namespace(), controlplane.APIServer.ObjectName(tc.Name))
	if err != nil {
		return true, err
	}
	s.svc = svc
	addr := r.NodeAddress
	if addr == "" && tc.Spec.Endpoint.Type == v1alpha1.EndpointNodePort {
		nodes := &corev1.NodeList{}
		if err := r.Client.List(ctx, nodes); err != nil {
			return true, fmt.Errorf("list seed nodes: %w", err)
		}
		published := publishedEndpoint(tc).Host
		addr = nodeAddress(nodes.Items, published)
		if published != "" && addr != "" && addr != published {
			r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, "EndpointMoved", "Reconcile",
				"no seed node has the published address %s any more: the endpoint moves to %s; the serving certificate is re-issued and workers joined through the old address must be re-pointed", published, addr)
		}
	}
	ep, c := endpointOf(tc, svc, addr)
	if tc.Spec.Endpoint.Type == v1alpha1.EndpointOctavia && svc != nil {
		var requeue time.Duration
		ep, c, requeue, s.cloudErr = r.reconcileOctavia(ctx, s, svc)
		s.requeueAfter(requeue)
		if ep.Host == "" && !c.ok {
			// The cloud cannot be read now: keep the address already published rather than
			// withdraw the certificate and kubeconfigs that name it.
			ep = publishedEndpoint(tc)
		}
	}
	s.endpoint = ep
	s.o.checks[v1alpha1.EndpointReadyCondition], s.o.endpoint = c, ep.URL()
	return false, nil
}

// reconcilePKI computes the cert-manager objects, reads what is issued, and assembles the
// kubeconfigs once every certificate is issued and the endpoint known.
func (r *Reconciler) reconcilePKI(ctx context.Context, s *scope) (bool, error) {
	tc := s.tc
	desired, err := pki.Objects(tc, s.endpoint)
	if err != nil {
		return true, fmt.Errorf("compute PKI of %s: %w", tc.Name, err)
	}
	certs := &cmv1.CertificateList{}
	if err := r.Client.List(ctx, certs, client.InNamespace(s.namespace()), client.MatchingLabels{controlplane.LabelTenantCluster: tc.Name}); err != nil {
		return true, fmt.Errorf("list certificates: %w", err)
	}
	// The autoscaler's certificate is issued for every tenant but counts only while the
	// autoscaler runs: a kubeseed upgrade that adds it does not take Ready away.
	var optional []string
	if len(s.autoscaledPools) == 0 {
		optional = append(optional, controlplane.AutoscalerClientSecret.Name(tc.Name))
	}
	certificates := certificatesCheck(certs.Items, desired, optional...)
	if s.secrets, s.sums, err = r.issuedSecrets(ctx, s); err != nil {
		return true, err
	}
	if certificates.ok && s.endpoint.Host != "" {
		kubeconfigs, err := pki.KubeconfigSecrets(tc, s.endpoint.URL(), s.secrets)
		switch {
		case errors.Is(err, pki.ErrNotIssued):
			certificates = check{reason: v1alpha1.WaitingForCertificatesReason, message: err.Error()}
		case err != nil:
			return true, fmt.Errorf("assemble kubeconfigs of %s: %w", tc.Name, err)
		default:
			for _, sec := range kubeconfigs {
				if sec.Name == controlplane.AdminKubeconfigSecret.Name(tc.Name) {
					s.adminKubeconfig = sec.Data[controlplane.KubeconfigKey]
				}
				desired = append(desired, sec)
				s.sums[sec.Name] = controlplane.SecretDataChecksum(sec.Data)
			}
		}
	}
	s.desired = desired
	s.o.checks[v1alpha1.CertificatesReadyCondition] = certificates
	return false, nil
}

// reconcileEtcdMembership decides etcd's size and membership (growing it one member at a
// time), and expands its members' volumes to the spec's size (volumes.go).
func (r *Reconciler) reconcileEtcdMembership(ctx context.Context, s *scope) (bool, error) {
	tc := s.tc
	sts, err := getOptional[appsv1.StatefulSet](ctx, r, s.namespace(), controlplane.Etcd.ObjectName(tc.Name))
	if err != nil {
		return true, err
	}
	cm, err := getOptional[corev1.ConfigMap](ctx, r, s.namespace(), controlplane.EtcdClusterConfigMapName(tc.Name))
	if err != nil {
		return true, err
	}
	s.o.etcdMembership = r.reconcileEtcdMembers(ctx, tc, sts, cm, s.secrets, r.etcdPods(ctx, s, sts))
	if s.o.restore.fresh || s.o.restore.active {
		// The snapshot is restored into member 0 alone: it starts on that data, and the
		// cluster grows from it as any cluster grows. The membership says so from the
		// start, so no cluster ConfigMap ever lists members that were never added.
		desired, _ := controlplane.DesiredEtcdMembers(tc)
		s.o.etcdMembership = etcdMembership{replicas: 1, members: 1, existing: true, growing: desired > 1}
	}
	if s.o.hibernation.down[controlplane.Etcd] {
		s.o.etcdMembership.growing = false // no member to grow while it hibernates
	}
	s.o.etcdMembership.liveImages = etcdLiveImages(sts)
	if s.o.etcdMembership.volumes, err = r.reconcileEtcdVolumes(ctx, s, sts); err != nil {
		return true, err
	}
	s.requeueAfter(s.o.etcdMembership.requeueFor())
	return false, nil
}

// reconcileHolds decides, for every component with a Hold in the registry, whether it is
// rendered with no replica yet. A component that has replicas keeps them: renewals and
// apiserver blips never stop a running control plane.
func (r *Reconciler) reconcileHolds(ctx context.Context, s *scope) (bool, error) {
	apiServerAnswered := false
	api, err := r.workload(ctx, s, controlplane.APIServer)
	if err != nil {
		return true, err
	}
	if api.available > 0 {
		apiServerAnswered = true
	}
	for _, c := range controlplane.Registry {
		if c.Hold != controlplane.HoldForAPIServer || !s.renders(c) {
			continue // one left out holds nothing, and reading it costs a live GET
		}
		w, err := r.workload(ctx, s, c.Component)
		if err != nil {
			return true, err
		}
		if w.exists && w.replicas > 0 {
			apiServerAnswered = true // it was released once: all of them stay released
		}
	}
	for _, c := range controlplane.Registry {
		if s.o.restore.active && c.Component != controlplane.Etcd {
			s.o.held[c.Component] = true // nothing starts before etcd holds the backup
			continue
		}
		switch c.Hold {
		case controlplane.HoldForAPIServer:
			s.o.held[c.Component] = !apiServerAnswered
		case controlplane.HoldForCertificates, controlplane.HoldForSecrets:
			if s.o.checks[v1alpha1.CertificatesReadyCondition].ok ||
				(c.Hold == controlplane.HoldForSecrets && len(controlplane.SecretsMissing(s.tc.Name, c.Component, s.secrets)) == 0) {
				continue
			}
			w, err := r.workload(ctx, s, c.Component)
			if err != nil {
				return true, err
			}
			s.o.held[c.Component] = !w.exists || w.replicas == 0
		}
	}
	return false, nil
}

// reconcileApply renders the control-plane chart and applies it with the PKI in one
// server-side apply, then publishes the admin kubeconfig (and the autoscaler's Role) in the
// customer's namespace.
func (r *Reconciler) reconcileApply(ctx context.Context, s *scope) (bool, error) {
	tc, m := s.tc, s.o.etcdMembership
	nodePort, tunnelNodePort := nodePortOf(s.svc), tunnelNodePortOf(s.svc)
	if s.svc == nil {
		var err error
		if nodePort, tunnelNodePort, err = r.restoredNodePorts(ctx, s); err != nil {
			return true, err
		}
	}
	values, err := controlplane.ValuesFor(tc, controlplane.Inputs{
		EndpointHost:        s.endpoint.Host,
		NodePort:            nodePort,
		TunnelNodePort:      tunnelNodePort,
		SecretChecksums:     s.sums,
		SecretCAChecksums:   caChecksums(s.secrets),
		ImageRegistry:       r.ImageRegistry,
		ManagerNamespace:    r.ManagerNamespace,
		PriorityClassName:   r.PriorityClassName,
		Spread:              r.Spread,
		Size:                tc.Status.ControlPlaneSize,
		Held:                s.o.hibernation.held(s.o.held),
		ControllersVersion:  s.o.upgrade.ControllersVersion,
		APIServerVersion:    s.o.upgrade.APIServerVersion,
		EtcdReplicas:        m.replicas,
		EtcdMembers:         m.members,
		EtcdClusterExisting: m.existing,
		EtcdWipe:            m.wipe,
		EtcdLiveImages:      m.liveImages,
		EtcdRestore:         etcdRestoreInput(tc, s.o.restore),
		EtcdClaimTemplate:   m.volumes.claim,
		EtcdVolumeCapacity:  m.volumes.capacity,
		Autoscaler:          len(s.autoscaledPools) > 0,
		AutoscalerSettings:  r.AutoscalerSettings,
	})
	var invalid *controlplane.InvalidSpecError
	if errors.As(err, &invalid) {
		s.o.invalid = invalid.Error()
		return true, reconcile.TerminalError(err) // retrying cannot fix the spec
	} else if err != nil {
		return true, fmt.Errorf("compute values of %s: %w", tc.Name, err)
	}
	rendered, err := render.Render(charts.TenantControlPlane, tc.Name, s.namespace(), values)
	if err != nil {
		return true, fmt.Errorf("render control plane of %s: %w", tc.Name, err)
	}
	rendered, s.restoreObjs = splitRestoreObjects(rendered)
	stamps, err := controlplane.StampWorkloads(rendered, r.release())
	if err != nil {
		return true, err
	}
	s.stamps = stamps
	if ok, err := r.awaitRolloutSlot(ctx, s, stamps); err != nil || !ok {
		return err != nil, err // waiting: what runs keeps running, unchanged
	}
	objs, err := r.toUnstructured(append(s.desired, s.extra...))
	if err != nil {
		return true, err
	}
	if _, err := r.Applier.Apply(ctx, s.ns, inventoryOf(tc), append(objs, rendered...)); err != nil {
		return true, fmt.Errorf("apply control plane of %s: %w", tc.Name, err)
	}
	if s.adminKubeconfig != nil {
		if err := r.publish(ctx, tc, s.adminKubeconfig, s.autoscaledPools, &s.o); err != nil {
			return true, err
		}
	}
	return false, nil
}

// observeComponents fills each registry component's condition from its workload's status; a
// component that does not serve names its pods' cause (Unschedulable with the scheduler's
// words, an image that cannot be pulled, a crash loop) when they show one.
func (r *Reconciler) observeComponents(ctx context.Context, s *scope) (bool, error) {
	for _, c := range controlplane.Registry {
		if !s.renders(c) {
			s.o.absent[c.Condition] = true
			continue
		}
		w, err := r.workload(ctx, s, c.Component)
		if err != nil {
			return true, err
		}
		chk := toCheck(w.ok, w.message)
		if c.Component == controlplane.Etcd {
			chk = etcdCheck(chk, s.o.etcdMembership) // etcd's own view while it grows
		}
		switch {
		case s.o.restore.active && c.Component != controlplane.Etcd:
			chk = check{reason: v1alpha1.WaitingForDependencyReason, message: "waiting for etcd to be restored from backup " + s.o.restore.src.manifest.Name}
		case s.o.hibernation.down[c.Component] && !s.o.hibernation.serving():
			chk = check{reason: v1alpha1.HibernatedReason, message: "scaled to zero: the tenant hibernates"}
		case s.o.held[c.Component] && c.Hold != controlplane.HoldForAPIServer:
			chk = check{reason: v1alpha1.WaitingForCertificatesReason, message: "waiting for its certificates to be issued"}
		case s.o.held[c.Component]:
			chk = check{reason: v1alpha1.WaitingForDependencyReason, message: "waiting for the kube-apiserver to answer"}
		case !chk.ok && w.exists:
			if reason, msg, ok := r.podsCause(ctx, s, c.Component); !ok {
				chk.reason, chk.message = reason, msg+"; "+chk.message
			}
		}
		s.o.checks[c.Condition] = chk
	}
	if !s.o.hibernation.serving() {
		s.o.blocked = check{reason: v1alpha1.HibernatedReason, message: hibernatingMessage}
	}
	if err := r.releaseRolloutSlot(ctx, s); err != nil {
		return true, err
	}
	return false, nil
}

// reconcileInside works inside the tenant once its apiserver serves; a hibernating tenant's
// conditions inside stay as they were last seen.
func (r *Reconciler) reconcileInside(ctx context.Context, s *scope) (bool, error) {
	if !s.o.hibernation.serving() {
		return false, nil
	}
	var caPEM []byte
	if ca := s.secrets[controlplane.CASecret.Name(s.tc.Name)]; ca != nil {
		caPEM = ca.Data[corev1.TLSCertKey]
	}
	s.requeueAfter(r.reconcileTenant(ctx, s.tc, &s.o, tenantState{
		endpoint: s.endpoint, caPEM: caPEM, kubeconfig: s.adminKubeconfig,
		tunnel:     tunnelAgentOf(s.tc, s.endpoint, s.svc),
		holdAddons: s.o.rolloutWait.reason != "",
	}))
	return false, nil
}

// workloadState is what a component's workload shows.
type workloadState struct {
	exists              bool
	replicas, available int32
	pods                int32  // status.replicas: the pods that are not terminating
	ok                  bool   // health's verdict
	message             string // health's words
}

// workload reads a registry component's workload in the control-plane namespace.
func (r *Reconciler) workload(ctx context.Context, s *scope, c controlplane.Component) (workloadState, error) {
	spec, _ := controlplane.Lookup(c)
	name := c.ObjectName(s.tc.Name)
	var w workloadState
	switch spec.Workload {
	case controlplane.StatefulSet:
		sts, err := getOptional[appsv1.StatefulSet](ctx, r, s.namespace(), name)
		if err != nil {
			return w, err
		}
		if sts != nil {
			w.exists, w.replicas, w.available, w.pods = true, ptr.Deref(sts.Spec.Replicas, 1), sts.Status.AvailableReplicas, sts.Status.Replicas
		}
		w.ok, w.message = health.StatefulSet(sts)
	default:
		d, err := getOptional[appsv1.Deployment](ctx, r, s.namespace(), name)
		if err != nil {
			return w, err
		}
		if d != nil {
			w.exists, w.replicas, w.available, w.pods = true, ptr.Deref(d.Spec.Replicas, 1), d.Status.AvailableReplicas, d.Status.Replicas
		}
		w.ok, w.message = health.Deployment(d)
	}
	return w, nil
}

// podsCause lists a component's pods (live, not cached: only for a component that does not
// serve, so the manager keeps no cache of every pod of the seed) and says what holds them.
func (r *Reconciler) podsCause(ctx context.Context, s *scope, c controlplane.Component) (reason, message string, ok bool) {
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	pods := &corev1.PodList{}
	if err := reader.List(ctx, pods, client.InNamespace(s.namespace()), client.MatchingLabels(controlplane.Labels(s.tc.Name, c))); err != nil {
		return "", "", true // the workload's own words stay
	}
	return health.Pods(pods.Items, time.Now())
}
