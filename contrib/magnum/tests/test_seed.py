"""seed.py against python3-kubernetes, without a seed: configuration, errors, RBAC wait."""

import json
import os
import tempfile
import types
import unittest
from unittest import mock

try:
    from kubernetes.client.rest import ApiException
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest("needs python3-kubernetes: %s" % e)

from kubeseed_magnum import mapping
from kubeseed_magnum import seed as seed_mod


def conf(**over):
    c = dict(kubeconfig=None, request_timeout=1, operator_namespace="kubeseed-system")
    c.update(over)
    return types.SimpleNamespace(**c)


def api_error(status, message):
    e = ApiException(status=status, reason="Reason")
    e.body = json.dumps({"kind": "Status", "message": message})
    return e


class SeedTest(unittest.TestCase):

    def test_unset_or_broken_kubeconfig_is_named(self):
        with self.assertRaises(seed_mod.SeedError) as e:
            seed_mod.Seed(conf()).get("TenantCluster", "ns", "a")
        self.assertIn("set [kubeseed] kubeconfig in magnum.conf", str(e.exception))
        with self.assertRaises(seed_mod.SeedError) as e:
            seed_mod.Seed(conf(kubeconfig="/nonexistent/kubeconfig")).get("TenantCluster", "n", "a")
        self.assertIn("cannot load the seed's kubeconfig /nonexistent/kubeconfig", str(e.exception))

    def test_a_seed_that_does_not_answer(self):
        kc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "s", "cluster": {"server": "https://127.0.0.1:1",
                                                    "insecure-skip-tls-verify": True}}],
              "users": [{"name": "u", "user": {"token": "t"}}],
              "contexts": [{"name": "c", "context": {"cluster": "s", "user": "u"}}]}
        with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig", delete=False) as f:
            json.dump(kc, f)
        self.addCleanup(os.unlink, f.name)
        with seed_mod.Seed(conf(kubeconfig=f.name)) as seed:
            with self.assertRaises(seed_mod.SeedError) as e:
                seed.get("TenantCluster", "magnum-p", "mc-1")
        self.assertIn("reading TenantCluster magnum-p/mc-1: no answer", str(e.exception))

    def test_api_errors_keep_status_and_message(self):
        seed = seed_mod.Seed(conf())
        fn = mock.Mock(side_effect=api_error(422, "spec.version must be one of ..."))
        with self.assertRaises(seed_mod.SeedError) as e:
            seed._call("creating TenantCluster a/b", fn, 1, x=2)
        fn.assert_called_once_with(1, x=2, _request_timeout=1)
        self.assertEqual((e.exception.status, e.exception.reason),
                         (422, "spec.version must be one of ..."))
        self.assertEqual(str(e.exception), "creating TenantCluster a/b: spec.version must be one "
                                           "of ... (HTTP 422)")

    def test_get_of_a_missing_object_is_none(self):
        seed = seed_mod.Seed(conf())
        custom = mock.Mock()
        custom.get_namespaced_custom_object.side_effect = api_error(404, "not found")
        with mock.patch.object(seed, "_custom", return_value=custom):
            self.assertIsNone(seed.get("WorkerPool", "ns", "p"))

    def test_apply_never_adopts_another_clusters_object(self):
        seed = seed_mod.Seed(conf())
        theirs = {"kind": "TenantCluster", "metadata": {"labels": {mapping.CLUSTER_LABEL: "x"}}}
        ours = {"kind": "TenantCluster", "metadata": {"name": "mc-1", "namespace": "ns",
                                                      "labels": {mapping.CLUSTER_LABEL: "y"},
                                                      "annotations": {}}, "spec": {}}
        with mock.patch.object(seed, "get", return_value=theirs):
            with self.assertRaises(seed_mod.SeedError) as e:
                seed.apply(ours)
        self.assertIn("TenantCluster ns/mc-1 exists and belongs to x, not to cluster y",
                      str(e.exception))

    def test_ensure_namespace_binds_magnum_and_waits_for_rbac(self):
        seed = seed_mod.Seed(conf())
        core, rbac = mock.Mock(), mock.Mock()
        core.read_namespace.side_effect = api_error(404, "not found")
        core.list_namespaced_secret.side_effect = [api_error(403, "forbidden"), mock.Mock()]
        rbac.read_namespaced_role_binding.side_effect = api_error(404, "not found")
        with mock.patch.object(seed, "_core", return_value=core), \
                mock.patch.object(seed_mod.Seed, "api", new=object()), \
                mock.patch("kubernetes.client.RbacAuthorizationV1Api", return_value=rbac), \
                mock.patch.object(seed_mod.time, "sleep") as sleep:
            seed.ensure_namespace("magnum-p1", "P1")
        body = core.create_namespace.call_args[0][0]
        self.assertEqual(body["metadata"]["name"], "magnum-p1")
        self.assertEqual(body["metadata"]["labels"][mapping.PROJECT_LABEL], "p1")
        ns, rb = rbac.create_namespaced_role_binding.call_args[0]
        self.assertEqual(ns, "magnum-p1")
        self.assertEqual(rb["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                         "kind": "ClusterRole", "name": "kubeseed-customer"})
        self.assertEqual(rb["subjects"], [{"kind": "ServiceAccount", "name": "kubeseed-magnum",
                                           "namespace": "kubeseed-system"}])
        sleep.assert_called_once_with(0.5)

    def test_an_unreachable_tenant_is_named_for_nodes_to_remove(self):
        kc = ("apiVersion: v1\nkind: Config\ncurrent-context: t\n"
              "clusters: [{name: t, cluster: {server: 'https://127.0.0.1:1'}}]\n"
              "users: [{name: a, user: {token: x}}]\n"
              "contexts: [{name: t, context: {cluster: t, user: a}}]\n")
        with self.assertRaises(seed_mod.SeedError) as e:
            seed_mod.Seed(conf()).annotate_tenant_nodes(kc, ["p-1"], {"a": "b"})
        self.assertIn("annotating Node p-1 through the tenant's API at https://127.0.0.1:1 "
                      "(Magnum's conductor must reach it): no answer", str(e.exception))

    def test_tenant_kubeconfig_keeps_inline_credentials_only(self):
        kc = {"current-context": "admin@t", "contexts": [
                  {"name": "admin@t", "context": {"cluster": "t", "user": "admin"}}],
              "clusters": [{"name": "t", "cluster": {
                  "server": "https://203.0.113.10:6443", "certificate-authority-data": "Q0E=",
                  "proxy-url": "http://evil", "certificate-authority": "/etc/passwd"}}],
              "users": [{"name": "admin", "user": {
                  "client-certificate-data": "Q1JU", "client-key-data": "S0VZ",
                  "exec": {"command": "/bin/sh"}, "tokenFile": "/var/run/token"}}]}
        got = seed_mod._inline_only(kc)
        self.assertEqual(got["clusters"][0]["cluster"], {
            "server": "https://203.0.113.10:6443", "certificate-authority-data": "Q0E="})
        self.assertEqual(got["users"][0]["user"], {"client-certificate-data": "Q1JU",
                                                   "client-key-data": "S0VZ"})


    def test_apply_never_takes_over_another_nodegroups_pool(self):
        seed = seed_mod.Seed(conf())
        ours = {"kind": "WorkerPool", "metadata": {
            "name": "mc-1-gpu-abcd", "namespace": "ns", "annotations": {},
            "labels": {mapping.CLUSTER_LABEL: "y", mapping.NODEGROUP_LABEL: "ng-2"}}, "spec": {}}
        cases = [({mapping.CLUSTER_LABEL: "y", mapping.NODEGROUP_LABEL: "ng-1"}, "nodegroup ng-1"),
                 ({mapping.CLUSTER_LABEL: "y"}, "nodegroup (none)")]
        for labels, owner in cases:
            with self.subTest(owner):
                with mock.patch.object(seed, "get", return_value={
                        "kind": "WorkerPool", "metadata": {"labels": labels}}), \
                        mock.patch.object(seed, "patch") as patch:
                    with self.assertRaises(seed_mod.SeedError) as e:
                        seed.apply(ours)
                patch.assert_not_called()
                self.assertEqual(e.exception.status, 409)
                self.assertIn("WorkerPool ns/mc-1-gpu-abcd exists and belongs to %s, not to "
                              "nodegroup ng-2" % owner, str(e.exception))
        with mock.patch.object(seed, "get", return_value={"kind": "WorkerPool", "metadata": {
                "labels": dict(ours["metadata"]["labels"])}}), \
                mock.patch.object(seed, "patch") as patch:
            seed.apply(ours)  # a retried create of the same nodegroup
        patch.assert_called_once()

    def test_ensure_namespace_adopts_only_its_projects_namespace(self):
        cases = [({mapping.PROJECT_LABEL: "p1"}, None),
                 ({mapping.PROJECT_LABEL: "p2"}, "its label %s is 'p2'" % mapping.PROJECT_LABEL),
                 (None, "its label %s is missing" % mapping.PROJECT_LABEL)]
        for labels, refusal in cases:
            with self.subTest(labels):
                seed = seed_mod.Seed(conf())
                core, rbac = mock.Mock(), mock.Mock()
                core.read_namespace.return_value = types.SimpleNamespace(
                    metadata=types.SimpleNamespace(deletion_timestamp=None, labels=labels))
                with mock.patch.object(seed, "_core", return_value=core), \
                        mock.patch.object(seed_mod.Seed, "api", new=object()), \
                        mock.patch("kubernetes.client.RbacAuthorizationV1Api",
                                   return_value=rbac):
                    if refusal is None:
                        seed.ensure_namespace("magnum-p1", "P1")
                        continue
                    with self.assertRaises(seed_mod.SeedError) as e:
                        seed.ensure_namespace("magnum-p1", "P1")
                self.assertIn("namespace magnum-p1 exists but is not OpenStack project P1's: "
                              + refusal, str(e.exception))
                rbac.create_namespaced_role_binding.assert_not_called()

    def test_tenant_keys_go_to_a_private_directory_removed_after(self):
        from kubernetes.config import kube_config
        kc = ("apiVersion: v1\nkind: Config\ncurrent-context: t\n"
              "clusters: [{name: t, cluster: {server: 'https://127.0.0.1:1', "
              "certificate-authority-data: Q0E=}}]\n"
              "users: [{name: a, user: {client-certificate-data: Q1JU, "
              "client-key-data: S0VZLXNlY3JldA==}}]\n"
              "contexts: [{name: t, context: {cluster: t, user: a}}]\n")
        seen = {}

        def patch_node(*a, **kw):  # the client has written its files by now
            for k, path in kube_config._temp_files.items():
                if open(path, "rb").read() == b"KEY-secret":
                    d = os.path.dirname(path)
                    seen.update(dir=d, mode=os.stat(d).st_mode & 0o777, key=path)
            return None
        core = mock.Mock()
        core.patch_node.side_effect = patch_node
        with mock.patch("kubernetes.client.CoreV1Api", return_value=core):
            seed_mod.Seed(conf()).annotate_tenant_nodes(kc, ["p-1"], {"a": "b"})
        self.assertEqual(seen["mode"], 0o700)
        self.assertNotEqual(seen["dir"], tempfile.gettempdir())
        self.assertFalse(os.path.exists(seen["dir"]))
        self.assertNotIn(seen["key"], kube_config._temp_files.values())


if __name__ == "__main__":
    unittest.main()
