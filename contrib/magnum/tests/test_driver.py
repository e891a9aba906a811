"""The driver's flows with Magnum's modules (python3-magnum) and a seed in memory."""

import datetime
import logging
import os
import unittest
from unittest import mock

try:
    from magnum.common import exception
    from oslo_config import cfg
    import yaml

    from kubeseed_magnum import driver
    from kubeseed_magnum import mapping
    from kubeseed_magnum import monitor
    from kubeseed_magnum import openstack as osk
    from kubeseed_magnum import seed as seed_mod
    from kubeseed_magnum import status as st
    import fakes
except ImportError as e:  # pragma: no cover - only where Magnum is not installed
    raise unittest.SkipTest("needs python3-magnum: %s" % e)

logging.getLogger("kubeseed_magnum").setLevel(logging.ERROR)  # expected warnings
UTC = datetime.timezone.utc
NS = "magnum-8f1f6b3c2d4e4a5b9c8d7e6f5a4b3c2d"
TC = "mc-7d6a8c3e"
POOL = TC + "-default-w-wuui"
NET = "2a7c9e4b-1d3f-4b6a-8c5e-7f9a0b1c2d3e"
SUBNET = "6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c01"
CAS = {k: {"tls.crt": "CRT", "tls.key": "KEY"} for k in ("cluster", "etcd", "frontProxy")}


class DriverTest(unittest.TestCase):

    def setUp(self):
        self.state = fakes.FakeSeed.reset()
        for target, value in (("kubeseed_magnum.seed.Seed", fakes.FakeSeed),
                              ("kubeseed_magnum.openstack.resolve_network", lambda *a: (NET, SUBNET)),
                              ("kubeseed_magnum.openstack.ca_secrets", lambda *a: CAS),
                              ("kubeseed_magnum.openstack.clouds_yaml",
                               lambda c: {"clouds.yaml": "x", "cloud": "openstack"}),
                              ("kubeseed_magnum.openstack.node_addresses",
                               lambda *a: ["10.0.0.5", "10.0.0.6"])):
            p = mock.patch(target, value)
            p.start()
            self.addCleanup(p.stop)
        self.driver = driver.Driver()

    def created(self, **over):
        c = fakes.cluster(**over)
        self.driver.create_cluster(None, c, 60)
        for ng in c.nodegroups:  # as the conductor does after create_cluster
            ng.stack_id = c.stack_id
        return c

    def make_ready(self, version="v1.35.4", replicas=2):
        objs = self.state["objects"]
        tc = objs[("TenantCluster", NS, TC)]
        tc["metadata"]["generation"] = 1
        tc["status"] = {"observedGeneration": 1, "version": version,
                        "endpoint": "https://198.51.100.7:6443", "conditions": [
                            {"type": t, "status": "True", "reason": "Available"}
                            for t in ("Ready", "TenantBootstrapped", "AddonsReady",
                                      "TunnelReady")]}
        for (kind, _, _), o in objs.items():
            if kind == "WorkerPool":
                o["metadata"]["generation"] = 1
                o["status"] = {"observedGeneration": 1, "replicas": replicas,
                               "readyReplicas": replicas, "updatedReplicas": replicas,
                               "version": version, "conditions": [
                                   {"type": "Ready", "status": "True"},
                                   {"type": "Progressing", "status": "False"}]}

    # --- create --------------------------------------------------------------------

    def test_create_refuses_a_template_without_fixed_subnet(self):
        c = fakes.cluster(ct=fakes.template(fixed_subnet=None))
        with self.assertRaises(exception.InvalidParameterValue) as e:
            self.driver.create_cluster(None, c, 60)
        # The conductor writes str(e) into status_reason with CREATE_FAILED.
        self.assertIn("fixed_subnet is required", str(e.exception))
        self.assertEqual(self.state["calls"], [])

    def test_create_refuses_calico(self):
        c = fakes.cluster(ct=fakes.template(network_driver="calico"))
        with self.assertRaises(exception.InvalidParameterValue) as e:
            self.driver.create_cluster(None, c, 60)
        self.assertIn("network_driver calico is not supported", str(e.exception))

    def test_create_makes_namespace_secrets_tenant_and_pool(self):
        c = self.created()
        self.assertEqual(c.stack_id, TC)
        self.assertIn(NS, self.state["namespaces"])
        self.assertEqual(sorted(n for _, n in self.state["secrets"]), [
            TC + "-ca", TC + "-etcd-ca", TC + "-front-proxy-ca", TC + "-openstack"])
        self.assertEqual(self.state["secrets"][(NS, TC + "-ca")]["type"], "kubernetes.io/tls")
        tc = self.state["objects"][("TenantCluster", NS, TC)]
        self.assertEqual(tc["spec"]["version"], "v1.35.4")
        self.assertEqual(tc["spec"]["cloud"]["subnetID"], SUBNET)
        pool = self.state["objects"][("WorkerPool", NS, POOL)]
        self.assertEqual((pool["spec"]["replicas"], pool["spec"]["networkID"],
                          pool["spec"]["flavor"]), (2, NET, "m1.large"))

    def test_create_surfaces_the_apis_refusal_naming_kube_tag(self):
        self.state["refuse"] = ("TenantCluster", "spec.version: Invalid value: \"string\": "
                                "spec.version must be one of the supported versions: v1.34.4")
        ct = fakes.template(labels={"kube_tag": "v1.12.7"})
        with self.assertRaises(exception.InvalidParameterValue) as e:
            self.driver.create_cluster(None, fakes.cluster(ct=ct, labels={"kube_tag": "v1.12.7"}),
                                       60)
        self.assertIn("label kube_tag=v1.12.7: kubeseed refused TenantCluster %s" % TC,
                      str(e.exception))

    def test_create_names_the_cluster_when_the_seed_fails(self):
        self.state["fail"] = "creating namespace x: connection refused"
        with self.assertRaises(exception.MagnumException) as e:
            self.driver.create_cluster(None, fakes.cluster(), 60)
        self.assertIn("cluster prod (7d6a8c3e-1f2b-4c5d-9e8f-0a1b2c3d4e5f): creating namespace",
                      str(e.exception))

    # --- status --------------------------------------------------------------------

    def test_status_goes_from_in_progress_to_complete(self):
        c = self.created()
        self.driver.update_cluster_status(None, c)
        self.assertEqual(c.status, "CREATE_IN_PROGRESS")
        self.assertIn("waiting for kubeseed to report a status", c.status_reason)
        self.make_ready()
        self.driver.update_cluster_status(None, c)
        self.assertEqual((c.status, c.status_reason), ("CREATE_COMPLETE", None))
        self.assertEqual((c.api_address, c.coe_version), ("https://198.51.100.7:6443", "v1.35.4"))
        master, worker = c.nodegroups
        self.assertEqual((master.status, master.node_addresses),
                         ("CREATE_COMPLETE", ["198.51.100.7"]))
        self.assertEqual((worker.status, worker.node_addresses),
                         ("CREATE_COMPLETE", ["10.0.0.5", "10.0.0.6"]))
        saves = c.saves
        self.driver.update_cluster_status(None, c)  # nothing changed: nothing written
        self.assertEqual(c.saves, saves)

    def test_a_create_still_running_is_left_alone_then_failed(self):
        c = fakes.cluster()  # the conductor made it; create_cluster has not returned
        self.driver.update_cluster_status(None, c)
        self.assertEqual((c.status, self.state["calls"]), ("CREATE_IN_PROGRESS", []))
        c.created_at = datetime.datetime.now(UTC) - datetime.timedelta(minutes=61)
        self.driver.update_cluster_status(None, c)
        self.assertEqual(c.status, "CREATE_FAILED")
        self.assertIn("never finished", c.status_reason)

    def test_an_unreachable_seed_is_reported_then_fails_the_create(self):
        c = self.created()
        self.state["fail"] = "reading TenantCluster: no answer: timed out"
        self.driver.update_cluster_status(None, c)
        self.assertEqual(c.status, "CREATE_IN_PROGRESS")
        self.assertIn("kubeseed: reading TenantCluster: no answer", c.status_reason)
        c.created_at = datetime.datetime.now(UTC) - datetime.timedelta(minutes=61)
        self.driver.update_cluster_status(None, c)
        self.assertEqual(c.status, "CREATE_FAILED")

    # --- upgrade -------------------------------------------------------------------

    def upgraded(self, kube_tag, **ct):
        c = self.created()
        self.make_ready()
        c.status = "UPDATE_COMPLETE"
        new = fakes.template(uuid="tpl-2", labels={"kube_tag": kube_tag}, **ct)
        self.driver.upgrade_cluster(None, c, new, 2, c.default_ng_worker)
        return c

    def test_upgrade_refuses_skips_and_downgrades_naming_both_versions(self):
        for tag, msg in (("v1.37.1", "upgrading from v1.35.4 to v1.37.1 skips a minor version"),
                         ("v1.34.4", "upgrading from v1.35.4 to v1.34.4 would be a downgrade")):
            with self.subTest(tag):
                with self.assertRaises(exception.NotSupported) as e:
                    self.upgraded(tag)
                self.assertIn(msg, str(e.exception))

    def test_upgrade_moves_everything_at_once(self):
        c = self.upgraded("v1.36.3", image_id="img-136")
        tc = self.state["objects"][("TenantCluster", NS, TC)]
        pool = self.state["objects"][("WorkerPool", NS, POOL)]
        self.assertEqual(tc["spec"]["version"], "v1.36.3")
        self.assertEqual((pool["spec"]["version"], pool["spec"]["image"],
                          pool["spec"]["strategy"]), ("v1.36.3", "img-136", {"maxSurge": 2}))
        self.assertEqual((c.cluster_template_id, c.labels["kube_tag"]), ("tpl-2", "v1.36.3"))
        for ng in c.nodegroups:
            self.assertEqual((ng.status, ng.labels["kube_tag"]), ("UPDATE_IN_PROGRESS", "v1.36.3"))
        c.status = "UPDATE_IN_PROGRESS"
        self.driver.update_cluster_status(None, c)  # the seed still runs v1.35.4
        self.assertEqual(c.status, "UPDATE_IN_PROGRESS")
        self.make_ready(version="v1.36.3")
        self.driver.update_cluster_status(None, c)
        self.assertEqual((c.status, c.coe_version), ("UPDATE_COMPLETE", "v1.36.3"))

    def test_upgrade_needs_kube_tag(self):
        c = self.created()
        with self.assertRaises(exception.InvalidClusterTemplateForUpgrade):
            self.driver.upgrade_cluster(None, c, fakes.template(labels={}), 1,
                                        c.default_ng_worker)

    # --- scaling -------------------------------------------------------------------

    def test_resize_annotates_the_nodes_then_lowers_replicas(self):
        c = self.created()
        self.make_ready()
        self.driver.resize_cluster(None, c, None, 1, [POOL + "-1"], c.default_ng_worker)
        self.assertEqual(self.state["annotated"], [(
            "kubeconfig of %s-kubeconfig" % TC, [POOL + "-1"],
            {mapping.DELETE_MACHINE_ANNOTATION: "true"})])
        pool = self.state["objects"][("WorkerPool", NS, POOL)]
        self.assertEqual(pool["spec"]["replicas"], 1)
        self.assertIn(mapping.STARTED_ANNOTATION, pool["metadata"]["annotations"])
        with self.assertRaises(exception.InvalidParameterValue) as e:
            self.driver.resize_cluster(None, c, None, 1, ["someone-elses-server"],
                                       c.default_ng_worker)
        self.assertIn("server someone-elses-server is not a node of WorkerPool", str(e.exception))

    def test_update_cluster_scales_the_default_worker_nodegroup(self):
        c = self.created()
        c.default_ng_worker.node_count = 5
        self.driver.update_cluster(None, c)
        self.assertEqual(self.state["objects"][("WorkerPool", NS, POOL)]["spec"]["replicas"], 5)
        self.assertEqual(c.default_ng_worker.status, "UPDATE_IN_PROGRESS")

    def test_nodegroup_update_sets_autoscaling_and_removes_it(self):
        c = self.created()
        ng = c.default_ng_worker
        ng.labels = {"auto_scaling_enabled": "true"}
        ng.max_node_count = 6
        self.driver.update_nodegroup(None, c, ng)
        pool = self.state["objects"][("WorkerPool", NS, POOL)]
        self.assertEqual(pool["spec"]["autoscaling"], {"minReplicas": 0, "maxReplicas": 6})
        ng.labels = {}
        self.driver.update_nodegroup(None, c, ng)
        self.assertNotIn("autoscaling", self.state["objects"][("WorkerPool", NS, POOL)]["spec"])

    # --- autoscaled nodegroups (kubeseed's autoscaler sizes the pool) --------------

    def autoscaled(self, replicas=None, status="UPDATE_COMPLETE"):
        """A cluster whose default worker nodegroup (2 nodes) is autoscaled, 1 to 4, and
        whose pool the autoscaler has since sized to replicas."""
        c = fakes.cluster()
        c.default_ng_worker.labels = {"auto_scaling_enabled": "true", "max_node_count": "4"}
        c.default_ng_worker.min_node_count = 1
        self.driver.create_cluster(None, c, 60)
        self.make_ready()
        c.status = status
        for ng in c.nodegroups:
            ng.stack_id, ng.status = c.stack_id, status
            ng.save()
        c.default_ng_worker.node_addresses = ["10.0.0.5", "10.0.0.6"]
        c.default_ng_worker.save()
        pool = self.state["objects"][("WorkerPool", NS, POOL)]
        if replicas is not None:
            pool["spec"]["replicas"] = replicas
        return c, pool

    def test_an_autoscaled_nodegroup_records_its_bounds(self):
        c, pool = self.autoscaled()
        self.assertEqual(pool["spec"]["autoscaling"], {"minReplicas": 1, "maxReplicas": 4})
        # Magnum's API checks a resize against the fields: the label's maximum is kept there.
        ng = c.default_ng_worker
        self.assertEqual((ng.min_node_count, ng.max_node_count), (1, 4))
        self.assertIsNone(c.default_ng_master.max_node_count)

    def test_a_resize_of_an_autoscaled_nodegroup_stays_within_its_bounds(self):
        c, pool = self.autoscaled(replicas=3)
        self.driver.resize_cluster(None, c, None, 4, None, c.default_ng_worker)
        self.assertEqual(pool["spec"]["replicas"], 4)
        patches = len([x for x in self.state["calls"] if x[0] == "patch"])
        with self.assertRaises(exception.InvalidParameterValue) as e:
            self.driver.resize_cluster(None, c, None, 6, [POOL + "-1"], c.default_ng_worker)
        self.assertIn("nodegroup default-worker is autoscaled (label auto_scaling_enabled): "
                      "node_count 6 lies outside its min_node_count 1 and max_node_count 4",
                      str(e.exception))
        self.assertIn("replace max_node_count=6", str(e.exception))
        # Refused before anything changed: no Node marked, the pool as it was.
        self.assertEqual(self.state["annotated"], [])
        self.assertEqual(len([x for x in self.state["calls"] if x[0] == "patch"]), patches)
        self.assertEqual(pool["spec"]["replicas"], 4)
        c.default_ng_worker.node_count = 0  # `openstack coe cluster update … node_count=0`
        with self.assertRaises(exception.InvalidParameterValue) as e:
            self.driver.update_cluster(None, c)
        self.assertIn("replace min_node_count=0", str(e.exception))

    def test_new_bounds_keep_the_autoscalers_size(self):
        c, pool = self.autoscaled(replicas=3)  # Magnum still says 2
        ng = c.default_ng_worker
        ng.max_node_count = 6
        self.driver.update_nodegroup(None, c, ng)
        self.assertEqual((pool["spec"]["replicas"], pool["spec"]["autoscaling"]),
                         (3, {"minReplicas": 1, "maxReplicas": 6}))
        self.assertEqual((ng.node_count, ng.status), (3, "UPDATE_IN_PROGRESS"))
        ng.max_node_count = 2
        self.driver.update_nodegroup(None, c, ng)
        self.assertEqual((pool["spec"]["replicas"], ng.node_count), (2, 2))

    def test_node_count_follows_the_autoscaler(self):
        c, pool = self.autoscaled()
        ng = c.default_ng_worker
        m = self.driver.get_monitor(None, c)
        saves, addresses = ng.saves, ["10.0.0.5", "10.0.0.6", "10.0.0.7"]
        # The new server has no address at first; Nova is asked again until it has.
        nova = mock.Mock(side_effect=[addresses[:2], addresses])
        with mock.patch("kubeseed_magnum.openstack.node_addresses", nova):
            m.poll_health_status()  # nothing moved: nothing written, Nova not asked
            self.assertEqual((ng.node_count, ng.saves, nova.call_count), (2, saves, 0))
            pool["spec"]["replicas"] = 3
            m.poll_health_status()
            self.assertEqual((ng.node_count, ng.node_addresses, ng.saves),
                             (3, addresses[:2], saves + 1))
            nova.assert_called_with(c, NS, POOL)
            self.assertEqual(m.data["health_status"], "HEALTHY")
            m.poll_health_status()
            self.assertEqual((ng.node_addresses, ng.saves), (addresses, saves + 2))
            m.poll_health_status()
            self.assertEqual((ng.saves, nova.call_count), (saves + 2, 2))
            # During an operation its own poll reports it (update_cluster_status).
            pool["spec"]["replicas"] = 4
            for cluster_status, ng_status in (("UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"),
                                              ("UPDATE_COMPLETE", "UPDATE_IN_PROGRESS")):
                c.status, ng.status = cluster_status, ng_status
                m.poll_health_status()
                self.assertEqual(ng.node_count, 3)
            c.status = "UPDATE_IN_PROGRESS"
            self.driver.update_cluster_status(None, c)
            self.assertEqual(ng.node_count, 4)

    def test_nodegroup_create_and_delete(self):
        c = self.created()
        self.make_ready()
        ng = fakes.Obj(uuid="g-uuid", name="gpu", role="worker", is_default=False,
                       node_count=1, flavor_id="g1", image_id="img-135", labels={},
                       min_node_count=0, max_node_count=None, stack_id=None,
                       status="CREATE_IN_PROGRESS", status_reason=None, node_addresses=[])
        self.driver.create_nodegroup(None, c, ng)
        self.assertEqual(ng.stack_id, TC + "-gpu-guui")
        pool = self.state["objects"][("WorkerPool", NS, ng.stack_id)]
        self.assertEqual((pool["spec"]["networkID"], pool["spec"]["version"]), (NET, "v1.35.4"))
        self.driver.delete_nodegroup(None, c, ng)
        self.assertEqual(ng.status, "DELETE_IN_PROGRESS")
        self.assertFalse(ng.destroyed)
        del self.state["objects"][("WorkerPool", NS, ng.stack_id)]
        self.driver.delete_nodegroup(None, c, ng)  # gone already: destroyed at once
        self.assertTrue(ng.destroyed)

    def test_a_nodegroup_delete_racing_the_poll_still_ends(self):
        c = self.created()
        self.make_ready()
        ng = fakes.Obj(uuid="g-uuid", name="gpu", role="worker", is_default=False,
                       node_count=1, flavor_id="g1", image_id="img-135", labels={},
                       min_node_count=0, max_node_count=None, stack_id=None,
                       status="CREATE_IN_PROGRESS", status_reason=None, node_addresses=[],
                       created_at=None)
        c.nodegroups.append(ng)
        c.status = "UPDATE_IN_PROGRESS"
        self.driver.create_nodegroup(None, c, ng)
        self.make_ready()
        self.state["objects"][("WorkerPool", NS, ng.stack_id)]["status"].update(
            replicas=1, readyReplicas=1, updatedReplicas=1)
        self.driver.update_cluster_status(None, c)
        self.assertEqual((c.status, ng.status), ("UPDATE_COMPLETE", "CREATE_COMPLETE"))
        c.status = "UPDATE_IN_PROGRESS"
        # The conductor starts the delete while a poll is between its read and its write.
        real = st.evaluate

        def racing(*a):
            out = real(*a)
            ng.status = "DELETE_IN_PROGRESS"
            return out
        with mock.patch.object(st, "evaluate", racing):
            self.driver.update_cluster_status(None, c)
        self.assertEqual(c.status, "UPDATE_IN_PROGRESS")
        # A poll that lost the race anyway: the health poll puts the cluster back in
        # progress, once the nodegroup has been in progress for a while (a delete the
        # conductor has just begun saves the nodegroups before the cluster).
        c.status = "UPDATE_COMPLETE"
        ng.updated_at = datetime.datetime.now(UTC)
        self.driver.get_monitor(None, c).poll_health_status()
        self.assertEqual(c.status, "UPDATE_COMPLETE")
        ng.updated_at -= datetime.timedelta(minutes=2)
        # The health poll's cluster was listed before a cluster delete began: read again,
        # it is left to the delete.
        m = self.driver.get_monitor(None, c)
        with mock.patch.object(c, "refresh", lambda *a: object.__setattr__(c, "status", "DELETE_IN_PROGRESS")):
            m.poll_health_status()
        self.assertEqual(c.status, "DELETE_IN_PROGRESS")
        c.status = "UPDATE_COMPLETE"
        self.driver.get_monitor(None, c).poll_health_status()
        self.assertEqual(c.status, "UPDATE_IN_PROGRESS")
        del self.state["objects"][("WorkerPool", NS, ng.stack_id)]
        self.driver.update_cluster_status(None, c)
        self.assertTrue(ng.destroyed)

    # --- delete --------------------------------------------------------------------

    def test_delete_goes_in_order_and_ends_with_magnums_clean_up(self):
        c = self.created()
        self.driver.delete_cluster(None, c)
        deletes = [call[1:] for call in self.state["calls"] if call[0] == "delete"]
        self.assertEqual(deletes, [("WorkerPool", POOL), ("TenantCluster", TC)])
        self.assertTrue(all(ng.status == "DELETE_IN_PROGRESS" for ng in c.nodegroups))
        c.status = "DELETE_IN_PROGRESS"
        with mock.patch.object(osk, "delete_magnum_credentials") as creds:
            self.driver.update_cluster_status(None, c)
            self.assertEqual(c.status, "DELETE_IN_PROGRESS")
            self.assertIn("TenantCluster %s: being deleted" % TC, c.status_reason)
            self.assertEqual(len(self.state["secrets"]), 4)  # kept while kubeseed needs them
            self.state["objects"].clear()  # kubeseed finished
            self.driver.update_cluster_status(None, c)
            creds.assert_called_once_with(None, c)
        self.assertEqual(c.status, "DELETE_COMPLETE")
        self.assertEqual(self.state["secrets"], {})
        self.assertNotIn(NS, self.state["namespaces"])
        self.assertTrue(all(ng.status == "DELETE_COMPLETE" for ng in c.nodegroups))

    def test_delete_of_a_cluster_never_made_completes(self):
        c = fakes.cluster(status="DELETE_IN_PROGRESS")
        self.driver.delete_cluster(None, c)
        with mock.patch.object(osk, "delete_magnum_credentials"):
            self.driver.update_cluster_status(None, c)
        self.assertEqual(c.status, "DELETE_COMPLETE")

    # --- races, half-done operations, deadlines --------------------------------------

    def test_nodegroup_status_is_saved_before_any_seed_call(self):
        def gpu(c):
            ng = fakes.Obj(uuid="g-uuid", name="gpu", role="worker", is_default=False,
                           node_count=1, flavor_id="g1", image_id="img-135", labels={},
                           min_node_count=0, max_node_count=None, stack_id=None,
                           status="CREATE_COMPLETE", status_reason=None, node_addresses=[])
            self.driver.create_nodegroup(None, c, ng)
            return ng
        cases = [
            ("update_nodegroup", lambda c: c.default_ng_worker,
             lambda c, ng: self.driver.update_nodegroup(None, c, ng), "UPDATE_IN_PROGRESS"),
            ("delete_nodegroup", gpu,
             lambda c, ng: self.driver.delete_nodegroup(None, c, ng), "DELETE_IN_PROGRESS"),
            ("resize_cluster", lambda c: c.default_ng_worker,
             lambda c, ng: self.driver.resize_cluster(None, c, None, 3, None, ng),
             "UPDATE_IN_PROGRESS"),
            ("update_cluster", lambda c: c.default_ng_worker,
             lambda c, ng: self.driver.update_cluster(None, c), "UPDATE_IN_PROGRESS"),
        ]
        for name, pick, call, want in cases:
            with self.subTest(name):
                self.setUp()
                c = self.created()
                ng = pick(c)
                ng.status = "CREATE_COMPLETE"
                ng.save()
                saved = {}

                def seed_call(*a, ng=ng):  # what a poll would read at the first seed call
                    saved.setdefault("status", (ng.status, ng.obj_what_changed()))
                    return True
                with mock.patch.object(fakes.FakeSeed, "namespace_exists", seed_call), \
                        mock.patch.object(fakes.FakeSeed, "_log",
                                          lambda self_, *a: seed_call()):
                    call(c, ng)
                self.assertEqual(saved["status"], (want, set()))

    def test_upgrade_checks_max_batch_size_before_touching_anything(self):
        for bad in (0, 101, -1, "many"):
            with self.subTest(bad):
                self.setUp()
                c = self.created()
                calls = len(self.state["calls"])
                new = fakes.template(uuid="tpl-2", labels={"kube_tag": "v1.36.3"})
                with self.assertRaises(exception.InvalidParameterValue) as e:
                    self.driver.upgrade_cluster(None, c, new, bad, c.default_ng_worker)
                self.assertIn("max_batch_size %s: must be 1 to 100" % bad, str(e.exception))
                self.assertEqual(len(self.state["calls"]), calls)
        c = self.created()
        self.driver.upgrade_cluster(None, c, fakes.template(
            uuid="tpl-2", labels={"kube_tag": "v1.36.3"}), None, c.default_ng_worker)
        pool = self.state["objects"][("WorkerPool", NS, POOL)]
        self.assertNotIn("strategy", pool["spec"])  # None: kubeseed's default

    def test_upgrade_patches_pools_first_and_records_only_when_all_took(self):
        c = self.created()
        self.make_ready()
        c.status = "UPDATE_COMPLETE"
        new = fakes.template(uuid="tpl-2", labels={"kube_tag": "v1.36.3"}, image_id="img-136")
        self.state["refuse_patch"] = ("WorkerPool", "spec.image: Invalid value")
        with self.assertRaises(exception.InvalidParameterValue):
            self.driver.upgrade_cluster(None, c, new, 2, c.default_ng_worker)
        tc = self.state["objects"][("TenantCluster", NS, TC)]
        self.assertEqual(tc["spec"]["version"], "v1.35.4")  # untouched
        self.assertEqual((c.cluster_template_id, c.labels["kube_tag"]), ("tpl-1", "v1.35.4"))
        for ng in c.nodegroups:
            self.assertEqual((ng.status, ng.image_id, ng.labels["kube_tag"]),
                             ("CREATE_IN_PROGRESS", "img-135", "v1.35.4"))
        self.state["refuse_patch"] = None
        self.state["calls"].clear()
        self.driver.upgrade_cluster(None, c, new, 2, c.default_ng_worker)
        patched = [call[1] for call in self.state["calls"] if call[0] == "patch"]
        self.assertEqual(patched, ["WorkerPool", "TenantCluster"])

    def test_an_unreachable_seed_fails_updates_and_deletes_at_their_deadline(self):
        old = datetime.datetime.now(UTC) - datetime.timedelta(minutes=61)
        fresh = datetime.datetime.now(UTC) - datetime.timedelta(minutes=5)
        cases = [
            # (status, updated_at, this process's stamp, status after)
            ("UPDATE_IN_PROGRESS", fresh, None, "UPDATE_IN_PROGRESS"),
            ("UPDATE_IN_PROGRESS", old, None, "UPDATE_FAILED"),
            ("UPDATE_IN_PROGRESS", fresh, old, "UPDATE_FAILED"),  # the stamp wins
            ("DELETE_IN_PROGRESS", fresh, None, "DELETE_IN_PROGRESS"),
            ("DELETE_IN_PROGRESS", old, None, "DELETE_FAILED"),
            ("CREATE_IN_PROGRESS", fresh, None, "CREATE_IN_PROGRESS"),
        ]
        for status, updated, stamped, want in cases:
            with self.subTest((status, updated is old, stamped)):
                self.setUp()
                c = self.created()
                c.status, c.updated_at = status, updated
                driver._STAMPED.pop(c.uuid, None)
                if stamped:
                    driver._STAMPED[c.uuid] = stamped
                self.addCleanup(driver._STAMPED.pop, c.uuid, None)
                self.state["fail"] = "reading TenantCluster: Unauthorized (HTTP 401)"
                self.driver.update_cluster_status(None, c)
                self.assertEqual(c.status, want)
                self.assertIn("kubeseed: reading TenantCluster: Unauthorized", c.status_reason)
                if want.endswith("_FAILED"):
                    self.assertIn("not done 60 minutes after it began (create_timeout)",
                                  c.status_reason)
        self.setUp()
        c = self.created()  # a create timing out while the seed is unreachable says so
        c.created_at = old
        self.state["fail"] = "reading TenantCluster: no answer"
        self.driver.update_cluster_status(None, c)
        self.assertEqual(c.status, "CREATE_FAILED")
        self.assertIn("not done 60 minutes after it began (create_timeout), and the seed "
                      "cannot be read: kubeseed: reading TenantCluster: no answer",
                      c.status_reason)

    def test_delete_ignores_an_object_gone_since_the_list(self):
        c = self.created()
        self.state["vanish"].add(POOL)
        self.driver.delete_cluster(None, c)
        deletes = [call[1:] for call in self.state["calls"] if call[0] == "delete"]
        self.assertEqual(deletes, [("TenantCluster", TC)])
        self.assertTrue(all(ng.status == "DELETE_IN_PROGRESS" for ng in c.nodegroups))

    def test_a_refused_resize_takes_the_node_annotations_back(self):
        for unannotate_fails in (False, True):
            with self.subTest(unannotate_fails=unannotate_fails):
                self.setUp()
                c = self.created()
                self.make_ready()
                self.state["refuse_patch"] = ("WorkerPool", "spec.replicas: Invalid value")
                real = fakes.FakeSeed.annotate_tenant_nodes

                def annotate(self_, kc, nodes, ann):
                    if unannotate_fails and None in ann.values():
                        raise seed_mod.SeedError("tenant: no answer")
                    return real(self_, kc, nodes, ann)
                with mock.patch.object(fakes.FakeSeed, "annotate_tenant_nodes", annotate), \
                        self.assertRaises(exception.InvalidParameterValue) as e:
                    self.driver.resize_cluster(None, c, None, 1, [POOL + "-1"],
                                               c.default_ng_worker)
                self.assertIn("spec.replicas: Invalid value", str(e.exception))
                want = [{mapping.DELETE_MACHINE_ANNOTATION: "true"}]
                if not unannotate_fails:
                    want.append({mapping.DELETE_MACHINE_ANNOTATION: None})
                self.assertEqual([a[2] for a in self.state["annotated"]], want)
                self.assertEqual([a[1] for a in self.state["annotated"]],
                                 [[POOL + "-1"]] * len(want))

    # --- the rest ------------------------------------------------------------------

    def test_not_supported(self):
        c = fakes.cluster()
        with self.assertRaises(exception.NotSupported) as e:
            self.driver.rotate_ca_certificate(None, c)
        self.assertIn("kubeseed cannot rotate a tenant's CAs yet", str(e.exception))
        for fn in (self.driver.create_federation, self.driver.update_federation,
                   self.driver.delete_federation):
            self.assertRaises(exception.NotSupported, fn, None, None)

    def test_monitor(self):
        c = self.created()
        m = self.driver.get_monitor(None, c)
        m.poll_health_status()
        self.assertEqual(m.data["health_status"], "UNKNOWN")
        self.make_ready()
        m.poll_health_status()
        self.assertEqual(m.data["health_status"], "HEALTHY")
        self.state["fail"] = "no answer"
        m.poll_health_status()
        self.assertEqual(m.data, {"health_status": "UNKNOWN",
                                  "health_status_reason": {"api": "kubeseed: no answer"}})
        self.assertIsInstance(m, monitor.Monitor)


class OpenStackTest(unittest.TestCase):

    def test_clouds_yaml_is_what_kubeseed_parses(self):
        cfg.CONF.set_override("auth_url", "https://keystone.example:5000/v3", group="kubeseed")
        cfg.CONF.set_override("region_name", "RegionOne", group="kubeseed")
        self.addCleanup(cfg.CONF.clear_override, "auth_url", group="kubeseed")
        self.addCleanup(cfg.CONF.clear_override, "region_name", group="kubeseed")
        data = osk.clouds_yaml(fakes.cluster())
        self.assertEqual(data["cloud"], "openstack")
        self.assertEqual(yaml.safe_load(data["clouds.yaml"]), {"clouds": {"openstack": {
            "auth_type": "password", "interface": "public", "region_name": "RegionOne",
            "auth": {"auth_url": "https://keystone.example:5000/v3", "user_id": "trustee",
                     "password": "secret", "trust_id": "trust"}}}})
        self.assertNotIn("cacert", data)

    def test_clouds_yaml_needs_a_trust(self):
        with self.assertRaises(exception.MagnumException) as e:
            osk.clouds_yaml(fakes.cluster(trust_id=None))
        self.assertIn("has no trust", str(e.exception))

    def test_magnum_error_keeps_percent_signs(self):
        self.assertEqual(str(osk.magnum_error("maxUnhealthy 40% exceeded")),
                         "maxUnhealthy 40% exceeded")

    def test_server_names(self):
        self.assertEqual(osk.server_names(None, "p", ["p-0", "p-12"]), ["p-0", "p-12"])
        nova = mock.Mock()
        nova.servers.get.return_value = mock.Mock()
        nova.servers.get.return_value.name = "p-3"
        with mock.patch.object(osk.clients, "OpenStackClients") as osc:
            osc.return_value.nova.return_value = nova
            self.assertEqual(osk.server_names(None, "p", ["0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"]),
                             ["p-3"])


class PackagingTest(unittest.TestCase):

    def test_entry_point_names_the_driver(self):
        try:
            import tomllib
        except ImportError:
            self.skipTest("tomllib needs Python 3.11")
        path = os.path.join(os.path.dirname(__file__), "..", "pyproject.toml")
        with open(path, "rb") as f:
            eps = tomllib.load(f)["project"]["entry-points"]["magnum.drivers"]
        self.assertEqual(eps, {"k8s_kubeseed_v1": "kubeseed_magnum.driver:Driver"})
        self.assertEqual(driver.Driver().provides,
                         [{"server_type": "vm", "os": "kubeseed", "coe": "kubernetes"}])

    def test_seed_errors_name_the_object(self):
        err = seed_mod.SeedError("reading TenantCluster a/b: forbidden (HTTP 403)", 403)
        self.assertEqual((err.status, str(err)),
                         (403, "reading TenantCluster a/b: forbidden (HTTP 403)"))


if __name__ == "__main__":
    unittest.main()
