"""Pure translation between Magnum's objects, as plain values, and kubeseed's API.

Nothing here imports magnum or kubernetes: inputs are dicts, strings and aware datetimes,
outputs are manifests (dicts) and statuses, so that the unit tests need neither a seed nor
Magnum's database. Errors are MappingError, whose message names the Magnum field or label
a person has to change.
"""

import datetime
import hashlib
import ipaddress
import re

GROUP, VERSION = "kubeseed.io", "v1alpha1"
API_VERSION = GROUP + "/" + VERSION
CLUSTER_LABEL = "kubeseed.io/magnum-cluster"      # every object the driver makes
NODEGROUP_LABEL = "kubeseed.io/magnum-nodegroup"  # WorkerPools: the nodegroup's uuid
PROJECT_LABEL = "kubeseed.io/magnum-project"      # the namespace: the project's id
NAME_ANNOTATION = "kubeseed.io/magnum-name"       # the Magnum cluster's or nodegroup's name
STARTED_ANNOTATION = "kubeseed.io/magnum-operation-started"  # start of the running operation
DELETE_MACHINE_ANNOTATION = "kubeseed.io/delete-machine"
MAX_NAME = 40  # TenantCluster and WorkerPool names (the CRDs' rule)
# Pools are shorter: their servers and Nodes are <pool>-<n>, read in every `kubectl get
# nodes`, and the local seed's test machines take names of at most 32 characters.
POOL_NAME_MAX = 26

# Labels this driver reads; any other label is a Heat driver's and is ignored.
MAPPED_LABELS = frozenset([
    "kube_tag", "etcd_volume_size", "master_lb_floating_ip_enabled",
    "master_lb_allowed_cidrs", "availability_zone", "auto_healing_enabled",
    "auto_scaling_enabled", "min_node_count", "max_node_count",
    "flannel_network_cidr", "service_cluster_ip_range", "dns_cluster_domain"])
# spec.network.cni accepts flannel and none; Magnum's network_driver only names flannel.
NETWORK_DRIVERS = (None, "", "flannel")
# Where a field the API may refuse came from, for messages a Magnum user can act on.
FIELD_SOURCES = [
    ("spec.version", "label kube_tag"),
    ("spec.controlPlane.etcd.storage.size", "label etcd_volume_size"),
    ("spec.controlPlane.apiServer.replicas", "master_count"),
    ("spec.endpoint.octavia.allowedCIDRs", "label master_lb_allowed_cidrs"),
    ("spec.network.podCIDR", "label flannel_network_cidr"),
    ("spec.network.serviceCIDR", "label service_cluster_ip_range"),
    ("spec.network.dnsDomain", "label dns_cluster_domain"),
    ("spec.cloud.subnetID", "fixed_subnet"),
    ("spec.cloud.floatingNetworkID", "external_network_id"),
    ("spec.flavor", "flavor_id"), ("spec.image", "image_id"),
    ("spec.networkID", "fixed_network"), ("spec.subnetID", "fixed_subnet"),
    ("spec.sshKeyName", "keypair"), ("spec.availabilityZones", "label availability_zone"),
    ("spec.autoscaling", "min_node_count/max_node_count"), ("spec.replicas", "node_count"),
]
_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
_TRUE = ("1", "t", "true", "on", "y", "yes")
_FALSE = ("0", "f", "false", "off", "n", "no")


class MappingError(ValueError):
    """What Magnum asked for cannot be expressed in kubeseed; the message says why."""


# --- names ---------------------------------------------------------------------------

def namespace_name(prefix, project_id):
    """<prefix><project_id>; the admission policy lets Magnum act only under its prefix."""
    rest = re.sub(r"[^a-z0-9-]+", "-", str(project_id).lower()).strip("-")
    if not rest or len(prefix) + len(rest) > 63:  # not a Keystone hex id: hash it
        rest = hashlib.sha256(str(project_id).encode()).hexdigest()[:63 - len(prefix)]
    return prefix + rest


def tenant_cluster_name(cluster_uuid):
    """mc-<first 8 hex digits of the uuid>: starts with a letter, and short, since it
    begins every pool, server and Node name (a collision in the project's namespace is
    caught by the cluster label and refused)."""
    return "mc-" + cluster_uuid.replace("-", "").lower()[:8]


def worker_pool_name(tc_name, ng_name, ng_uuid):
    """<cluster>-<nodegroup name, cut>-<4 hex of its uuid>: readable, and distinct even for
    a nodegroup re-created under the same name while the old pool still deletes. At most
    POOL_NAME_MAX characters: servers and Nodes are named <pool>-<n>."""
    tail = ng_uuid.replace("-", "").lower()[:4]
    room = POOL_NAME_MAX - len(tc_name) - len(tail) - 2
    slug = re.sub(r"[^a-z0-9]+", "-", str(ng_name or "").lower()).strip("-")[:room]
    slug = slug.strip("-")
    return "-".join(p for p in (tc_name, slug, tail) if p)


def secret_names(tc_name):
    return {"cluster": tc_name + "-ca", "etcd": tc_name + "-etcd-ca",
            "frontProxy": tc_name + "-front-proxy-ca", "cloud": tc_name + "-openstack"}


def kubeconfig_secret_name(tc):
    ref = ((tc or {}).get("status") or {}).get("kubeconfigSecretRef") or {}
    return ref.get("name") or tc["metadata"]["name"] + "-kubeconfig"


# --- small parsers -------------------------------------------------------------------

def parse_bool(value, default, what):
    if value is None or str(value).strip() == "":
        return default
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise MappingError("%s=%s is not a boolean (true or false)" % (what, value))


def _int(value, what, minimum=0):
    try:
        n = int(str(value).strip())
    except ValueError:
        raise MappingError("%s=%s is not a whole number" % (what, value))
    if n < minimum:
        raise MappingError("%s=%s must be at least %d" % (what, value, minimum))
    return n


def normalize_version(tag):
    """kube_tag as kubeseed spells versions: 1.35.4 -> v1.35.4; anything else unchanged
    (the API refuses it with the list of supported versions)."""
    tag = str(tag or "").strip()
    return "v" + tag if _VERSION_RE.match(tag) and not tag.startswith("v") else tag


def parse_version(tag, what="label kube_tag"):
    m = _VERSION_RE.match(str(tag or "").strip())
    if not m:
        raise MappingError("%s=%s is not a Kubernetes version vX.Y.Z" % (what, tag))
    return tuple(int(g) for g in m.groups())


def parse_time(value):
    """An RFC 3339 time of the API (or a datetime) as an aware datetime; None if absent or
    unreadable (an annotation someone edited)."""
    if value is None:
        return None
    when = value
    if not isinstance(value, datetime.datetime):
        try:
            when = datetime.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def format_time(when):
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def allowed_cidrs(value):
    cidrs = [c.strip() for c in str(value or "").split(",") if c.strip()]
    for c in cidrs:
        try:
            ipaddress.ip_network(c, strict=True)
        except ValueError as e:
            raise MappingError("label master_lb_allowed_cidrs: %s is not a network address "
                               "in CIDR notation (%s)" % (c, e))
    return cidrs


# --- validation ----------------------------------------------------------------------

def validate_cluster(v):
    """Refuses what kubeseed cannot build, before anything is made. v: fixed_network,
    fixed_subnet, network_driver, external_network_id, floating_ip_enabled, master_count,
    labels. Returns the labels this driver ignores, for a log line."""
    labels = v.get("labels") or {}
    if not v.get("fixed_network"):
        raise MappingError("fixed_network is required: kubeseed puts the workers and the "
                           "API load balancer on the cluster's own network")
    if not v.get("fixed_subnet"):
        raise MappingError("fixed_subnet is required: the API load balancer's VIP and the "
                           "workers' ports are made on it")
    if v.get("network_driver") not in NETWORK_DRIVERS:
        raise MappingError("network_driver %s is not supported: kubeseed runs flannel "
                           "(set flannel or leave it unset)" % v["network_driver"])
    if not labels.get("kube_tag"):
        raise MappingError("label kube_tag is required: it is the Kubernetes version, "
                           "for example v1.36.3")
    masters = v.get("master_count") or 1
    if not 1 <= masters <= 5:
        raise MappingError("master_count %s: kubeseed runs 1 to 5 replicas of each "
                           "control-plane component" % masters)
    if labels.get("etcd_volume_size"):
        _int(labels["etcd_volume_size"], "label etcd_volume_size", 1)
    allowed_cidrs(labels.get("master_lb_allowed_cidrs"))
    if floating_ip(v) and not v.get("external_network_id"):
        raise MappingError("external_network_id is required: the API gets a floating IP "
                           "(master_lb_floating_ip_enabled / floating_ip_enabled)")
    for b in ("auto_healing_enabled", "auto_scaling_enabled"):
        parse_bool(labels.get(b), False, "label " + b)
    return sorted(set(labels) - MAPPED_LABELS)


def floating_ip(v):
    labels = v.get("labels") or {}
    return parse_bool(labels.get("master_lb_floating_ip_enabled"),
                      bool(v.get("floating_ip_enabled")), "label master_lb_floating_ip_enabled")


def validate_upgrade(current, target):
    """Refuses a downgrade or a skipped minor, naming both versions; True if nothing
    changes (a nodegroup brought to its cluster's template)."""
    c = parse_version(current, "the running version")
    t = parse_version(target)
    if t < c:
        raise MappingError("upgrading from %s to %s would be a downgrade: kubeseed never "
                           "lowers a cluster's Kubernetes version" % (current, target))
    if t[0] != c[0] or t[1] > c[1] + 1:
        raise MappingError("upgrading from %s to %s skips a minor version: upgrade one minor "
                           "at a time (to v%d.%d.x first)" % (current, target, c[0], c[1] + 1))
    return t == c


# --- manifests -----------------------------------------------------------------------

def _meta(name, namespace, cluster_uuid, magnum_name, now, extra_labels=None):
    labels = {CLUSTER_LABEL: cluster_uuid}
    labels.update(extra_labels or {})
    return {"name": name, "namespace": namespace, "labels": labels,
            "annotations": {NAME_ANNOTATION: str(magnum_name or "")[:253],
                            STARTED_ANNOTATION: format_time(now)}}


def tenant_cluster_manifest(c, now):
    """c: uuid, name, namespace, tc_name, master_count, labels, subnet_id,
    external_network_id, floating_ip_enabled (IDs resolved), cas (the CA fields Magnum
    has: all three on 15.0.1)."""
    labels = c.get("labels") or {}
    masters = int(c.get("master_count") or 1)
    etcd = {"replicas": 1 if masters == 1 else 3}
    if labels.get("etcd_volume_size"):
        etcd["storage"] = {"size": "%dGi" % _int(labels["etcd_volume_size"],
                                                 "label etcd_volume_size", 1)}
    names = secret_names(c["tc_name"])
    cloud = {"credentialsSecretRef": {"name": names["cloud"]}, "subnetID": c["subnet_id"]}
    if floating_ip(c):
        cloud["floatingNetworkID"] = c["external_network_id"]
    octavia = {}
    cidrs = allowed_cidrs(labels.get("master_lb_allowed_cidrs"))
    if cidrs:
        octavia["allowedCIDRs"] = cidrs
    network = {"cni": "flannel"}
    for label, field in (("flannel_network_cidr", "podCIDR"),
                         ("service_cluster_ip_range", "serviceCIDR"),
                         ("dns_cluster_domain", "dnsDomain")):
        if labels.get(label):
            network[field] = labels[label].strip()
    return {
        "apiVersion": API_VERSION, "kind": "TenantCluster",
        "metadata": _meta(c["tc_name"], c["namespace"], c["uuid"], c.get("name"), now),
        "spec": {
            "version": normalize_version(labels.get("kube_tag")),
            "controlPlane": {"apiServer": {"replicas": masters},
                             "controllerManager": {"replicas": masters},
                             "scheduler": {"replicas": masters}, "etcd": etcd},
            "network": network,
            "cloud": cloud,
            "endpoint": {"type": "Octavia", "octavia": octavia},
            "certificateAuthorities": {k: {"name": names[k]} for k in c.get(
                "cas", ("cluster", "etcd", "frontProxy"))},
        },
    }


def autoscaling_bounds(ng, default_max=None):
    """(min, max) of a nodegroup with label auto_scaling_enabled, else None: its
    min_node_count and max_node_count, else the labels of those names, else for the
    maximum default_max, else node_count + 1 (as Magnum's Heat driver reads them)."""
    labels = ng.get("labels") or {}
    if not parse_bool(labels.get("auto_scaling_enabled"), False, "label auto_scaling_enabled"):
        return None
    lo = ng.get("min_node_count")
    if lo is None:
        lo = _int(labels.get("min_node_count") or 0, "label min_node_count")
    hi = ng.get("max_node_count")
    if hi is None:
        if labels.get("max_node_count"):
            hi = _int(labels["max_node_count"], "label max_node_count", 1)
        else:
            hi = default_max if default_max is not None else int(ng.get("node_count") or 0) + 1
    lo, hi = int(lo), int(hi)
    if hi < 1 or lo > hi:
        raise MappingError("nodegroup %s: min_node_count %d and max_node_count %d: the "
                           "maximum must be at least 1 and not below the minimum"
                           % (ng.get("name"), lo, hi))
    return lo, hi


def autoscaling(ng):
    """spec.autoscaling from auto_scaling_enabled and the nodegroup's bounds, or None; the
    nodegroup's node_count must lie within them."""
    bounds = autoscaling_bounds(ng)
    if bounds is None:
        return None
    lo, hi = bounds
    count = int(ng.get("node_count") or 0)
    if not lo <= count <= hi:
        raise MappingError("nodegroup %s: node_count %d must lie within min_node_count %s "
                           "and max_node_count %s" % (ng.get("name"), count, lo, hi))
    return {"minReplicas": lo, "maxReplicas": hi}


def resize_replicas(pool, node_count, ng_name):
    """spec.replicas for a resize (or cluster update) of the nodegroup behind pool to
    node_count. An autoscaled pool (spec.autoscaling) is sized by kubeseed's autoscaler
    within its bounds: a resize inside them sets the size (the autoscaler may move it again,
    as cluster-autoscaler does on Heat's clusters); one outside them is refused, naming the
    bounds, rather than left to the API's refusal or to a fight with the autoscaler."""
    n = int(node_count)
    scaling = (pool.get("spec") or {}).get("autoscaling")
    if scaling and not int(scaling["minReplicas"]) <= n <= int(scaling["maxReplicas"]):
        lo, hi = int(scaling["minReplicas"]), int(scaling["maxReplicas"])
        raise MappingError(
            "nodegroup %s is autoscaled (label auto_scaling_enabled): node_count %d lies outside "
            "its min_node_count %d and max_node_count %d, within which kubeseed's autoscaler "
            "sizes WorkerPool %s; resize within them, or change them first (openstack coe "
            "nodegroup update <cluster> %s replace %s=%d)" % (
                ng_name, n, lo, hi, pool["metadata"]["name"], ng_name,
                "max_node_count" if n > hi else "min_node_count", n))
    return n


def rebound(ng, pool):
    """The spec patch of a nodegroup update, where Magnum changes min_node_count and
    max_node_count: spec.autoscaling from them (null when the nodegroup is not autoscaled,
    and then spec.replicas stays), and spec.replicas as the autoscaler left it — not
    Magnum's node_count, which may lag behind it — brought within the new bounds (the API
    refuses a size outside them). A maximum given nowhere keeps the pool's."""
    spec = pool.get("spec") or {}
    current = int(spec.get("replicas", ng.get("node_count") or 0))
    keep = (spec.get("autoscaling") or {}).get("maxReplicas")
    bounds = autoscaling_bounds(dict(ng, node_count=current), keep)
    if bounds is None:
        return {"autoscaling": None}
    lo, hi = bounds
    return {"autoscaling": {"minReplicas": lo, "maxReplicas": hi},
            "replicas": min(max(current, lo), hi)}


def worker_pool_manifest(c, ng, now):
    """c: uuid, namespace, tc_name, version, network_id, subnet_id, keypair;
    ng: uuid, name, node_count, flavor_id, image_id, labels, min/max_node_count."""
    labels = ng.get("labels") or {}
    if not ng.get("flavor_id") or not ng.get("image_id"):
        raise MappingError("nodegroup %s needs a flavor_id and an image_id" % ng.get("name"))
    spec = {"clusterName": c["tc_name"], "version": c["version"],
            "replicas": int(ng.get("node_count") or 0), "flavor": ng["flavor_id"],
            "image": ng["image_id"], "networkID": c["network_id"], "subnetID": c["subnet_id"]}
    if c.get("keypair"):
        spec["sshKeyName"] = c["keypair"]
    if labels.get("availability_zone"):
        spec["availabilityZones"] = [labels["availability_zone"].strip()]
    if not parse_bool(labels.get("auto_healing_enabled"), True, "label auto_healing_enabled"):
        spec["healthCheck"] = {"nodeStartupTimeout": "0s", "unhealthyTimeout": "0s"}
    scaling = autoscaling(ng)
    if scaling:
        spec["autoscaling"] = scaling
    name = worker_pool_name(c["tc_name"], ng.get("name"), ng["uuid"])
    return {"apiVersion": API_VERSION, "kind": "WorkerPool",
            "metadata": _meta(name, c["namespace"], c["uuid"], ng.get("name"), now,
                              {NODEGROUP_LABEL: ng["uuid"]}),
            "spec": spec}


def explain_refusal(kind, name, message, values=None):
    """The API's refusal of a TenantCluster or WorkerPool, prefixed with the Magnum fields
    its message names (and their values), e.g. "label kube_tag=v1.12.7: ..."."""
    named = []
    for path, source in FIELD_SOURCES:
        if path in (message or "") and source not in named:
            named.append(source)
    shown = ["%s=%s" % (s, (values or {})[s]) if (values or {}).get(s) is not None else s
             for s in named]
    prefix = ", ".join(shown) + ": " if shown else ""
    return "%skubeseed refused %s %s: %s" % (prefix, kind, name, message)
