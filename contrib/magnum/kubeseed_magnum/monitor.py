"""Health of a kubeseed cluster for Magnum's periodic health poll.

Magnum's K8sMonitor dials the tenant's API from the conductor, which may not reach an
endpoint without a floating IP. kubeseed already watches every tenant from inside the
seed, so health is read from its conditions instead: the control plane's Ready and each
pool's Ready, with kubeseed's own words as the reasons.

The health poll is also the only driver call Magnum makes for a cluster between its
operations (update_cluster_status runs only while one is in progress): it reports each
worker nodegroup's node_count as its pool's spec.replicas, which kubeseed's autoscaler
changes without Magnum.
"""

import datetime

from oslo_config import cfg
from oslo_log import log as logging

from magnum.conductor import monitors

from kubeseed_magnum import conf as ks_conf
from kubeseed_magnum import mapping
from kubeseed_magnum import openstack as osk
from kubeseed_magnum import seed as seed_mod
from kubeseed_magnum import status

ks_conf.register_opts()  # [kubeseed] exists before anything reads it
CONF = cfg.CONF
LOG = logging.getLogger(__name__)


# RESUME_AFTER: how long a nodegroup stays in progress under a cluster at rest before the
# health poll takes it for a lost race (several 10 s status polls).
RESUME_AFTER = datetime.timedelta(seconds=60)


def _since(ng, now):
    """How long ago the nodegroup was last saved (created, if never updated)."""
    when = mapping.parse_time(getattr(ng, "updated_at", None) or getattr(ng, "created_at", None))
    return datetime.timedelta.max if when is None else now - when


class Monitor(monitors.MonitorBase):

    def __init__(self, context, cluster):
        super(Monitor, self).__init__(context, cluster)
        self.data = {}

    @property
    def metrics_spec(self):
        # The deprecated metrics notifications are not supported: no metric to offer.
        return {}

    def pull_data(self):
        return None

    def poll_health_status(self):
        ns = mapping.namespace_name(CONF.kubeseed.namespace_prefix, self.cluster.project_id)
        name = mapping.tenant_cluster_name(self.cluster.uuid)
        try:
            with seed_mod.Seed(CONF.kubeseed) as seed:
                tc = seed.get("TenantCluster", ns, name)
                pools = seed.list("WorkerPool", ns, "%s=%s" % (
                    mapping.CLUSTER_LABEL, self.cluster.uuid))
        except seed_mod.SeedError as e:
            LOG.warning("cluster %s: health unknown: %s", self.cluster.uuid, e)
            self.data["health_status"] = "UNKNOWN"
            self.data["health_status_reason"] = {"api": "kubeseed: %s" % e}
            return
        health, reasons = status.health(tc, pools)
        self.data["health_status"] = health
        self.data["health_status_reason"] = reasons
        self._resume_polling()
        self._sync_node_counts(ns, pools)

    def _resume_polling(self):
        """A cluster at rest with a nodegroup still in an operation lost a race between
        that operation's start and the poll that found the cluster done: back in progress,
        so that update_cluster_status finishes the operation (a delete would never end).
        The cluster is read again first (the periodic task listed it earlier: a cluster
        delete may have begun since), and only a nodegroup in progress for longer than
        RESUME_AFTER counts (the conductor saves the cluster's status after the
        nodegroups')."""
        if not (self.cluster.status or "").endswith("_COMPLETE"):
            return
        self.cluster.refresh()
        if not (self.cluster.status or "").endswith("_COMPLETE"):
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        busy = [ng.name for ng in self.cluster.nodegroups
                if (ng.status or "").endswith("_IN_PROGRESS") and _since(ng, now) > RESUME_AFTER]
        if busy:
            LOG.warning("cluster %s is %s while nodegroups %s are in progress: polled again",
                        self.cluster.uuid, self.cluster.status, ", ".join(busy))
            self.cluster.status = "UPDATE_IN_PROGRESS"
            self.cluster.status_reason = "nodegroup %s in progress" % ", ".join(busy)
            self.cluster.save()

    def _sync_node_counts(self, ns, pools):
        """node_count (and the addresses) of worker nodegroups as their pools' sizes; only
        for a cluster *_COMPLETE: in progress, update_cluster_status does it every 10 s."""
        if not (self.cluster.status or "").endswith("_COMPLETE"):
            return
        by_ng = {(p["metadata"].get("labels") or {}).get(mapping.NODEGROUP_LABEL): p
                 for p in pools}
        ngs = list(self.cluster.nodegroups)
        counts = status.reported_node_counts(
            [{"uuid": ng.uuid, "role": ng.role, "status": ng.status} for ng in ngs], by_ng)
        for ng in ngs:
            count = counts.get(ng.uuid)
            if count is None:
                continue
            addresses = ng.node_addresses or []
            if count == ng.node_count and len(addresses) == count:
                continue
            pool = by_ng[ng.uuid]["metadata"]["name"]
            if count != ng.node_count:
                LOG.info("cluster %s: nodegroup %s node_count %s -> %d, WorkerPool %s's "
                         "spec.replicas (kubeseed's autoscaler, or a scale in the seed)",
                         self.cluster.uuid, ng.name, ng.node_count, count, pool)
                ng.node_count = count
            # A server still building may have no address yet: looked up again next time.
            found = osk.node_addresses(self.cluster, ns, pool)
            if found is not None and found != addresses:
                ng.node_addresses = found
            if ng.obj_what_changed():
                ng.save()
