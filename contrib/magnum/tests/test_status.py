"""status.py: every transition Magnum sees, timeouts, deletion and health."""

import copy
import datetime
import unittest

from kubeseed_magnum import mapping
from kubeseed_magnum import status

UTC = datetime.timezone.utc
CREATED = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
SOON = CREATED + datetime.timedelta(minutes=5)
LATE = CREATED + datetime.timedelta(minutes=61)
MASTER, WORKER, EXTRA = "m-uuid", "w-uuid", "x-uuid"


def cond(type_, ok, reason="Available", message=""):
    return {"type": type_, "status": "True" if ok else "False", "reason": reason,
            "message": message}


def tc(ready=True, version="v1.36.3", spec_version="v1.36.3", generation=1, observed=1,
       conditions=None, annotations=None, deleting=False):
    obj = {"kind": "TenantCluster",
           "metadata": {"name": "mc-1", "generation": generation, "annotations": annotations or {},
                        "creationTimestamp": "2026-01-01T12:00:01Z"},
           "spec": {"version": spec_version},
           "status": {"observedGeneration": observed, "version": version,
                      "endpoint": "https://203.0.113.10:6443",
                      "conditions": conditions if conditions is not None else [
                          cond(t, ready, "Available" if ready else "Progressing")
                          for t in status.TC_CONDITIONS + status.TC_WORKER_CONDITIONS]}}
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T12:30:00Z"
    return obj


def pool(replicas=2, ready=2, updated=None, want=2, version="v1.36.3", spec_version="v1.36.3",
         conditions=None, annotations=None, generation=1, observed=1, name="mc-1-default-worker"):
    return {"kind": "WorkerPool",
            "metadata": {"name": name, "generation": generation,
                         "annotations": dict({mapping.NAME_ANNOTATION: "default-worker"},
                                             **(annotations or {})),
                         "creationTimestamp": "2026-01-01T12:00:02Z"},
            "spec": {"replicas": want, "version": spec_version},
            "status": {"observedGeneration": observed, "replicas": replicas, "readyReplicas": ready,
                       "updatedReplicas": want if updated is None else updated, "version": version,
                       "conditions": conditions if conditions is not None else [
                           cond("ServersReady", True), cond("NodesReady", True),
                           cond("Ready", True), cond("Progressing", False, "RolloutComplete")]}}


def magnum(status_="CREATE_IN_PROGRESS", ng_status=None, worker_status=None, extra=None):
    ngs = [{"uuid": MASTER, "name": "default-master", "role": "master", "is_default": True,
            "status": ng_status or status_, "node_count": 1, "stack_id": "mc-1"},
           {"uuid": WORKER, "name": "default-worker", "role": "worker", "is_default": True,
            "status": worker_status or ng_status or status_, "node_count": 2,
            "pool_name": "mc-1-default-worker", "stack_id": "mc-1"}]
    if extra:
        ngs.append(dict({"uuid": EXTRA, "name": "gpu", "role": "worker", "is_default": False,
                         "node_count": 1, "pool_name": "mc-1-gpu"}, **extra))
    return {"status": status_, "created_at": CREATED, "timeout_minutes": 60, "tc_name": "mc-1",
            "nodegroups": ngs}


class EvaluateTest(unittest.TestCase):

    def run_case(self, cluster, tc_, pools, now):
        return status.evaluate(cluster, tc_, pools, now)

    def test_create_transitions(self):
        waiting_lb = tc(conditions=[
            cond("CertificatesReady", True),
            cond("EndpointReady", False, "WaitingForEndpoint", "creating the load balancer"),
            cond("EtcdAvailable", False, "Progressing"), cond("Ready", False, "ComponentsNotReady")])
        quota = pool(replicas=1, ready=0, conditions=[
            cond("ServersReady", False, "QuotaExceeded", "quota instances exceeded"),
            cond("NodesReady", False, "WaitingForNodes"), cond("Ready", False, "QuotaExceeded")])
        cases = [
            # (name, tc, pool, now, cluster status, reason contains, master, worker)
            ("control plane first", waiting_lb, quota, SOON, "CREATE_IN_PROGRESS",
             "control plane (TenantCluster mc-1): EndpointReady=False WaitingForEndpoint: "
             "creating the load balancer", "CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS"),
            ("pool waits", tc(), quota, SOON, "CREATE_IN_PROGRESS",
             "nodegroup default-worker (WorkerPool mc-1-default-worker): ServersReady=False "
             "QuotaExceeded: quota instances exceeded", "CREATE_COMPLETE", "CREATE_IN_PROGRESS"),
            ("ready", tc(), pool(), SOON, "CREATE_COMPLETE", None, "CREATE_COMPLETE",
             "CREATE_COMPLETE"),
            ("timed out", tc(), quota, LATE, "CREATE_FAILED",
             "not done 60 minutes after it began (create_timeout): ServersReady=False "
             "QuotaExceeded", "CREATE_COMPLETE", "CREATE_FAILED"),
            ("both timed out", waiting_lb, quota, LATE, "CREATE_FAILED",
             "control plane (TenantCluster mc-1): not done 60 minutes", "CREATE_FAILED",
             "CREATE_FAILED"),
            ("tenant missing", None, pool(), SOON, "CREATE_FAILED",
             "control plane (TenantCluster mc-1): does not exist in the seed", "CREATE_FAILED",
             "CREATE_COMPLETE"),
            ("stale status", tc(generation=2), pool(), SOON, "CREATE_IN_PROGRESS",
             "waiting for kubeseed to observe generation 2", "CREATE_IN_PROGRESS",
             "CREATE_COMPLETE"),
            ("no status", dict(tc(), status={}), pool(), SOON, "CREATE_IN_PROGRESS",
             "waiting for kubeseed to report a status", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"),
            ("servers not all ready", tc(), pool(ready=1), SOON, "CREATE_IN_PROGRESS",
             "1 of 2 servers Ready (2 exist, 2 of the current spec)", "CREATE_COMPLETE",
             "CREATE_IN_PROGRESS"),
            ("credentials refused", tc(conditions=[cond(
                "EndpointReady", False, "CloudCredentialsInvalid", "the cloud refused: 401")]),
             pool(), SOON, "CREATE_IN_PROGRESS", "EndpointReady=False CloudCredentialsInvalid: "
             "the cloud refused: 401", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"),
        ]
        for name, tc_, pool_, now, want, reason, m, w in cases:
            with self.subTest(name):
                got = self.run_case(magnum(), tc_, {WORKER: pool_}, now)
                self.assertEqual(got["status"], want)
                if reason:
                    self.assertIn(reason, got["status_reason"])
                else:
                    self.assertIsNone(got["status_reason"])
                self.assertEqual(got["nodegroups"][MASTER]["status"], m)
                self.assertEqual(got["nodegroups"][WORKER]["status"], w)

    def test_complete_reports_endpoint_version_and_count(self):
        got = self.run_case(magnum(), tc(), {WORKER: pool(want=4, replicas=4, ready=4)}, SOON)
        self.assertEqual(got["api_address"], "https://203.0.113.10:6443")
        self.assertEqual(got["master_addresses"], ["203.0.113.10"])
        self.assertEqual(got["coe_version"], "v1.36.3")
        self.assertEqual(got["nodegroups"][WORKER]["node_count"], 4)

    def test_resize(self):
        started = {mapping.STARTED_ANNOTATION: "2026-01-01T13:00:00Z"}
        c = magnum("UPDATE_IN_PROGRESS", ng_status="CREATE_COMPLETE",
                   worker_status="UPDATE_IN_PROGRESS")
        later = datetime.datetime(2026, 1, 1, 13, 30, tzinfo=UTC)
        cases = [
            ("scaling", pool(want=3, annotations=started), later, "UPDATE_IN_PROGRESS",
             "2 of 3 servers Ready"),
            ("stale", pool(generation=3, observed=2, annotations=started), later,
             "UPDATE_IN_PROGRESS", "observe generation 3"),
            ("done", pool(want=3, replicas=3, ready=3, annotations=started), later,
             "UPDATE_COMPLETE", None),
            # The deadline counts from the resize, not from the cluster's creation.
            ("timed out", pool(want=3, annotations=started), later + datetime.timedelta(
                minutes=31), "UPDATE_FAILED", "not done 60 minutes after it began"),
            ("draining", pool(want=1, replicas=2, ready=2, annotations=started), later,
             "UPDATE_IN_PROGRESS", "2 of 1 server Ready (2 exist"),
        ]
        for name, pool_, now, want, reason in cases:
            with self.subTest(name):
                got = self.run_case(c, tc(), {WORKER: pool_}, now)
                self.assertEqual(got["status"], want)
                self.assertEqual(got["nodegroups"][MASTER]["status"], "CREATE_COMPLETE")
                if reason:
                    self.assertIn(reason, got["status_reason"])

    def test_upgrade_waits_for_every_version(self):
        c = magnum("UPDATE_IN_PROGRESS", ng_status="UPDATE_IN_PROGRESS")
        up = cond("UpToDate", False, "UpgradingAPIServers", "1 of 2 apiservers run v1.36.3")
        skew = [cond("ServersReady", False, "VersionSkew", "spec.version v1.36.3 is newer"),
                cond("NodesReady", True), cond("Ready", False, "VersionSkew")]
        cases = [
            ("control plane rolls", tc(version="v1.35.4", conditions=[
                cond(t, True) for t in status.TC_CONDITIONS + status.TC_WORKER_CONDITIONS] + [up]),
             pool(version="v1.35.4", conditions=skew), "UpgradingAPIServers"),
            ("pool waits for it", tc(), pool(version="v1.35.4", conditions=skew),
             "ServersReady=False VersionSkew"),
            ("pool rolls", tc(), pool(version="v1.36.3", updated=1, conditions=[
                cond("ServersReady", True), cond("NodesReady", True), cond("Ready", True),
                cond("Progressing", True, "RollingUpdate", "replacing mc-1-default-worker-0")]),
             "Progressing=True RollingUpdate: replacing mc-1-default-worker-0"),
            ("new servers, old version recorded", tc(), pool(version="v1.35.4"),
             "running v1.35.4, rolling to v1.36.3"),
        ]
        for name, tc_, pool_, reason in cases:
            with self.subTest(name):
                got = self.run_case(c, tc_, {WORKER: pool_}, SOON)
                self.assertEqual(got["status"], "UPDATE_IN_PROGRESS")
                self.assertIn(reason, got["status_reason"])
        got = self.run_case(c, tc(), {WORKER: pool()}, SOON)
        self.assertEqual((got["status"], got["nodegroups"][MASTER]["status"]),
                         ("UPDATE_COMPLETE", "UPDATE_COMPLETE"))

    def test_nodegroups_of_their_own(self):
        gpu = pool(name="mc-1-gpu", want=1, replicas=0, ready=0, annotations={
            mapping.STARTED_ANNOTATION: "2026-01-01T12:01:00Z"})
        done = dict(magnum("UPDATE_IN_PROGRESS", ng_status="CREATE_COMPLETE"))
        cases = [
            ("driver still making it", {"status": "CREATE_IN_PROGRESS", "stack_id": None,
                                        "created_at": SOON}, {}, "UPDATE_IN_PROGRESS",
             "CREATE_IN_PROGRESS", False),
            ("never made", {"status": "CREATE_IN_PROGRESS", "stack_id": None,
                            "created_at": CREATED}, {}, "UPDATE_FAILED", "CREATE_FAILED", False),
            ("made, then removed", {"status": "CREATE_IN_PROGRESS", "stack_id": "mc-1-gpu"}, {},
             "UPDATE_FAILED", "CREATE_FAILED", False),
            ("created, in progress", {"status": "CREATE_IN_PROGRESS"}, {EXTRA: gpu},
             "UPDATE_IN_PROGRESS", "CREATE_IN_PROGRESS", False),
            ("created, ready", {"status": "CREATE_IN_PROGRESS"}, {EXTRA: pool(
                name="mc-1-gpu", want=1, replicas=1, ready=1)}, "UPDATE_COMPLETE",
             "CREATE_COMPLETE", False),
            ("deleting", {"status": "DELETE_IN_PROGRESS"}, {EXTRA: gpu}, "UPDATE_IN_PROGRESS",
             "DELETE_IN_PROGRESS", False),
            ("deleted", {"status": "DELETE_IN_PROGRESS"}, {}, "UPDATE_COMPLETE",
             "DELETE_COMPLETE", True),
            ("an earlier failure stays", {"status": "CREATE_FAILED", "status_reason": "quota"},
             {}, "UPDATE_FAILED", "CREATE_FAILED", False),
        ]
        for name, extra, pools, want, ng_want, destroy in cases:
            with self.subTest(name):
                c = copy.deepcopy(done)
                c["nodegroups"] = magnum(ng_status="CREATE_COMPLETE", extra=extra)["nodegroups"]
                pools = dict(pools, **{WORKER: pool()})
                got = self.run_case(c, tc(), pools, LATE if name == "never made" else SOON)
                self.assertEqual(got["status"], want)
                self.assertEqual(got["nodegroups"][EXTRA]["status"], ng_want)
                self.assertEqual(got["nodegroups"][EXTRA]["destroy"], destroy)

    def test_removed_behind_magnums_back_fails_at_once(self):
        c = magnum("UPDATE_IN_PROGRESS", ng_status="CREATE_COMPLETE",
                   worker_status="UPDATE_IN_PROGRESS")
        got = self.run_case(c, tc(), {}, SOON)
        self.assertEqual(got["status"], "UPDATE_FAILED")
        self.assertIn("WorkerPool mc-1-default-worker): does not exist in the seed",
                      got["status_reason"])
        got = self.run_case(magnum(), tc(deleting=True), {WORKER: pool()}, SOON)
        self.assertEqual(got["status"], "CREATE_FAILED")
        self.assertIn("is being deleted", got["status_reason"])


class ReviewFixesTest(unittest.TestCase):

    def test_a_complete_nodegroup_with_a_moving_pool_keeps_the_cluster_in_progress(self):
        c = magnum("UPDATE_IN_PROGRESS", ng_status="CREATE_COMPLETE")  # status not saved yet
        recent = {mapping.STARTED_ANNOTATION: "2026-01-01T12:04:00Z"}
        cases = [
            ("patch not observed", pool(generation=2, observed=1, annotations=recent),
             "UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "observe generation 2"),
            ("scaling", pool(want=3, annotations=recent), "UPDATE_IN_PROGRESS",
             "UPDATE_IN_PROGRESS", "2 of 3 servers Ready"),
            ("done", pool(annotations=recent), "UPDATE_COMPLETE", "CREATE_COMPLETE", None),
            # Not done since long before the deadline: the pool's health, not an operation.
            ("old trouble", pool(ready=1), "UPDATE_COMPLETE", "CREATE_COMPLETE", None),
        ]
        for name, pool_, want, ng_want, reason in cases:
            with self.subTest(name):
                got = status.evaluate(c, tc(), {WORKER: pool_}, SOON + datetime.timedelta(
                    minutes=56))
                self.assertEqual((got["status"], got["nodegroups"][WORKER]["status"]),
                                 (want, ng_want))
                if reason:
                    self.assertIn(reason, got["status_reason"])
                else:
                    self.assertIsNone(got["status_reason"])

    def test_complete_needs_bootstrap_addons_and_tunnel_when_there_are_workers(self):
        base = [cond(t, True) for t in status.TC_CONDITIONS]
        cases = [
            ("all true", base + [cond(t, True) for t in status.TC_WORKER_CONDITIONS], 2,
             "CREATE_COMPLETE", None),
            ("addons not ready", base + [cond("TenantBootstrapped", True), cond(
                "AddonsReady", False, "Progressing", "coredns 0/2"), cond("TunnelReady", True)],
             2, "CREATE_IN_PROGRESS", "AddonsReady=False Progressing: coredns 0/2"),
            ("tunnel missing", base + [cond("TenantBootstrapped", True),
                                       cond("AddonsReady", True)], 2, "CREATE_IN_PROGRESS",
             "waiting for the TunnelReady condition"),
            ("bootstrap first", base + [cond(t, False) for t in status.TC_WORKER_CONDITIONS],
             2, "CREATE_IN_PROGRESS", "TenantBootstrapped=False"),
            ("no workers wanted", base, 0, "CREATE_COMPLETE", None),
        ]
        for name, conds, want_replicas, want, reason in cases:
            with self.subTest(name):
                p = pool(want=want_replicas, replicas=want_replicas, ready=want_replicas)
                got = status.evaluate(magnum(), tc(conditions=conds), {WORKER: p}, SOON)
                self.assertEqual(got["status"], want)
                if reason:
                    self.assertIn("control plane (TenantCluster mc-1): " + reason,
                                  got["status_reason"])

    def test_server_counts_read_right(self):
        cases = [
            (dict(want=1, replicas=1, ready=0), "0 of 1 server Ready (1 exists, 1 of"),
            (dict(want=2, replicas=1, ready=1), "1 of 2 servers Ready (1 exists, 2 of"),
            (dict(want=1, replicas=2, ready=2), "2 of 1 server Ready (2 exist, 1 of"),
            (dict(want=3, replicas=0, ready=0), "0 of 3 servers Ready (0 exist, 3 of"),
        ]
        for kw, reason in cases:
            with self.subTest(reason):
                self.assertIn(reason, status.pool_progress(pool(**kw))[1])

    def test_a_vanished_default_pool_is_named_not_the_tenant_cluster(self):
        c = magnum("UPDATE_IN_PROGRESS", ng_status="CREATE_COMPLETE",
                   worker_status="UPDATE_IN_PROGRESS")
        c["nodegroups"][1]["pool_name"] = None  # not found; stack_id is the TenantCluster's
        got = status.evaluate(c, tc(), {}, SOON)
        self.assertEqual(got["status"], "UPDATE_FAILED")
        self.assertNotIn("WorkerPool mc-1)", got["status_reason"])
        self.assertIn("nodegroup default-worker (WorkerPool of nodegroup w-uuid): does not "
                      "exist in the seed", got["status_reason"])


class DeletionTest(unittest.TestCase):

    def test_table(self):
        secret = {"kind": "Secret", "metadata": {
            "name": "mc-1-openstack", "finalizers": ["kubeseed.io/cloud-credentials"],
            "deletionTimestamp": "2026-01-01T12:00:00Z"}}
        deleting = tc(deleting=True, conditions=[cond("Ready", False, "Deleting",
                                                      "deleting the load balancer")])
        restamped = copy.deepcopy(deleting)
        restamped["metadata"]["annotations"][mapping.STARTED_ANNOTATION] = "2026-01-01T13:00:00Z"
        now = datetime.datetime(2026, 1, 1, 13, 10, tzinfo=UTC)
        cases = [
            ("gone", [], now, "DELETE_COMPLETE", None),
            ("tenant deleting", [deleting], SOON.replace(minute=40), "DELETE_IN_PROGRESS",
             "TenantCluster mc-1: Ready=False Deleting: deleting the load balancer"),
            ("secret held", [secret], SOON, "DELETE_IN_PROGRESS",
             "Secret mc-1-openstack: waiting for finalizers kubeseed.io/cloud-credentials"),
            ("timed out", [deleting], now + datetime.timedelta(minutes=21), "DELETE_FAILED",
             "not deleted 60 minutes after it began"),
            ("deleted again", [restamped], now, "DELETE_IN_PROGRESS", "Deleting"),
        ]
        for name, remaining, when, want, reason in cases:
            with self.subTest(name):
                got, why = status.deletion_progress(remaining, when, 60)
                self.assertEqual(got, want)
                if reason:
                    self.assertIn(reason, why)
                else:
                    self.assertIsNone(why)


class NodeCountTest(unittest.TestCase):

    def test_node_count_is_the_pools_size_between_operations(self):
        ngs = [{"uuid": MASTER, "role": "master", "status": "UPDATE_COMPLETE"},
               {"uuid": WORKER, "role": "worker", "status": "UPDATE_COMPLETE"},
               {"uuid": EXTRA, "role": "worker", "status": "UPDATE_FAILED"},
               {"uuid": "busy", "role": "worker", "status": "UPDATE_IN_PROGRESS"},
               {"uuid": "gone", "role": "worker", "status": "CREATE_COMPLETE"},
               {"uuid": "deleting", "role": "worker", "status": "CREATE_COMPLETE"}]
        deleting = pool(want=1)
        deleting["metadata"]["deletionTimestamp"] = "2026-01-01T12:30:00Z"
        pools = {MASTER: pool(want=9), WORKER: pool(want=3), EXTRA: pool(want=0),
                 "busy": pool(want=5), "deleting": deleting}
        self.assertEqual(status.reported_node_counts(ngs, pools), {WORKER: 3, EXTRA: 0})


class HealthTest(unittest.TestCase):

    def test_table(self):
        sick = pool(conditions=[cond("Ready", False, "TooManyUnhealthy", "3 servers sick")])
        cases = [
            ("healthy", tc(), [pool()], "HEALTHY",
             {"api": "ok", "default-worker.Ready": "True"}),
            ("pool sick", tc(), [sick], "UNHEALTHY",
             {"api": "ok", "default-worker.Ready": "Ready=False TooManyUnhealthy: 3 servers sick"}),
            ("control plane down", tc(conditions=[cond("APIServerAvailable", False, "CrashLooping",
                                                       "exit 1"), cond("Ready", False, "X")]),
             [], "UNHEALTHY", {"api": "APIServerAvailable=False CrashLooping: exit 1"}),
            ("missing", None, [], "UNKNOWN",
             {"api": "the TenantCluster does not exist in the seed"}),
            ("no status", dict(tc(), status={}), [], "UNKNOWN",
             {"api": "kubeseed has not reported a status yet"}),
        ]
        for name, tc_, pools, want, reasons in cases:
            with self.subTest(name):
                self.assertEqual(status.health(tc_, pools), (want, reasons))


if __name__ == "__main__":
    unittest.main()
