"""Pure translation of seed state (TenantCluster and WorkerPool dicts, status included)
into Magnum's statuses and health. Kept apart from mapping.py only for size; the same
rule holds: no magnum or kubernetes import.

A cluster is COMPLETE only when its TenantCluster is Ready at its spec.version and every
pool runs spec.replicas Ready servers of its current spec; until then status_reason holds
the first condition that is not True, verbatim, so a person sees kubeseed's own words.
An operation that has not finished within the cluster's create_timeout is FAILED with
that reason: Magnum never waits without an answer.
"""

import datetime

from kubeseed_magnum import mapping

IN_PROGRESS, COMPLETE, FAILED = "_IN_PROGRESS", "_COMPLETE", "_FAILED"
# The order a person should read a TenantCluster's conditions in: what blocks the rest
# first (a CA refused, the load balancer), the summary last.
TC_CONDITIONS = ("CertificatesReady", "EndpointReady", "EtcdAvailable", "APIServerAvailable",
                 "ControllerManagerAvailable", "SchedulerAvailable", "Ready")
POOL_CONDITIONS = ("ServersReady", "NodesReady", "Ready")
# Needed, besides Ready, once the cluster has workers: kubeadm's bootstrap objects, the
# add-ons (CNI, DNS) and the tunnel the apiserver reaches kubelets through.
TC_WORKER_CONDITIONS = ("TenantBootstrapped", "AddonsReady", "TunnelReady")
MAX_REASON = 1000


def _conditions(obj):
    return {c.get("type"): c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def condition_text(c):
    return "%s=%s %s: %s" % (c.get("type"), c.get("status"), c.get("reason") or "",
                             c.get("message") or "")


def _first_failing(obj, order):
    conds = _conditions(obj)
    for t in order:
        if t in conds and conds[t].get("status") != "True":
            return condition_text(conds[t])
    return None


def _stale(obj):
    meta, st = obj["metadata"], obj.get("status") or {}
    if not st:
        return "waiting for kubeseed to report a status"
    if int(st.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return "waiting for kubeseed to observe generation %s" % meta.get("generation")
    return None


def tc_progress(tc, workers=False):
    """(done, reason): done when Ready, observed, and running spec.version; with workers
    (any pool wants servers) also TenantBootstrapped, AddonsReady and TunnelReady."""
    st, spec = tc.get("status") or {}, tc.get("spec") or {}
    reason = _stale(tc) or _first_failing(tc, TC_CONDITIONS)
    if not reason and _conditions(tc).get("Ready", {}).get("status") != "True":
        reason = "waiting for the Ready condition"
    if not reason and workers:
        reason = _first_failing(tc, TC_WORKER_CONDITIONS)
        missing = [t for t in TC_WORKER_CONDITIONS if t not in _conditions(tc)]
        if not reason and missing:
            reason = "waiting for the %s condition" % missing[0]
    if not reason and spec.get("version") and st.get("version") != spec.get("version"):
        up = _conditions(tc).get("UpToDate")
        reason = condition_text(up) if up else "running %s, upgrading to %s" % (
            st.get("version"), spec.get("version"))
    return reason is None, reason


def pool_progress(pool):
    """(done, reason): done when every server is Ready, of the current spec, no rollout."""
    st, spec = pool.get("status") or {}, pool.get("spec") or {}
    want = int(spec.get("replicas", 1))
    have, ready = int(st.get("replicas") or 0), int(st.get("readyReplicas") or 0)
    updated = int(st.get("updatedReplicas") or 0)
    reason = _stale(pool) or _first_failing(pool, POOL_CONDITIONS)
    prog = _conditions(pool).get("Progressing")
    if not reason and prog and prog.get("status") == "True":
        reason = condition_text(prog)
    if not reason and not (ready == have == want and updated == want):
        reason = "%d of %s Ready (%d %s, %d of the current spec)" % (
            ready, _count(want, "server"), have, "exists" if have == 1 else "exist", updated)
    if not reason and spec.get("version") and st.get("version") != spec.get("version"):
        reason = "running %s, rolling to %s" % (st.get("version"), spec.get("version"))
    return reason is None, reason


def operation_started(obj, fallback):
    """When the operation on obj began: the driver's annotation or the deletion, whichever
    is later, else its creation, else fallback."""
    meta = (obj or {}).get("metadata") or {}
    times = [mapping.parse_time((meta.get("annotations") or {}).get(
        mapping.STARTED_ANNOTATION)), mapping.parse_time(meta.get("deletionTimestamp"))]
    times = [t for t in times if t]
    if times:
        return max(times)
    return mapping.parse_time(meta.get("creationTimestamp")) or fallback


def _describe(kind, obj_name, label, reason):
    return ("%s (%s %s): %s" % (label, kind, obj_name, reason))[:MAX_REASON]


def _count(n, what):
    return "%d %s%s" % (n, what, "" if n == 1 else "s")


def _minutes(n):
    return _count(n, "minute")


def _timed_out(started, now, minutes):
    return started is not None and now - started > datetime.timedelta(minutes=minutes)


def evaluate(cluster, tc, pools, now):
    """Magnum's view of a cluster in CREATE_, UPDATE_ or ROLLBACK_IN_PROGRESS.

    cluster: status, created_at, timeout_minutes, tc_name and nodegroups (uuid, name, role,
    is_default, status, status_reason, node_count, pool_name, stack_id, created_at);
    tc: the TenantCluster or None; pools: {nodegroup uuid: WorkerPool}. Returns status,
    status_reason, api_address, coe_version, master_addresses and nodegroups {uuid: status,
    status_reason, node_count, destroy}. Nodegroups are aggregated as Heat's driver does:
    any in progress keeps the cluster in progress, else any failed fails it.
    """
    action = "CREATE" if cluster["status"].startswith("CREATE") else "UPDATE"
    minutes = int(cluster["timeout_minutes"])
    ngs, in_progress, failed = {}, [], []
    workers = any(int((p.get("spec") or {}).get("replicas", 1)) > 0
                  for p in pools.values() if p is not None)
    masters = sorted(cluster["nodegroups"], key=lambda n: n["role"] != "master")
    for ng in masters:
        res = {"status": ng["status"], "status_reason": ng.get("status_reason"),
               "node_count": ng["node_count"], "destroy": False}
        ngs[ng["uuid"]] = res
        pool = pools.get(ng["uuid"])
        master = ng["role"] == "master"
        if pool is not None:
            res["node_count"] = int((pool.get("spec") or {}).get("replicas", 1))
        status = ng["status"] or ""
        if status.endswith(COMPLETE) and not master and _moving(pool, now, minutes):
            # The cluster is in progress because of this pool (a resize or update whose
            # nodegroup status is not saved yet, or was saved COMPLETE too early): it is
            # not done while kubeseed has not observed or finished its latest change.
            status = ("UPDATE" if action == "UPDATE" else status[:-len(COMPLETE)]) + IN_PROGRESS
            res["status"] = status
        if not status.endswith(IN_PROGRESS):
            if status.endswith(FAILED):
                failed.append(ng.get("status_reason") or "nodegroup %s: %s" % (
                    ng["name"], status))
            continue
        ng_action = status[:-len(IN_PROGRESS)]
        obj = tc if master else pool
        # A default nodegroup's stack_id is the TenantCluster's name (Magnum copies the
        # cluster's): never name the TenantCluster as a worker's pool.
        stack_id = ng.get("stack_id") if ng.get("stack_id") != cluster["tc_name"] else None
        kind, name = ("TenantCluster", cluster["tc_name"]) if master else (
            "WorkerPool", ng.get("pool_name") or stack_id or "of nodegroup %s" % ng["uuid"])
        label = "control plane" if master else "nodegroup " + ng["name"]
        if ng_action == "DELETE" and not master:
            if pool is None:
                res.update(status="DELETE_COMPLETE", status_reason=None,
                           destroy=not ng["is_default"])
                continue
            done, reason = False, "being deleted: " + (
                _first_failing(pool, ("Ready",)) or "waiting for its servers to go")
        elif obj is None and ng_action == "CREATE" and not ng.get("stack_id"):
            # create_nodegroup has not returned yet (Heat's driver waits the same way).
            done, reason = False, "being made"
        elif obj is None or (obj["metadata"].get("deletionTimestamp") and ng_action != "DELETE"):
            # Removed or deleting behind Magnum's back: this operation cannot finish.
            reason = "does not exist in the seed" if obj is None else "is being deleted"
            res.update(status=ng_action + FAILED,
                       status_reason=_describe(kind, name, label, reason))
            failed.append(res["status_reason"])
            continue
        elif master:
            done, reason = tc_progress(obj, workers)
        else:
            done, reason = pool_progress(obj)
        started = (cluster["created_at"] if action == "CREATE" and ng["is_default"]
                   else operation_started(obj, ng.get("created_at") or cluster["created_at"]))
        if done:
            res.update(status=ng_action + COMPLETE, status_reason=None)
        elif _timed_out(started, now, minutes):
            res.update(status=ng_action + FAILED, status_reason=_describe(
                kind, name, label, "not done %s after it began (create_timeout): %s"
                % (_minutes(minutes), reason)))
            failed.append(res["status_reason"])
        else:
            res["status_reason"] = _describe(kind, name, label, reason)
            in_progress.append(res["status_reason"])
    out = {"nodegroups": ngs}
    if in_progress:
        out.update(status=cluster["status"], status_reason=in_progress[0])
    elif failed:
        out.update(status=action + FAILED, status_reason="; ".join(failed)[:MAX_REASON])
    else:
        out.update(status=action + COMPLETE, status_reason=None)
    out.update(endpoint_fields(tc))
    return out


def _moving(pool, now, minutes):
    """A pool with a change kubeseed has not observed or finished, made within the
    deadline (an older one is the pool's health, not an operation)."""
    if pool is None or pool["metadata"].get("deletionTimestamp"):
        return False
    if not _stale(pool) and pool_progress(pool)[0]:
        return False
    return not _timed_out(operation_started(pool, None), now, minutes)


def endpoint_fields(tc):
    """api_address, coe_version and master_addresses as Magnum shows them: the control
    plane has no servers, so its one address is the published endpoint's host."""
    st = (tc or {}).get("status") or {}
    out = {}
    if st.get("endpoint"):
        out["api_address"] = st["endpoint"]
        host = st["endpoint"].split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
        out["master_addresses"] = [host]
    if st.get("version"):
        out["coe_version"] = st["version"]
    return out


def deletion_progress(remaining, now, timeout_minutes):
    """(status, reason) of a cluster in DELETE_IN_PROGRESS: remaining are the objects the
    driver made that still exist, TenantCluster first."""
    if not remaining:
        return "DELETE_COMPLETE", None
    obj = remaining[0]
    kind, name = obj.get("kind") or "object", obj["metadata"]["name"]
    if kind in ("TenantCluster", "WorkerPool"):
        detail = _first_failing(obj, ("Ready",)) or "being deleted"
    else:
        detail = "waiting for finalizers %s" % ", ".join(
            obj["metadata"].get("finalizers") or ["(none)"])
    reason = ("%s %s: %s" % (kind, name, detail))[:MAX_REASON]
    started = max([operation_started(o, None) or now for o in remaining])
    if _timed_out(started, now, timeout_minutes):
        return "DELETE_FAILED", ("not deleted %s after it began (create_timeout): %s"
                                 % (_minutes(timeout_minutes), reason))[:MAX_REASON]
    return "DELETE_IN_PROGRESS", reason


def reported_node_counts(nodegroups, pools):
    """{nodegroup uuid: node_count} between Magnum's operations: a worker nodegroup's
    node_count is its pool's spec.replicas, which kubeseed's autoscaler (or anyone scaling
    the pool) changes without Magnum. nodegroups: uuid, role, status; pools: {nodegroup
    uuid: WorkerPool}. A nodegroup in an operation (*_IN_PROGRESS) is left to the
    operation's poll, and one whose pool is missing or being deleted to its deletion."""
    out = {}
    for ng in nodegroups:
        pool = pools.get(ng["uuid"])
        if (ng["role"] == "master" or pool is None or pool["metadata"].get("deletionTimestamp")
                or (ng.get("status") or "").endswith(IN_PROGRESS)):
            continue
        out[ng["uuid"]] = int((pool.get("spec") or {}).get("replicas", 1))
    return out


def health(tc, pools):
    """(HEALTHY|UNHEALTHY|UNKNOWN, reason dict) from the seed: the control plane serves
    (Ready) and each pool is Ready. Keys as Magnum's monitor uses them: "api" and
    "<nodegroup>.Ready"."""
    if tc is None:
        return "UNKNOWN", {"api": "the TenantCluster does not exist in the seed"}
    if not (tc.get("status") or {}).get("conditions"):
        return "UNKNOWN", {"api": "kubeseed has not reported a status yet"}
    reasons, healthy = {}, True
    ready = _conditions(tc).get("Ready", {})
    if ready.get("status") == "True":
        reasons["api"] = "ok"
    else:
        healthy = False
        reasons["api"] = (_first_failing(tc, TC_CONDITIONS) or "not Ready")[:MAX_REASON]
    for pool in pools:
        meta = pool["metadata"]
        ng = (meta.get("annotations") or {}).get(mapping.NAME_ANNOTATION) or meta["name"]
        c = _conditions(pool).get("Ready")
        if c and c.get("status") == "True":
            reasons[ng + ".Ready"] = "True"
        else:
            healthy = False
            reasons[ng + ".Ready"] = (condition_text(c) if c else "no status yet")[:MAX_REASON]
    return ("HEALTHY" if healthy else "UNHEALTHY"), reasons
