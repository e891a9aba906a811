"""mapping.py: names, validation, manifests, upgrades, refusals. No Magnum needed."""

import datetime
import os
import re
import unittest

from kubeseed_magnum import mapping

try:
    import yaml
except ImportError:  # the schema check needs PyYAML; everything else does not
    yaml = None

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
UUID = "7d6a8c3e-1f2b-4c5d-9e8f-0a1b2c3d4e5f"
NG_UUID = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
NET = "2a7c9e4b-1d3f-4b6a-8c5e-7f9a0b1c2d3e"
SUBNET = "6b8e3f1c-3c4b-4a52-9a43-2d9e6a5b7c01"
EXT = "0f4d2c7e-8a1b-4e3c-b6d5-9c8f7e6a5b40"
CRD_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "config", "crd", "bases")
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def cluster(**over):
    c = {"uuid": UUID, "name": "prod", "namespace": "magnum-abc", "tc_name": "mc-7d6a8c3e",
         "master_count": 1, "labels": {"kube_tag": "v1.36.3"}, "subnet_id": SUBNET,
         "network_id": NET, "external_network_id": EXT, "floating_ip_enabled": False,
         "fixed_network": "private", "fixed_subnet": "private-subnet", "network_driver":
         "flannel", "version": "v1.36.3", "keypair": "ops"}
    c.update(over)
    return c


def nodegroup(**over):
    ng = {"uuid": NG_UUID, "name": "default-worker", "node_count": 3, "flavor_id": "m1.large",
          "image_id": "ubuntu-kube", "labels": {}, "min_node_count": 0, "max_node_count": None}
    ng.update(over)
    return ng


class NamesTest(unittest.TestCase):

    def test_names_are_valid_and_deterministic(self):
        tc = mapping.tenant_cluster_name(UUID)
        self.assertEqual(tc, "mc-7d6a8c3e")
        for ng_name in ("default-worker", "GPU_Pool.A", "x" * 80, "", "---"):
            pool = mapping.worker_pool_name(tc, ng_name, NG_UUID)
            self.assertLessEqual(len(pool), mapping.POOL_NAME_MAX, pool)
            self.assertRegex(pool, DNS1035)
            self.assertTrue(pool.startswith(tc + "-") and pool.endswith("-0b1c"), pool)
            self.assertEqual(pool, mapping.worker_pool_name(tc, ng_name, NG_UUID))
        self.assertEqual(mapping.worker_pool_name(tc, "default-worker", NG_UUID),
                         "mc-7d6a8c3e-default-w-0b1c")
        self.assertEqual(mapping.worker_pool_name(tc, "GPU_Pool.A", NG_UUID),
                         "mc-7d6a8c3e-gpu-pool-0b1c")

    def test_tenant_cluster_name_starts_with_a_letter_for_every_uuid(self):
        for u in ("00000000-0000-0000-0000-000000000000", UUID.upper()):
            self.assertRegex(mapping.tenant_cluster_name(u), DNS1035)

    def test_namespace(self):
        for prefix, project, want in (
                ("magnum-", "8f1f6b3c2d4e4a5b9c8d7e6f5a4b3c2d",
                 "magnum-8f1f6b3c2d4e4a5b9c8d7e6f5a4b3c2d"),
                ("magnum-", "Some_LDAP.Project", "magnum-some-ldap-project")):
            self.assertEqual(mapping.namespace_name(prefix, project), want)
        long = mapping.namespace_name("magnum-", "p" * 100)
        self.assertTrue(long.startswith("magnum-") and len(long) <= 63, long)


class ValidateTest(unittest.TestCase):

    def test_refusals_name_the_field(self):
        cases = [
            ({"fixed_network": None}, "fixed_network is required"),
            ({"fixed_subnet": ""}, "fixed_subnet is required"),
            ({"network_driver": "calico"}, "network_driver calico is not supported"),
            ({"labels": {}}, "label kube_tag is required"),
            ({"master_count": 7}, "master_count 7"),
            ({"labels": {"kube_tag": "v1.36.3", "etcd_volume_size": "big"}},
             "label etcd_volume_size=big is not a whole number"),
            ({"labels": {"kube_tag": "v1.36.3", "master_lb_allowed_cidrs": "10.0.0.1/24"}},
             "label master_lb_allowed_cidrs: 10.0.0.1/24 is not a network address"),
            ({"floating_ip_enabled": True, "external_network_id": None},
             "external_network_id is required"),
            ({"labels": {"kube_tag": "v1.36.3", "master_lb_floating_ip_enabled": "maybe"}},
             "label master_lb_floating_ip_enabled=maybe is not a boolean"),
            ({"labels": {"kube_tag": "v1.36.3", "auto_healing_enabled": "sometimes"}},
             "label auto_healing_enabled=sometimes is not a boolean"),
        ]
        for over, msg in cases:
            with self.subTest(msg=msg):
                with self.assertRaises(mapping.MappingError) as e:
                    mapping.validate_cluster(cluster(**over))
                self.assertIn(msg, str(e.exception))

    def test_accepts_flannel_or_unset_and_lists_ignored_labels(self):
        for driver in ("flannel", None, ""):
            labels = {"kube_tag": "v1.36.3", "cloud_provider_tag": "v1", "heat_container_agent_tag":
                      "x", "etcd_volume_size": "5", "master_lb_allowed_cidrs": "10.0.0.0/8"}
            self.assertEqual(mapping.validate_cluster(cluster(network_driver=driver, labels=labels)),
                             ["cloud_provider_tag", "heat_container_agent_tag"])

    def test_floating_ip_label_wins_over_the_template(self):
        self.assertTrue(mapping.floating_ip(cluster(floating_ip_enabled=False, labels={
            "master_lb_floating_ip_enabled": "true"})))
        self.assertFalse(mapping.floating_ip(cluster(floating_ip_enabled=True, labels={
            "master_lb_floating_ip_enabled": "False"})))
        self.assertTrue(mapping.floating_ip(cluster(floating_ip_enabled=True, labels={})))


class ManifestTest(unittest.TestCase):

    def test_small_tenant_cluster(self):
        tc = mapping.tenant_cluster_manifest(cluster(), NOW)
        self.assertEqual(tc["metadata"]["labels"], {mapping.CLUSTER_LABEL: UUID})
        self.assertEqual(tc["metadata"]["annotations"][mapping.STARTED_ANNOTATION],
                         "2026-01-02T03:04:05Z")
        spec = tc["spec"]
        self.assertEqual(spec["version"], "v1.36.3")
        self.assertEqual(spec["controlPlane"]["etcd"], {"replicas": 1})
        self.assertEqual(spec["controlPlane"]["apiServer"], {"replicas": 1})
        self.assertEqual(spec["cloud"], {"credentialsSecretRef": {"name": "mc-7d6a8c3e-openstack"},
                                         "subnetID": SUBNET})
        self.assertEqual(spec["endpoint"], {"type": "Octavia", "octavia": {}})
        self.assertEqual(spec["certificateAuthorities"], {
            "cluster": {"name": "mc-7d6a8c3e-ca"},
            "etcd": {"name": "mc-7d6a8c3e-etcd-ca"},
            "frontProxy": {"name": "mc-7d6a8c3e-front-proxy-ca"}})
        self.assertEqual(spec["network"], {"cni": "flannel"})

    def test_ha_tenant_cluster_with_labels(self):
        labels = {"kube_tag": "1.35.4", "etcd_volume_size": "5",
                  "master_lb_floating_ip_enabled": "true",
                  "master_lb_allowed_cidrs": "203.0.113.0/24, 10.0.0.0/8",
                  "flannel_network_cidr": "10.100.0.0/16",
                  "service_cluster_ip_range": "10.254.0.0/16"}
        spec = mapping.tenant_cluster_manifest(cluster(master_count=3, labels=labels), NOW)["spec"]
        self.assertEqual(spec["version"], "v1.35.4")
        self.assertEqual(spec["controlPlane"]["scheduler"], {"replicas": 3})
        self.assertEqual(spec["controlPlane"]["etcd"], {"replicas": 3, "storage": {"size": "5Gi"}})
        self.assertEqual(spec["cloud"]["floatingNetworkID"], EXT)
        self.assertEqual(spec["endpoint"]["octavia"]["allowedCIDRs"],
                         ["203.0.113.0/24", "10.0.0.0/8"])
        self.assertEqual(spec["network"], {"cni": "flannel", "podCIDR": "10.100.0.0/16",
                                           "serviceCIDR": "10.254.0.0/16"})

    def test_cas_magnum_lacks_are_left_to_kubeseed(self):
        spec = mapping.tenant_cluster_manifest(cluster(cas=["cluster"]), NOW)["spec"]
        self.assertEqual(list(spec["certificateAuthorities"]), ["cluster"])

    def test_worker_pool(self):
        wp = mapping.worker_pool_manifest(cluster(), nodegroup(labels={"availability_zone": "az1"}),
                                          NOW)
        self.assertEqual(wp["metadata"]["name"], "mc-7d6a8c3e-default-w-0b1c")
        self.assertEqual(wp["metadata"]["labels"], {mapping.CLUSTER_LABEL: UUID,
                                                    mapping.NODEGROUP_LABEL: NG_UUID})
        self.assertEqual(wp["spec"], {
            "clusterName": "mc-7d6a8c3e", "version": "v1.36.3", "replicas": 3,
            "flavor": "m1.large", "image": "ubuntu-kube", "networkID": NET, "subnetID": SUBNET,
            "sshKeyName": "ops", "availabilityZones": ["az1"]})

    def test_worker_pool_options(self):
        cases = [
            ({"auto_healing_enabled": "false"}, {},
             {"healthCheck": {"nodeStartupTimeout": "0s", "unhealthyTimeout": "0s"}}),
            ({"auto_healing_enabled": "true"}, {}, {}),
            ({"auto_scaling_enabled": "true"}, {},
             {"autoscaling": {"minReplicas": 0, "maxReplicas": 4}}),
            ({"auto_scaling_enabled": "true", "max_node_count": "10"}, {"min_node_count": 2},
             {"autoscaling": {"minReplicas": 2, "maxReplicas": 10}}),
            ({"auto_scaling_enabled": "true"}, {"min_node_count": 1, "max_node_count": 5},
             {"autoscaling": {"minReplicas": 1, "maxReplicas": 5}}),
        ]
        for labels, fields, want in cases:
            with self.subTest(labels=labels, fields=fields):
                spec = mapping.worker_pool_manifest(
                    cluster(keypair=None), nodegroup(labels=labels, **fields), NOW)["spec"]
                self.assertNotIn("sshKeyName", spec)
                extra = {k: v for k, v in spec.items() if k in ("healthCheck", "autoscaling")}
                self.assertEqual(extra, want)

    def test_autoscaling_bounds_must_hold_the_count(self):
        with self.assertRaises(mapping.MappingError) as e:
            mapping.autoscaling(nodegroup(labels={"auto_scaling_enabled": "true"},
                                          max_node_count=2))
        self.assertIn("node_count 3 must lie within min_node_count 0 and max_node_count 2",
                      str(e.exception))

    def test_autoscaling_bounds(self):
        auto = {"auto_scaling_enabled": "true"}
        cases = [
            ("not autoscaled", nodegroup(max_node_count=5), None, None),
            ("fields", nodegroup(labels=auto, min_node_count=1, max_node_count=5), None, (1, 5)),
            ("labels", nodegroup(labels=dict(auto, min_node_count="2", max_node_count="7"),
                                 min_node_count=None), None, (2, 7)),
            ("no maximum: node_count + 1", nodegroup(labels=auto), None, (0, 4)),
            ("no maximum: the one given", nodegroup(labels=auto), 9, (0, 9)),
        ]
        for name, ng, default_max, want in cases:
            with self.subTest(name):
                self.assertEqual(mapping.autoscaling_bounds(ng, default_max), want)
        with self.assertRaises(mapping.MappingError) as e:
            mapping.autoscaling_bounds(nodegroup(labels=auto, min_node_count=4, max_node_count=3))
        self.assertIn("min_node_count 4 and max_node_count 3", str(e.exception))

    def test_a_resize_of_an_autoscaled_pool_stays_within_its_bounds(self):
        plain = {"metadata": {"name": "mc-1-w"}, "spec": {"replicas": 2}}
        auto = {"metadata": {"name": "mc-1-w"},
                "spec": {"replicas": 2, "autoscaling": {"minReplicas": 1, "maxReplicas": 4}}}
        self.assertEqual(mapping.resize_replicas(plain, 9, "default-worker"), 9)
        for n in (1, 3, 4):
            self.assertEqual(mapping.resize_replicas(auto, n, "default-worker"), n)
        for n, hint in ((5, "replace max_node_count=5"), (0, "replace min_node_count=0")):
            with self.subTest(n=n), self.assertRaises(mapping.MappingError) as e:
                mapping.resize_replicas(auto, n, "default-worker")
            self.assertIn("nodegroup default-worker is autoscaled (label auto_scaling_enabled): "
                          "node_count %d lies outside its min_node_count 1 and max_node_count 4, "
                          "within which kubeseed's autoscaler sizes WorkerPool mc-1-w" % n,
                          str(e.exception))
            self.assertIn(hint, str(e.exception))

    def test_new_bounds_keep_the_autoscalers_size(self):
        auto = {"auto_scaling_enabled": "true"}
        # The autoscaler made it 4; Magnum's node_count (3) lags behind.
        pool = {"metadata": {"name": "mc-1-w"},
                "spec": {"replicas": 4, "autoscaling": {"minReplicas": 1, "maxReplicas": 6}}}
        cases = [
            ("wider", dict(min_node_count=1, max_node_count=8), (1, 8, 4)),
            ("a maximum below the size", dict(min_node_count=1, max_node_count=3), (1, 3, 3)),
            ("a minimum above the size", dict(min_node_count=5, max_node_count=8), (5, 8, 5)),
            ("no maximum: the pool's", dict(min_node_count=2, max_node_count=None), (2, 6, 4)),
        ]
        for name, fields, (lo, hi, replicas) in cases:
            with self.subTest(name):
                self.assertEqual(mapping.rebound(nodegroup(labels=auto, **fields), pool), {
                    "autoscaling": {"minReplicas": lo, "maxReplicas": hi},
                    "replicas": replicas})
        # Not autoscaled: bounds off, the size as it is.
        self.assertEqual(mapping.rebound(nodegroup(max_node_count=8), pool), {"autoscaling": None})

    @unittest.skipUnless(yaml and os.path.isdir(CRD_DIR), "needs PyYAML and the repo's CRDs")
    def test_manifests_fit_the_crds(self):
        labels = {"kube_tag": "v1.36.3", "etcd_volume_size": "5", "master_lb_allowed_cidrs":
                  "10.0.0.0/8", "master_lb_floating_ip_enabled": "1", "dns_cluster_domain":
                  "cluster.local", "flannel_network_cidr": "10.100.0.0/16",
                  "service_cluster_ip_range": "10.254.0.0/16"}
        ng = nodegroup(labels={"auto_healing_enabled": "0", "auto_scaling_enabled": "1",
                               "availability_zone": "nova"})
        for crd, obj in (("tenantclusters", mapping.tenant_cluster_manifest(
                cluster(master_count=3, labels=labels), NOW)),
                ("workerpools", mapping.worker_pool_manifest(cluster(), ng, NOW))):
            with open(os.path.join(CRD_DIR, "kubeseed.io_%s.yaml" % crd)) as f:
                schema = yaml.safe_load(f)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            check_schema(self, obj["spec"], schema["properties"]["spec"], "spec")


def check_schema(test, value, schema, path):
    """The structural part of an OpenAPI schema: fields, types, enums, bounds."""
    if schema.get("x-kubernetes-int-or-string"):
        return
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}
    if kind:
        test.assertIsInstance(value, types[kind], path)
    if "enum" in schema:
        test.assertIn(value, schema["enum"], path)
    if kind == "string" and "maxLength" in schema:
        test.assertLessEqual(len(value), schema["maxLength"], path)
    if kind == "integer":
        test.assertGreaterEqual(value, schema.get("minimum", value), path)
        test.assertLessEqual(value, schema.get("maximum", value), path)
    if kind == "object":
        props = schema.get("properties") or {}
        for k, v in value.items():
            sub = props.get(k) or schema.get("additionalProperties")
            test.assertTrue(sub, "%s.%s is not in the CRD" % (path, k))
            check_schema(test, v, sub if isinstance(sub, dict) else {}, path + "." + k)
        for k in schema.get("required") or []:
            test.assertIn(k, value, "%s.%s is required" % (path, k))
    if kind == "array":
        for i, v in enumerate(value):
            check_schema(test, v, schema.get("items") or {}, "%s[%d]" % (path, i))


class UpgradeTest(unittest.TestCase):

    def test_table(self):
        cases = [
            ("v1.35.4", "v1.36.3", None, False),
            ("v1.36.3", "v1.36.3", None, True),
            ("v1.35.1", "v1.35.4", None, False),
            ("v1.36.3", "v1.35.4", "upgrading from v1.36.3 to v1.35.4 would be a downgrade", 0),
            ("v1.35.4", "v1.35.1", "would be a downgrade", 0),
            ("v1.34.4", "v1.36.3", "upgrading from v1.34.4 to v1.36.3 skips a minor version: "
             "upgrade one minor at a time (to v1.35.x first)", 0),
            ("v1.36.3", "v2.0.0", "skips a minor version", 0),
            ("v1.36.3", "latest", "label kube_tag=latest is not a Kubernetes version", 0),
        ]
        for current, target, msg, same in cases:
            with self.subTest(current=current, target=target):
                if msg is None:
                    self.assertEqual(mapping.validate_upgrade(current, target), same)
                    continue
                with self.assertRaises(mapping.MappingError) as e:
                    mapping.validate_upgrade(current, target)
                self.assertIn(msg, str(e.exception))


class HelpersTest(unittest.TestCase):

    def test_explain_refusal_names_magnum_fields(self):
        msg = ('TenantCluster.kubeseed.io "mc-1" is invalid: spec.version: Invalid value: '
               '"string": spec.version must be one of the supported versions: v1.34.4, v1.35.4')
        got = mapping.explain_refusal("TenantCluster", "mc-1", msg, {"label kube_tag": "v1.12.7"})
        self.assertTrue(got.startswith("label kube_tag=v1.12.7: kubeseed refused TenantCluster "
                                       "mc-1: "), got)
        self.assertEqual(mapping.explain_refusal("WorkerPool", "p", "spec.flavor: bad", {}),
                         "flavor_id: kubeseed refused WorkerPool p: spec.flavor: bad")
        self.assertEqual(mapping.explain_refusal("WorkerPool", "p", "quota", None),
                         "kubeseed refused WorkerPool p: quota")

    def test_parse_time(self):
        want = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
        for raw in ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05+00:00",
                    datetime.datetime(2026, 1, 2, 3, 4, 5)):
            self.assertEqual(mapping.parse_time(raw), want)
        self.assertIsNone(mapping.parse_time("yesterday"))
        self.assertIsNone(mapping.parse_time(None))

    def test_kubeconfig_secret_name(self):
        self.assertEqual(mapping.kubeconfig_secret_name({"metadata": {"name": "a"}}),
                         "a-kubeconfig")
        self.assertEqual(mapping.kubeconfig_secret_name({"metadata": {"name": "a"}, "status": {
            "kubeconfigSecretRef": {"name": "b"}}}), "b")


if __name__ == "__main__":
    unittest.main()
