"""Stand-ins for Magnum's objects and for the seed, for driver-level tests."""

import copy
import datetime

from kubeseed_magnum import mapping
from kubeseed_magnum import seed as seed_mod

UTC = datetime.timezone.utc


class Obj(object):
    """A Magnum object as far as the driver uses one: attributes that remember changes."""

    def __init__(self, **kw):
        object.__setattr__(self, "_changed", set())
        object.__setattr__(self, "saves", 0)
        object.__setattr__(self, "destroyed", False)
        for k, v in kw.items():
            object.__setattr__(self, k, v)

    def __setattr__(self, k, v):
        object.__setattr__(self, k, v)
        self._changed.add(k)

    def obj_what_changed(self):
        return set(self._changed)

    def save(self):
        object.__setattr__(self, "saves", self.saves + 1)
        self._changed.clear()

    def destroy(self):
        object.__setattr__(self, "destroyed", True)

    def refresh(self, context=None):
        """The fake's objects are the database: nothing to load."""


def template(**over):
    kw = dict(name="k8s", uuid="tpl-1", fixed_network="private", fixed_subnet="private-subnet",
              network_driver="flannel", external_network_id="public", image_id="img-135",
              labels={"kube_tag": "v1.35.4"})
    kw.update(over)
    return Obj(**kw)


def cluster(ct=None, status="CREATE_IN_PROGRESS", **over):
    master = Obj(uuid="m-uuid", name="default-master", role="master", is_default=True,
                 status=status, status_reason=None, node_count=1, node_addresses=[],
                 labels={"kube_tag": "v1.35.4"}, image_id="img-135", flavor_id="m1.small",
                 min_node_count=0, max_node_count=None, stack_id=None, created_at=None)
    worker = Obj(uuid="w-uuid", name="default-worker", role="worker", is_default=True,
                 status=status, status_reason=None, node_count=2, node_addresses=[],
                 labels={"kube_tag": "v1.35.4"}, image_id="img-135", flavor_id="m1.large",
                 min_node_count=0, max_node_count=None, stack_id=None, created_at=None)
    kw = dict(uuid="7d6a8c3e-1f2b-4c5d-9e8f-0a1b2c3d4e5f", name="prod",
              project_id="8f1f6b3c2d4e4a5b9c8d7e6f5a4b3c2d", cluster_template=ct or template(),
              cluster_template_id="tpl-1", fixed_network=None, fixed_subnet=None,
              floating_ip_enabled=False, master_count=1, keypair="ops",
              labels={"kube_tag": "v1.35.4"}, status=status, status_reason=None,
              created_at=datetime.datetime.now(UTC) - datetime.timedelta(minutes=1),
              create_timeout=60,
              api_address=None, coe_version=None, stack_id=None, trust_id="trust",
              trustee_user_id="trustee", trustee_password="secret")
    kw.update(over)
    c = Obj(**kw)
    object.__setattr__(c, "nodegroups", [master, worker])
    object.__setattr__(c, "default_ng_worker", worker)
    object.__setattr__(c, "default_ng_master", master)
    return c


class FakeSeed(object):
    """The seed in memory. STATE is shared by every instance, as the seed is."""

    STATE = None

    @classmethod
    def reset(cls):
        cls.STATE = {"objects": {}, "secrets": {}, "namespaces": set(), "calls": [],
                     "fail": None, "refuse": None, "annotated": [],
                     "refuse_patch": None, "vanish": set()}
        return cls.STATE

    def __init__(self, conf):
        self.state = FakeSeed.STATE

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self):
        pass

    def _log(self, *call):
        self.state["calls"].append(call)
        if self.state["fail"]:
            raise seed_mod.SeedError(self.state["fail"])

    def ensure_namespace(self, ns, project_id):
        self._log("ensure_namespace", ns)
        self.state["namespaces"].add(ns)

    def namespace_exists(self, ns):
        self._log("namespace_exists", ns)
        return ns in self.state["namespaces"]

    def namespace_unused(self, ns):
        return not any(k[1] == ns for k in self.state["objects"]) and not any(
            k[0] == ns for k in self.state["secrets"])

    def delete_namespace(self, ns):
        self._log("delete_namespace", ns)
        self.state["namespaces"].discard(ns)

    def apply_secret(self, ns, name, data, cluster_uuid, secret_type="Opaque"):
        self._log("apply_secret", name)
        self.state["secrets"][(ns, name)] = {"kind": "Secret", "type": secret_type,
                                             "metadata": {"name": name, "labels": {
                                                 mapping.CLUSTER_LABEL: cluster_uuid}},
                                             "data": data}

    def list_secrets(self, ns, cluster_uuid):
        return [copy.deepcopy(s) for (n, _), s in sorted(self.state["secrets"].items())
                if n == ns and s["metadata"]["labels"][mapping.CLUSTER_LABEL] == cluster_uuid]

    def stamp_secret(self, ns, name, metadata):
        self._log("stamp_secret", name)

    def delete_secret(self, ns, name):
        self._log("delete_secret", name)
        self.state["secrets"].pop((ns, name), None)

    def read_secret(self, ns, name):
        return {"value": "kubeconfig of %s" % name}

    def get(self, kind, ns, name):
        self._log("get", kind, name)
        obj = self.state["objects"].get((kind, ns, name))
        return copy.deepcopy(obj)

    def list(self, kind, ns, selector):
        self._log("list", kind, selector)
        want = dict(p.split("=", 1) for p in selector.split(","))
        return [copy.deepcopy(o) for (k, n, _), o in sorted(self.state["objects"].items())
                if k == kind and n == ns and all(
                    (o["metadata"].get("labels") or {}).get(a) == b for a, b in want.items())]

    def apply(self, obj):
        self._log("apply", obj["kind"], obj["metadata"]["name"])
        refuse = self.state["refuse"]
        if refuse and refuse[0] == obj["kind"]:
            raise seed_mod.SeedError("creating: " + refuse[1], 422, refuse[1])
        self.state["objects"][(obj["kind"], obj["metadata"]["namespace"],
                               obj["metadata"]["name"])] = copy.deepcopy(obj)
        return obj

    def patch(self, kind, ns, name, patch):
        self._log("patch", kind, name, copy.deepcopy(patch))
        if name in self.state["vanish"]:  # deleted by someone between list and patch
            self.state["objects"].pop((kind, ns, name), None)
            raise seed_mod.SeedError("updating %s: not found (HTTP 404)" % name, 404)
        refuse = self.state["refuse_patch"]
        if refuse and refuse[0] == kind:
            raise seed_mod.SeedError("updating: " + refuse[1], 422, refuse[1])
        obj = self.state["objects"][(kind, ns, name)]
        merge(obj, patch)
        return obj

    def delete(self, kind, ns, name):
        self._log("delete", kind, name)
        obj = self.state["objects"].get((kind, ns, name))
        if obj is not None:
            obj["metadata"]["deletionTimestamp"] = "2026-01-01T12:00:00Z"

    def annotate_tenant_nodes(self, kubeconfig, nodes, annotations):
        self._log("annotate", tuple(nodes))
        self.state["annotated"].append((kubeconfig, list(nodes), annotations))
        return []


def merge(target, patch):
    """RFC 7386 merge patch."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)
