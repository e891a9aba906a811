"""Health of a kubeseed cluster for Magnum's periodic health poll.

Magnum's K8sMonitor dials the tenant's API from the conductor, which may not reach an
endpoint without a floating IP. kubeseed already watches every tenant from inside the
seed, so health is read from its conditions instead: the control plane's Ready and each
pool's Ready, with kubeseed's own words as the reasons.
"""

from oslo_config import cfg
from oslo_log import log as logging

from magnum.conductor import monitors

from kubeseed_magnum import conf as ks_conf
from kubeseed_magnum import mapping
from kubeseed_magnum import seed as seed_mod
from kubeseed_magnum import status

ks_conf.register_opts()  # [kubeseed] exists before anything reads it
CONF = cfg.CONF
LOG = logging.getLogger(__name__)


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
