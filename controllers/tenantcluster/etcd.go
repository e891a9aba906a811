package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/etcd"
)

// EtcdDialer connects to a tenant's etcd.
type EtcdDialer func(ctx context.Context, cfg etcd.Config) (etcd.Client, error)

// dialEtcd is the real EtcdDialer.
func dialEtcd(ctx context.Context, cfg etcd.Config) (etcd.Client, error) {
	c, err := etcd.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

const (
	// requeueWhileScaling polls etcd while members are added: a learner starting or
	// catching up changes nothing the controller watches.
	requeueWhileScaling = 5 * time.Second
	// requeueWhileBlocked polls a membership that needs a person.
	requeueWhileBlocked = time.Minute
	// etcdTimeout bounds one reconcile's talk with etcd; reconciles of other tenants wait.
	etcdTimeout = 10 * time.Second
)

// etcdMembership is the etcd StatefulSet's size and cluster ConfigMap for this reconcile,
// and what growing the cluster towards the spec observed and did.
type etcdMembership struct {
	// replicas and members are Inputs.EtcdReplicas and EtcdMembers (0: the spec's), existing
	// is Inputs.EtcdClusterExisting.
	replicas, members int32
	existing          bool
	// growing: the cluster has fewer voting members than the spec asks for, or may have.
	growing bool
	// step is the planner's, when etcd answered; observed are the members it saw.
	step     *etcd.Step
	observed []etcd.Member
	// problem says why talking to etcd failed.
	problem string
	// wipe is the cluster ConfigMap's controlplane.EtcdWipeKey (etcd_lost.go): worked out
	// when etcd is asked; empty when every pod is ready (no learner is pending: a
	// learner's pod is not ready); the live one when etcd cannot be asked.
	wipe string
	// liveImages are the live StatefulSet's (Inputs.EtcdLiveImages).
	liveImages struct{ Etcd, Wipe string }
	// volumes are the members' volumes (volumes.go).
	volumes etcdVolumes
}

// reconcileEtcdMembers decides the etcd StatefulSet's size and membership. A new cluster
// bootstraps at the spec's size. A running one that must grow is grown by the planner's
// next step, one per reconcile; the ConfigMap lists a learner before its pod exists, and the
// StatefulSet never shrinks. Talking to etcd happens only while growing, or while a grown
// cluster has a pod that is not ready (a learner fails readiness until it is promoted).
func (r *Reconciler) reconcileEtcdMembers(ctx context.Context, tc *v1alpha1.TenantCluster, sts *appsv1.StatefulSet, cm *corev1.ConfigMap, secrets map[string]*corev1.Secret, pods etcdPodStates) etcdMembership {
	desired, err := controlplane.DesiredEtcdMembers(tc)
	current := int32(0)
	if sts != nil {
		current = ptr.Deref(sts.Spec.Replicas, 1)
		if current == 0 {
			// Scaled to zero (hibernated, or held for its certificates): the size it has is
			// the members its cluster ConfigMap lists, which wake with their data.
			current = listedMembers(cm)
		}
	}
	if err != nil || current == 0 {
		// ValuesFor reports an invalid spec; a new cluster, or one whose first members are
		// held for their certificates (reconcileHolds), bootstraps whole.
		return etcdMembership{}
	}
	m := etcdMembership{
		replicas: current,
		members:  max(current, listedMembers(cm)),
		existing: cmValue(cm, controlplane.EtcdInitialClusterStateKey) == controlplane.EtcdClusterStateExisting,
		growing:  current < desired,
	}
	learnerMayWait := m.existing && sts.Status.ReadyReplicas < current
	if !m.growing && !learnerMayWait && !slices.Contains(pods.lost, true) {
		return m // nothing to do
	}
	// Until etcd answers, a pending learner's pod may still start on its empty volume.
	m.wipe = cmValue(cm, controlplane.EtcdWipeKey)
	if sts.Status.ReadyReplicas == 0 {
		return m // no member up to ask (a cluster starting, or waking)
	}

	ctx, cancel := context.WithTimeout(ctx, etcdTimeout)
	defer cancel()
	cli, err := r.dialTenantEtcd(ctx, tc, secrets)
	if err != nil {
		m.problem = err.Error()
		return m
	}
	defer func() { _ = cli.Close() }()
	members, err := etcd.Observe(ctx, cli)
	if err != nil {
		m.problem = err.Error()
		return m
	}
	// The cluster answered, so it exists: a member starting from now on joins it.
	m.existing = true

	targets := make([]etcd.Target, desired)
	for i := range targets {
		targets[i] = etcd.Target{Name: controlplane.EtcdMemberName(tc.Name, i), PeerURL: controlplane.EtcdPeerURL(tc.Name, controlplane.NamespaceOf(tc), i)}
	}
	if m.wipe, err = r.wipeMarker(ctx, tc, cmValue(cm, controlplane.EtcdWipeKey), members, targets, pods); err != nil {
		m.problem = err.Error()
	}
	step := etcd.Plan(etcd.Input{Targets: targets, Members: members, Replicas: current, ReadyReplicas: sts.Status.ReadyReplicas, DataLost: pods.lost})
	switch step.Action {
	case etcd.AddLearner:
		added, err := cli.AddLearner(ctx, step.Target.PeerURL)
		switch {
		case errors.Is(err, etcd.ErrNotSettled):
			step.Reason = fmt.Sprintf("waiting for the members to settle before adding learner %s", step.Target.Name)
		case err != nil:
			m.problem = fmt.Sprintf("add learner %s: %v", step.Target.Name, err)
		default:
			members = append(members, added)
		}
	case etcd.Remove:
		err := cli.Remove(ctx, step.MemberID)
		switch {
		case errors.Is(err, etcd.ErrNotSettled):
			step.Reason = fmt.Sprintf("waiting for the members to settle before removing %s, which lost its data", step.Target.Name)
		case err != nil:
			m.problem = fmt.Sprintf("remove member %s, which lost its data: %v", step.Target.Name, err)
		default:
			members = slices.DeleteFunc(members, func(x etcd.Member) bool { return x.ID == step.MemberID })
			r.Recorder.Eventf(tc, nil, corev1.EventTypeWarning, "EtcdMemberDataLost", "ReplaceMember",
				"etcd member %s (%x) lost its data (its volume replaced, or its database or log corrupt): removed, to be added back as a learner on an empty data directory", step.Target.Name, step.MemberID)
		}
	case etcd.Grow:
		m.replicas = step.Replicas
	case etcd.Promote:
		err := cli.Promote(ctx, step.MemberID)
		switch {
		case errors.Is(err, etcd.ErrLearnerNotReady), errors.Is(err, etcd.ErrNotSettled):
			step.Reason = fmt.Sprintf("waiting for learner %s to catch up with the leader", step.Target.Name)
		case err != nil:
			m.problem = fmt.Sprintf("promote learner %s: %v", step.Target.Name, err)
		default:
			for i := range members {
				if members[i].ID == step.MemberID {
					members[i].IsLearner = false
				}
			}
		}
	}
	m.members = max(m.members, int32(len(members)))
	m.step, m.observed = &step, members
	m.growing = m.growing || step.Action != etcd.Done
	return m
}

// dialTenantEtcd connects through the etcd client Service with the kube-apiserver's client
// certificate, which the etcd CA signed.
func (r *Reconciler) dialTenantEtcd(ctx context.Context, tc *v1alpha1.TenantCluster, secrets map[string]*corev1.Secret) (etcd.Client, error) {
	name := controlplane.APIServerEtcdClientSecret.Name(tc.Name)
	s := secrets[name]
	if s == nil || len(s.Data[controlplane.CACertKey]) == 0 || len(s.Data[controlplane.TLSCertKey]) == 0 || len(s.Data[controlplane.TLSKeyKey]) == 0 {
		return nil, fmt.Errorf("the etcd client certificate %s is not issued yet", name)
	}
	dial := r.EtcdDialer
	if dial == nil {
		dial = dialEtcd
	}
	cli, err := dial(ctx, etcd.Config{
		Endpoints: []string{controlplane.EtcdClientURL(tc.Name, controlplane.NamespaceOf(tc))},
		CA:        s.Data[controlplane.CACertKey],
		Cert:      s.Data[controlplane.TLSCertKey],
		Key:       s.Data[controlplane.TLSKeyKey],
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd of %s: %w", tc.Name, err)
	}
	return cli, nil
}

// listedMembers counts the members the live ConfigMap lists: a learner added in an earlier
// reconcile stays listed even when etcd does not answer now.
func listedMembers(cm *corev1.ConfigMap) int32 {
	if cm == nil || cm.Data[controlplane.EtcdInitialClusterKey] == "" {
		return 0
	}
	return int32(len(strings.Split(cm.Data[controlplane.EtcdInitialClusterKey], ",")))
}

// etcdCheck is the EtcdAvailable condition, c the StatefulSet's health. While the cluster grows, etcd's own view
// decides it: a quorum of healthy voting members (a learner's pod is never ready, so the
// StatefulSet's count would understate it); the message says how far growing got. The
// members' volumes add theirs (volumesCheck).
func etcdCheck(c check, m etcdMembership) check {
	return volumesCheck(membershipCheck(c, m), m.volumes)
}

func membershipCheck(c check, m etcdMembership) check {
	if !m.growing {
		if m.problem != "" {
			c.message += "; cannot check etcd's members: " + m.problem
		}
		return c
	}
	var msg string
	if m.step != nil {
		msg = m.step.Message()
		c.ok = votingQuorumHealthy(m.observed)
		if !c.ok {
			c.reason = v1alpha1.ProgressingReason
		}
	} else {
		msg = "scaling etcd"
	}
	if m.problem != "" {
		msg += ": " + m.problem
	}
	if c.ok {
		c.reason = v1alpha1.ScalingReason
	}
	c.message = msg + "; " + c.message
	return c
}

func votingQuorumHealthy(members []etcd.Member) bool {
	var voting, healthy int
	for _, m := range members {
		if m.IsLearner {
			continue
		}
		voting++
		if m.Healthy {
			healthy++
		}
	}
	return voting > 0 && healthy >= voting/2+1
}

// requeueFor paces reconciles while etcd grows; zero when it does not.
func (m etcdMembership) requeueFor() time.Duration {
	switch {
	case !m.growing:
		return 0
	case m.step != nil && m.step.Action == etcd.Blocked:
		return requeueWhileBlocked
	default:
		return requeueWhileScaling
	}
}

// cmValue is a key of a ConfigMap that may not exist.
func cmValue(cm *corev1.ConfigMap, key string) string {
	if cm == nil {
		return ""
	}
	return cm.Data[key]
}
