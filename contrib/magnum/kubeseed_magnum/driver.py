"""Magnum's driver for kubeseed: a Magnum cluster is a TenantCluster (the master
nodegroup) plus one WorkerPool per worker nodegroup, in the seed namespace of its project.

Magnum calls the lifecycle methods from its conductor and update_cluster_status from its
periodic task (every 10 s, only while a cluster is *_IN_PROGRESS). Every method makes a
few short seed calls and returns: nothing waits on kubeseed here, the periodic poll does.
"""

import contextlib
import datetime

from oslo_config import cfg
from oslo_log import log as logging

from magnum.common import exception
from magnum.drivers.common import driver
from magnum.objects import fields

from kubeseed_magnum import conf as ks_conf
from kubeseed_magnum import mapping
from kubeseed_magnum import monitor
from kubeseed_magnum import openstack as osk
from kubeseed_magnum import seed as seed_mod
from kubeseed_magnum import status as st

ks_conf.register_opts()  # [kubeseed] exists before anything reads it
CONF = cfg.CONF
LOG = logging.getLogger(__name__)
S = fields.ClusterStatus
POLLED = (S.CREATE_IN_PROGRESS, S.UPDATE_IN_PROGRESS, S.ROLLBACK_IN_PROGRESS)
TC, WP = "TenantCluster", "WorkerPool"


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


# When this process last stamped an operation on a cluster (uuid: time): the deadline of
# an operation whose stamp cannot be read because the seed does not answer.
_STAMPED = {}
MAX_BATCH_SIZE = 100  # the WorkerPool CRD's maximum of spec.strategy.maxSurge


def _stamp(now=None, cluster=None):
    now = now or _now()
    if cluster is not None:
        _STAMPED[cluster.uuid] = now
    return {"annotations": {mapping.STARTED_ANNOTATION: mapping.format_time(now)}}


def _set(obj, **values):
    """Sets only what changed and saves only then: the poll runs every 10 s."""
    for k, v in values.items():
        if getattr(obj, k, None) != v:
            setattr(obj, k, v)
    if obj.obj_what_changed():
        obj.save()


def _timeout(cluster):
    return cluster.create_timeout or CONF.cluster_heat.create_timeout


def _late(since, cluster):
    since = mapping.parse_time(since)
    return since is not None and _now() - since > datetime.timedelta(minutes=_timeout(cluster))


def _record_bounds(ng, spec):
    """Keeps an autoscaled nodegroup's min_node_count and max_node_count as its pool's
    spec.autoscaling: Magnum's API then refuses a resize outside them itself (it checks
    max_node_count only when set, and a default nodegroup gets its maximum from a label)."""
    scaling = spec.get("autoscaling")
    if scaling:
        _set(ng, min_node_count=scaling["minReplicas"], max_node_count=scaling["maxReplicas"])


def _where(cluster):
    return (mapping.namespace_name(CONF.kubeseed.namespace_prefix, cluster.project_id),
            mapping.tenant_cluster_name(cluster.uuid))


def _selector(cluster, ng=None):
    sel = "%s=%s" % (mapping.CLUSTER_LABEL, cluster.uuid)
    return sel + (",%s=%s" % (mapping.NODEGROUP_LABEL, ng.uuid) if ng else "")


@contextlib.contextmanager
def _seed(cluster):
    """A seed client whose errors become Magnum's, naming the cluster."""
    seed = seed_mod.Seed(CONF.kubeseed)
    try:
        yield seed
    except seed_mod.SeedError as e:
        raise osk.magnum_error("cluster %s (%s): %s" % (cluster.name, cluster.uuid, e))
    finally:
        seed.close()


def _build(fn, *args):
    try:
        return fn(*args)
    except mapping.MappingError as e:
        raise osk.magnum_error(e, exception.InvalidParameterValue)


def _apply(seed, obj, shown, patch=None):
    """Creates obj (or merge-patches it with patch); the API's refusal of a spec becomes
    InvalidParameterValue naming the Magnum fields behind it."""
    meta = obj["metadata"]
    try:
        if patch is None:
            return seed.apply(obj)
        return seed.patch(obj["kind"], meta["namespace"], meta["name"], patch)
    except seed_mod.SeedError as e:
        if e.status not in (400, 422):
            raise
        raise osk.magnum_error(mapping.explain_refusal(
            obj["kind"], meta["name"], e.reason, shown), exception.InvalidParameterValue)


class Driver(driver.Driver):
    """kubeseed: hosted control planes in a seed cluster, workers in the project."""

    provides = [{"server_type": "vm", "os": "kubeseed", "coe": "kubernetes"}]

    def __init__(self):
        # Magnum instantiates every driver at start-up: nothing here may fail or be slow.
        super(Driver, self).__init__()

    # --- create ------------------------------------------------------------------------

    def create_cluster(self, context, cluster, cluster_create_timeout):
        values = osk.cluster_values(cluster)
        ignored = _build(mapping.validate_cluster, values)
        if ignored:
            LOG.info("cluster %s: the kubeseed driver ignores labels %s", cluster.uuid,
                     ", ".join(ignored))
        net_id, sub_id = osk.resolve_network(context, values["fixed_network"],
                                             values["fixed_subnet"])
        ext_id = (osk.external_network_id(context, values["external_network_id"])
                  if mapping.floating_ip(values) else None)
        ns, tc_name = _where(cluster)
        cas = osk.ca_secrets(context, cluster)
        c = dict(values, uuid=cluster.uuid, name=cluster.name, namespace=ns, tc_name=tc_name,
                 network_id=net_id, subnet_id=sub_id, external_network_id=ext_id,
                 cas=[k for k in ("cluster", "etcd", "frontProxy") if k in cas])
        now = _now()
        tc = _build(mapping.tenant_cluster_manifest, c, now)
        c["version"] = tc["spec"]["version"]
        workers = [ng for ng in cluster.nodegroups if ng.role != "master"]
        pools = [(ng, _build(mapping.worker_pool_manifest, c, osk.nodegroup_values(ng), now))
                 for ng in workers]
        names = mapping.secret_names(tc_name)
        cloud = osk.clouds_yaml(cluster)
        with _seed(cluster) as seed:
            seed.ensure_namespace(ns, cluster.project_id)
            for field, data in cas.items():
                seed.apply_secret(ns, names[field], data, cluster.uuid, "kubernetes.io/tls")
            seed.apply_secret(ns, names["cloud"], cloud, cluster.uuid)
            _apply(seed, tc, osk.shown(values))
            for ng, pool in pools:
                _apply(seed, pool, osk.shown(values, ng))
        for ng, pool in pools:
            _record_bounds(ng, pool["spec"])
        # Magnum's conductor copies stack_id to the default nodegroups.
        cluster.stack_id = tc_name

    # --- status ------------------------------------------------------------------------

    def update_cluster_status(self, context, cluster, use_admin_ctx=False):
        if cluster.status == S.DELETE_IN_PROGRESS:
            return self._poll_delete(context, cluster)
        if cluster.status not in POLLED:
            return
        if cluster.stack_id is None:
            # create_cluster has not returned yet (Heat's driver: bug 1682058); a conductor
            # that died meanwhile must not leave the cluster waiting for ever.
            if cluster.status == S.CREATE_IN_PROGRESS and _late(cluster.created_at, cluster):
                _set(cluster, status=S.CREATE_FAILED, status_reason=(
                    "the kubeseed driver never finished making the cluster in the seed"))
            return
        ns, tc_name = _where(cluster)
        try:
            with seed_mod.Seed(CONF.kubeseed) as seed:
                tc = seed.get(TC, ns, tc_name)
                pools = seed.list(WP, ns, _selector(cluster))
        except seed_mod.SeedError as e:
            return self._seed_unavailable(cluster, e)
        by_ng = {(p["metadata"].get("labels") or {}).get(mapping.NODEGROUP_LABEL): p
                 for p in pools}
        ngs = list(cluster.nodegroups)
        seen = {ng.uuid: ng.status for ng in ngs}
        view = {"status": cluster.status, "tc_name": tc_name,
                "created_at": mapping.parse_time(cluster.created_at),
                "timeout_minutes": _timeout(cluster),
                "nodegroups": [{
                    "uuid": ng.uuid, "name": ng.name, "role": ng.role,
                    "is_default": ng.is_default, "status": ng.status,
                    "status_reason": ng.status_reason, "node_count": ng.node_count,
                    "stack_id": ng.stack_id, "created_at": mapping.parse_time(ng.created_at),
                    "pool_name": by_ng.get(ng.uuid, {}).get("metadata", {}).get("name")}
                    for ng in ngs]}
        res = st.evaluate(view, tc, by_ng, _now())
        # An operation may have begun on a nodegroup since it was read (the conductor saves
        # its status without a lock): a cluster written COMPLETE now would never be polled
        # again and that nodegroup would stay in progress. The next poll sees it.
        if {ng.uuid: ng.status for ng in cluster.nodegroups} != seen:
            LOG.info("cluster %s: a nodegroup changed during the poll; polled again",
                     cluster.uuid)
            return
        for ng in ngs:
            r = res["nodegroups"][ng.uuid]
            if r["destroy"]:
                LOG.info("cluster %s: nodegroup %s is gone from the seed", cluster.uuid,
                         ng.name)
                ng.destroy()
                continue
            done = r["status"].endswith("_COMPLETE") and r["status"] != ng.status
            addresses = ng.node_addresses
            if ng.role == "master":
                addresses = res.get("master_addresses", addresses)
            elif done and ng.uuid in by_ng:
                found = osk.node_addresses(cluster, ns, by_ng[ng.uuid]["metadata"]["name"])
                addresses = addresses if found is None else found
            _set(ng, status=r["status"], status_reason=r["status_reason"],
                 node_count=r["node_count"], node_addresses=addresses)
        _set(cluster, status=res["status"], status_reason=res["status_reason"],
             **{k: res[k] for k in ("api_address", "coe_version") if k in res})

    @staticmethod
    def _seed_unavailable(cluster, e):
        """The seed cannot be read: say so; an operation past its deadline fails. A create
        counts from created_at; an update or delete from this process's stamp if it made
        one, else from updated_at (which stops moving while this reason stays the same)."""
        LOG.warning("cluster %s: cannot read its state in the seed: %s", cluster.uuid, e)
        reason = ("kubeseed: %s" % e)[:st.MAX_REASON]
        action = cluster.status.split("_", 1)[0]
        if cluster.status == S.CREATE_IN_PROGRESS:
            since = cluster.created_at
        else:
            since = _STAMPED.get(cluster.uuid) or getattr(cluster, "updated_at", None) or (
                cluster.created_at)
        if cluster.status.endswith("_IN_PROGRESS") and _late(since, cluster):
            failed = {"CREATE": S.CREATE_FAILED, "DELETE": S.DELETE_FAILED}.get(
                action, S.UPDATE_FAILED)
            return _set(cluster, status=failed, status_reason=(
                "not done %d minutes after it began (create_timeout), and the seed cannot "
                "be read: %s" % (_timeout(cluster), reason))[:st.MAX_REASON])
        _set(cluster, status_reason=reason)

    # --- delete ------------------------------------------------------------------------

    def delete_cluster(self, context, cluster):
        ns, _ = _where(cluster)
        with _seed(cluster) as seed:
            if seed.namespace_exists(ns):
                # Stamped, so that a repeated delete gives the deletion a new deadline.
                for kind in (WP, TC):
                    for o in seed.list(kind, ns, _selector(cluster)):
                        try:
                            seed.patch(kind, ns, o["metadata"]["name"],
                                       {"metadata": _stamp(cluster=cluster)})
                        except seed_mod.SeedError as e:
                            if e.status != 404:
                                raise
                            continue  # gone since the list: nothing to delete
                        seed.delete(kind, ns, o["metadata"]["name"])
                for s in seed.list_secrets(ns, cluster.uuid):
                    seed.stamp_secret(ns, s["metadata"]["name"], _stamp(cluster=cluster))
        for ng in cluster.nodegroups:
            _set(ng, status=S.DELETE_IN_PROGRESS, status_reason=None)

    def _poll_delete(self, context, cluster):
        """Pools and the TenantCluster first (kubeseed needs the credentials to delete
        servers and the load balancer), then the Secrets, then the namespace if nothing
        else uses it, then Magnum's trust and certificates."""
        ns, _ = _where(cluster)
        remaining = []
        try:
            with seed_mod.Seed(CONF.kubeseed) as seed:
                if seed.namespace_exists(ns):
                    remaining = seed.list(TC, ns, _selector(cluster)) + seed.list(
                        WP, ns, _selector(cluster))
                    for o in remaining:
                        if not o["metadata"].get("deletionTimestamp"):
                            seed.delete(o["kind"], ns, o["metadata"]["name"])
                    if not remaining:
                        for s in seed.list_secrets(ns, cluster.uuid):
                            seed.delete_secret(ns, s["metadata"]["name"])
                        remaining = seed.list_secrets(ns, cluster.uuid)  # finalizers
                    if not remaining and seed.namespace_unused(ns):
                        seed.delete_namespace(ns)
        except seed_mod.SeedError as e:
            return self._seed_unavailable(cluster, e)
        status, reason = st.deletion_progress(remaining, _now(), _timeout(cluster))
        if status == S.DELETE_COMPLETE:
            osk.delete_magnum_credentials(context, cluster)
            for ng in cluster.nodegroups:
                _set(ng, status=S.DELETE_COMPLETE, status_reason=None)
        # At DELETE_COMPLETE Magnum's periodic task destroys the nodegroups and cluster.
        _set(cluster, status=status, status_reason=reason)

    # --- scaling -----------------------------------------------------------------------

    @staticmethod
    def _pool(seed, cluster, ng, required=True):
        ns, _ = _where(cluster)
        found = seed.list(WP, ns, _selector(cluster, ng))
        if not found and required:
            raise osk.magnum_error("cluster %s: nodegroup %s has no WorkerPool in namespace "
                                   "%s of the seed" % (cluster.name, ng.name, ns))
        return found[0] if found else None

    def _scale(self, context, cluster, ng, spec, nodes_to_remove=None):
        # Saved before any seed call: the conductor has saved the cluster in progress, and
        # a poll meanwhile must find this nodegroup in progress too (else it completes the
        # cluster and never polls again).
        _set(ng, status=S.UPDATE_IN_PROGRESS, status_reason=None)
        with _seed(cluster) as seed:
            pool = self._pool(seed, cluster, ng)
            ns, pool_name = pool["metadata"]["namespace"], pool["metadata"]["name"]
            # Refused before a Node is marked: outside an autoscaled pool's bounds.
            spec = dict(spec, replicas=_build(mapping.resize_replicas, pool, spec["replicas"],
                                              ng.name))
            annotated, kubeconfig = [], None
            if nodes_to_remove:
                nodes = osk.server_names(context, pool_name, nodes_to_remove)
                tc = seed.get(TC, ns, pool["spec"]["clusterName"])
                if tc is None:
                    raise seed_mod.SeedError("its TenantCluster is missing")
                kubeconfig = seed.read_secret(ns, mapping.kubeconfig_secret_name(tc)).get(
                    "value", "")
                missing = seed.annotate_tenant_nodes(
                    kubeconfig, nodes, {mapping.DELETE_MACHINE_ANNOTATION: "true"})
                if missing:
                    LOG.info("cluster %s: servers %s have no Node; kubeseed removes such "
                             "servers first anyway", cluster.uuid, ", ".join(missing))
                annotated = [n for n in nodes if n not in (missing or [])]
            try:
                _apply(seed, pool, osk.shown(osk.cluster_values(cluster), ng),
                       {"metadata": _stamp(cluster=cluster), "spec": spec})
            except Exception:
                if annotated:
                    self._unannotate(seed, cluster, kubeconfig, annotated)
                raise

    @staticmethod
    def _unannotate(seed, cluster, kubeconfig, nodes):
        """The replicas patch was refused: the Nodes marked for removal are not to go."""
        try:
            seed.annotate_tenant_nodes(kubeconfig, nodes,
                                       {mapping.DELETE_MACHINE_ANNOTATION: None})
        except Exception as e:  # best effort: the resize's own error matters more
            LOG.warning("cluster %s: the resize failed and the annotation %s could not be "
                        "removed from Nodes %s again: %s", cluster.uuid,
                        mapping.DELETE_MACHINE_ANNOTATION, ", ".join(nodes), e)

    def resize_cluster(self, context, cluster, resize_manager, node_count,
                       nodes_to_remove, nodegroup=None):
        ng = nodegroup or cluster.default_ng_worker
        self._scale(context, cluster, ng, {"replicas": int(node_count)}, nodes_to_remove)

    def update_cluster(self, context, cluster, scale_manager=None, rollback=False):
        # Only node_count of the default worker nodegroup, already saved by the conductor.
        ng = cluster.default_ng_worker
        self._scale(context, cluster, ng, {"replicas": int(ng.node_count)})

    # --- upgrade -----------------------------------------------------------------------

    def upgrade_cluster(self, context, cluster, cluster_template, max_batch_size,
                        nodegroup, scale_manager=None, rollback=False):
        """Every component at once: kubeseed upgrades the control plane first and holds
        the pools until it runs the new version."""
        kube_tag = (cluster_template.labels or {}).get("kube_tag")
        if not kube_tag:
            raise exception.InvalidClusterTemplateForUpgrade(reason=(
                "cluster template %s has no label kube_tag, the version kubeseed upgrades "
                "to" % cluster_template.name))
        target = mapping.normalize_version(kube_tag)
        if max_batch_size is not None:
            try:
                surge = int(max_batch_size)
            except (TypeError, ValueError):
                surge = None
            if surge is None or not 1 <= surge <= MAX_BATCH_SIZE:
                raise exception.InvalidParameterValue(
                    "max_batch_size %s: must be 1 to %d (a WorkerPool's "
                    "spec.strategy.maxSurge)" % (max_batch_size, MAX_BATCH_SIZE))
        old_image = cluster.cluster_template.image_id
        ns, tc_name = _where(cluster)
        ngs = {ng.uuid: ng for ng in cluster.nodegroups}
        ngs[nodegroup.uuid] = nodegroup  # the conductor saves this very object after us
        with _seed(cluster) as seed:
            tc = seed.get(TC, ns, tc_name)
            if tc is None:
                raise seed_mod.SeedError("its TenantCluster %s/%s is missing" % (ns, tc_name))
            current = (tc.get("status") or {}).get("version") or tc["spec"].get("version")
            try:
                mapping.validate_upgrade(current, target)
            except mapping.MappingError as e:
                raise osk.magnum_error("cluster %s: %s" % (cluster.name, e),
                                       exception.NotSupported)
            shown = dict(osk.shown(osk.cluster_values(cluster)), **{"label kube_tag": kube_tag})
            pools = {(p["metadata"].get("labels") or {}).get(mapping.NODEGROUP_LABEL): p
                     for p in seed.list(WP, ns, _selector(cluster))}
            images = {}
            # Pools first, the TenantCluster last: kubeseed holds the pools until the
            # control plane runs the new version, and a refused pool patch leaves the
            # control plane as it was.
            for ng in ngs.values():
                if ng.uuid in pools:
                    spec = {"version": target}
                    if max_batch_size is not None:
                        spec["strategy"] = {"maxSurge": surge}
                    # The image carries kubeadm and the kubelet: a nodegroup on the old
                    # template's image moves to the new one's.
                    if cluster_template.image_id and ng.image_id == old_image:
                        spec["image"] = images[ng.uuid] = cluster_template.image_id
                    _apply(seed, pools[ng.uuid], shown,
                           {"metadata": _stamp(cluster=cluster), "spec": spec})
            _apply(seed, tc, shown, {"metadata": _stamp(cluster=cluster),
                                     "spec": {"version": target}})
        # Only now that every patch is accepted does Magnum's record change.
        for ng in ngs.values():
            if ng.uuid in images:
                ng.image_id = images[ng.uuid]
            ng.labels = dict(ng.labels or {}, kube_tag=kube_tag)
            _set(ng, status=S.UPDATE_IN_PROGRESS, status_reason=None)
        cluster.cluster_template_id = cluster_template.uuid
        cluster.labels = dict(cluster.labels or {}, kube_tag=kube_tag)

    # --- nodegroups --------------------------------------------------------------------

    def create_nodegroup(self, context, cluster, nodegroup):
        ns, tc_name = _where(cluster)
        values = osk.cluster_values(cluster)
        with _seed(cluster) as seed:
            tc = seed.get(TC, ns, tc_name)
            if tc is None:
                raise seed_mod.SeedError("its TenantCluster %s/%s is missing" % (ns, tc_name))
            others = seed.list(WP, ns, _selector(cluster))
            if others:  # the IDs the cluster was made with
                net_id = others[0]["spec"]["networkID"]
            else:
                net_id, _ = osk.resolve_network(context, values["fixed_network"],
                                                values["fixed_subnet"])
            c = {"uuid": cluster.uuid, "namespace": ns, "tc_name": tc_name,
                 "version": tc["spec"]["version"], "network_id": net_id,
                 "subnet_id": tc["spec"]["cloud"]["subnetID"], "keypair": cluster.keypair}
            pool = _build(mapping.worker_pool_manifest, c, osk.nodegroup_values(nodegroup), _now())
            _apply(seed, pool, osk.shown(values, nodegroup))
        _record_bounds(nodegroup, pool["spec"])
        nodegroup.stack_id = pool["metadata"]["name"]

    def update_nodegroup(self, context, cluster, nodegroup):
        # Magnum changes min_node_count and max_node_count here: the bounds move, the size
        # stays as kubeseed's autoscaler left it (within them), never Magnum's node_count,
        # which may lag behind it.
        _set(nodegroup, status=S.UPDATE_IN_PROGRESS, status_reason=None)
        with _seed(cluster) as seed:
            pool = self._pool(seed, cluster, nodegroup)
            spec = _build(mapping.rebound, osk.nodegroup_values(nodegroup), pool)
            _apply(seed, pool, osk.shown(osk.cluster_values(cluster), nodegroup),
                   {"metadata": _stamp(cluster=cluster), "spec": spec})
        if "replicas" in spec:
            nodegroup.node_count = spec["replicas"]
        _record_bounds(nodegroup, spec)
        nodegroup.save()

    def delete_nodegroup(self, context, cluster, nodegroup):
        # The conductor does not save this status: saved before any seed call, so that a
        # poll meanwhile keeps the cluster in progress; it destroys the nodegroup once the
        # pool is gone.
        _set(nodegroup, status=S.DELETE_IN_PROGRESS, status_reason=None)
        ns, _ = _where(cluster)
        with _seed(cluster) as seed:
            pool = self._pool(seed, cluster, nodegroup, required=False)
            if pool is not None:
                seed.patch(WP, ns, pool["metadata"]["name"],
                           {"metadata": _stamp(cluster=cluster)})
                seed.delete(WP, ns, pool["metadata"]["name"])
        if pool is None:
            nodegroup.destroy()

    # --- the rest ----------------------------------------------------------------------

    def get_monitor(self, context, cluster):
        return monitor.Monitor(context, cluster)

    def rotate_ca_certificate(self, context, cluster):
        raise osk.magnum_error(
            "Rotating the CA certificate is not supported by the kubeseed driver: kubeseed "
            "cannot rotate a tenant's CAs yet (spec.certificateAuthorities is immutable), "
            "and rotating Magnum's CA alone would make 'openstack coe cluster config' sign "
            "certificates the cluster does not trust", exception.NotSupported)

    def create_federation(self, context, federation):
        raise osk.magnum_error("Federations are not supported by the kubeseed driver",
                               exception.NotSupported)

    update_federation = delete_federation = create_federation
