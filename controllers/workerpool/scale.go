package workerpool

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kubeseed/kubeseed/pkg/bootstrap"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// scale creates the missing servers (and, in a rolling update, those replacing servers of
// an older template), drains and deletes the surplus and the replaced, as planServers
// decides, and uncordons the Nodes of servers no longer to be removed.
//
// The removals do not wait for the creates: with maxUnavailable a rollout goes on in a
// project whose quota leaves no room for a surge server, and a drain under way goes on while
// Nova refuses a create.
func (r *Reconciler) scale(ctx context.Context, p *pass) error {
	pl := planServers(p.desired, p.wp.Spec.Strategy, p.members)
	p.rolling, p.floor = pl.rolling, pl.floor
	victims := pl.remove
	var createErr error
	if pl.create > 0 {
		createErr = r.scaleUp(ctx, p, pl.create)
	}
	for _, v := range victims {
		if err := r.remove(ctx, p, v); err != nil {
			return errors.Join(createErr, err)
		}
	}
	var errs []error
	for _, m := range p.members {
		if m.draining() && !slices.Contains(victims, m) {
			if err := uncordon(ctx, p.tenant.client, m.node); err != nil {
				errs = append(errs, err)
				continue
			}
			r.Recorder.Eventf(p.wp, nil, corev1.EventTypeNormal, "NodeUncordoned", "Scale",
				"uncordoned Node %s: its server is no longer to be removed", m.Name)
		}
	}
	return errors.Join(createErr, tenantErr(errors.Join(errs...)))
}

// scaleUp creates n servers, named with the lowest free indexes, spread over the zones.
func (r *Reconciler) scaleUp(ctx context.Context, p *pass, n int) error {
	l, err := resolveLaunch(ctx, p.cloud, p.wp)
	if err != nil {
		return err
	}
	var ports []openstack.Port
	if l.subnetID != "" {
		if ports, err = p.cloud.Network.ListPorts(ctx, openstack.PoolTag(string(p.wp.UID))); err != nil {
			return fmt.Errorf("list the pool's ports: %w", err)
		}
	}
	servers := make([]openstack.Server, 0, len(p.members))
	names := make([]string, 0, len(p.members))
	for _, m := range p.members {
		servers, names = append(servers, m.Server), append(names, m.Name)
	}
	zones := newZoneSpread(p.wp.Spec.AvailabilityZones, servers)
	for _, name := range newServerNames(p.wp.Name, names, n) {
		m, err := r.createServer(ctx, p, l, name, zones.next(), ports)
		if err != nil {
			return err
		}
		p.members = append(p.members, m)
	}
	return nil
}

// createServer makes the server's bootstrap token in the tenant, renders its user_data and
// boots it.
func (r *Reconciler) createServer(ctx context.Context, p *pass, l *launch, name, zone string, ports []openstack.Port) (*member, error) {
	token, err := createToken(ctx, p.tenant.client, p.wp, name, r.TokenTTL)
	if err != nil {
		return nil, tenantErr(err)
	}
	userData, err := bootstrap.WorkerUserData(bootstrap.WorkerInputs{
		NodeName: name, APIServerEndpoint: p.tenant.endpoint, Token: token, CACertHash: p.tenant.caHash,
		NodeLabels: nodeLabels(p.wp, p.version), Taints: nodeTaints(p.wp), Reserved: l.reserved, KubernetesVersion: p.version,
		IgnorePreflightErrors: r.IgnorePreflightErrors,
	})
	if err != nil {
		return nil, errors.Join(err, r.dropToken(ctx, p, token))
	}
	tags := poolTags(p.wp, p.tc)
	live := map[string]bool{}
	for _, m := range p.members {
		live[m.ID] = true
	}
	nets, err := serverNetworks(ctx, p.cloud, l, name, tags, ports, live)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("server %s: %w", name, err), r.dropToken(ctx, p, token))
	}
	logf.FromContext(ctx).Info("Creating server", "server", name, "flavor", l.flavor.Name, "zone", zone, "tokenID", token.ID)
	srv, err := p.cloud.Compute.CreateServer(ctx, openstack.ServerSpec{
		Name: name, FlavorID: l.flavor.ID, ImageID: l.image.ID, Networks: nets, UserData: userData,
		Metadata: map[string]string{
			MetadataPool:              p.wp.Namespace + "/" + p.wp.Name,
			MetadataCluster:           p.tc.Namespace + "/" + p.tc.Name,
			MetadataTemplateHash:      p.hash,
			MetadataKubernetesVersion: p.version,
		},
		Tags: tags, ServerGroupID: l.serverGroupID, AvailabilityZone: zone, KeyName: p.wp.Spec.SSHKeyName,
	})
	if err != nil {
		// A request that may have reached Nova keeps its token: the server may exist,
		// and the next reconcile finds it by its tag.
		if !openstack.IsTransient(err) {
			err = errors.Join(err, r.dropToken(ctx, p, token))
		}
		return nil, err
	}
	r.Recorder.Eventf(p.wp, nil, corev1.EventTypeNormal, "ServerCreated", "ScaleUp",
		"created server %s (%s), version %s, flavor %s, image %s%s", name, srv.ID, p.version, l.flavor.Name, l.image.Name, inZone(zone))
	return &member{Server: openstack.Server{ID: srv.ID, Name: name, Status: statusBuild, AvailabilityZone: zone,
		Tags: tags, Created: p.now, Metadata: map[string]string{MetadataTemplateHash: p.hash}}}, nil
}

// dropToken deletes a token no server will use.
func (r *Reconciler) dropToken(ctx context.Context, p *pass, token bootstrap.Token) error {
	s := token.Secret()
	return tenantErr(deleteToken(ctx, p.tenant.client, s))
}

// remove drains the server's Node if it is Ready (a NotReady one cannot evict anything
// gracefully), then deletes the server. A drain under way adds the server to p.removing.
func (r *Reconciler) remove(ctx context.Context, p *pass, m *member) error {
	if m.nodeReady() {
		wasDraining := m.draining()
		res, err := drain(ctx, p.tenant.client, m.node, p.now, r.DrainTimeout)
		if err != nil {
			return tenantErr(err)
		}
		if !wasDraining {
			r.Recorder.Eventf(p.wp, nil, corev1.EventTypeNormal, "DrainingNode", removalAction(m),
				"cordoned Node %s and evicting its pods, to remove server %s%s", m.Name, m.ID, removalWhy(m))
		}
		if !res.done {
			p.removing = append(p.removing, m)
			return nil
		}
		if res.timedOut {
			r.Recorder.Eventf(p.wp, nil, corev1.EventTypeWarning, "DrainTimedOut", removalAction(m),
				"%d pods still on Node %s %s after its drain began (%d evictions refused by PodDisruptionBudgets), %d volumes still attached: deleting server %s anyway",
				res.left, m.Name, r.DrainTimeout, res.blocked, res.volumes, m.ID)
		}
	}
	if err := r.deleteServer(ctx, p, m); err != nil {
		return err
	}
	if m.sick != "" {
		r.Recorder.Eventf(p.wp, nil, corev1.EventTypeWarning, "ServerRemediated", removalAction(m),
			"deleted server %s (%s) and its Node: %s; a new one replaces it", m.Name, m.ID, m.sick)
		return nil
	}
	if m.outdated {
		r.Recorder.Eventf(p.wp, nil, corev1.EventTypeNormal, "ServerDeleted", removalAction(m),
			"deleted server %s (%s) and its Node: made from an older spec, replaced by one of version %s", m.Name, m.ID, p.version)
		return nil
	}
	r.Recorder.Eventf(p.wp, nil, corev1.EventTypeNormal, "ServerDeleted", removalAction(m),
		"deleted server %s (%s) and its Node: scaled down to %d", m.Name, m.ID, p.desired)
	return nil
}

// removalAction is the action of a removal's events: a rolling update's, or a scale-down's.
func removalAction(m *member) string {
	if m.sick != "" {
		return "Remediate"
	}
	if m.outdated {
		return "RollingUpdate"
	}
	return "ScaleDown"
}

func removalWhy(m *member) string {
	if m.sick != "" {
		return " (unhealthy: " + m.sick + ")"
	}
	if m.outdated {
		return " (made from an older spec: rolling update)"
	}
	return ""
}

// deleteServer deletes the server, its port (with a pinned subnet), its Node and its
// tokens, and drops it from the pass.
func (r *Reconciler) deleteServer(ctx context.Context, p *pass, m *member) error {
	logf.FromContext(ctx).Info("Deleting server", "server", m.Name, "id", m.ID, "status", m.Status)
	if err := openstack.IgnoreNotFound(p.cloud.Compute.DeleteServer(ctx, m.ID)); err != nil {
		return err
	}
	r.markDeleted(p.wp, m.ID, p.now)
	p.members = slices.DeleteFunc(p.members, func(x *member) bool { return x == m })
	if p.wp.Spec.SubnetID != "" && p.cloud.Network != nil {
		if err := deletePorts(ctx, p.cloud.Network, string(p.wp.UID), m.Name); err != nil {
			return err
		}
	}
	var errs []error
	if m.node != nil {
		errs = append(errs, deleteNode(ctx, p.tenant.client, m.Name))
		delete(p.nodes, m.Name)
		m.node = nil
	}
	kept := p.tokens[:0]
	for i := range p.tokens {
		if p.tokens[i].Labels[TokenServerLabel] == m.Name {
			errs = append(errs, deleteToken(ctx, p.tenant.client, &p.tokens[i]))
			continue
		}
		kept = append(kept, p.tokens[i])
	}
	p.tokens = kept
	return tenantErr(errors.Join(errs...))
}

// deletePorts deletes the pool's ports called name ("" for all of them).
func deletePorts(ctx context.Context, network openstack.Network, poolUID, name string) error {
	ports, err := network.ListPorts(ctx, openstack.PoolTag(poolUID))
	if err != nil {
		return fmt.Errorf("list the pool's ports: %w", err)
	}
	for _, port := range ports {
		if name != "" && port.Name != name {
			continue
		}
		if err := openstack.IgnoreNotFound(network.DeletePort(ctx, port.ID)); err != nil {
			return fmt.Errorf("delete port %s: %w", port.Name, err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func inZone(zone string) string {
	if zone == "" {
		return ""
	}
	return " in " + zone
}

func orNone(s string) string {
	if s == "" {
		return "Nova gave no reason"
	}
	return s
}
