"""What the driver takes from Magnum and OpenStack: the cluster's CAs, its trust as a
clouds.yaml, Neutron IDs, Nova server names and addresses, and Magnum's clean-up of a
deleted cluster. Everything that needs magnum's modules and is not a driver method.
"""

import re

from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import encodeutils
from oslo_utils import uuidutils
import yaml

from magnum.common import cert_manager as cert_backend
from magnum.common import clients
from magnum.common import context as mag_ctx
from magnum.common import exception
from magnum.common import keystone
from magnum.common import neutron
from magnum.conductor.handlers.common import cert_manager
from magnum.conductor.handlers.common import trust_manager

from kubeseed_magnum import conf as ks_conf

ks_conf.register_opts()  # [kubeseed] exists before anything reads it
CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# (TenantCluster.spec.certificateAuthorities key, Magnum's ca_cert_type, ref attribute)
CAS = (("cluster", None, "ca_cert_ref"), ("etcd", "etcd", "etcd_ca_cert_ref"),
       ("frontProxy", "front_proxy", "front_proxy_ca_cert_ref"))
CLOUD_NAME = "openstack"


def magnum_error(message, cls=None, **kwargs):
    """A Magnum exception (deserialisable by Magnum's API) with message as is: Magnum
    formats messages with %, so a literal % (say "40%") is escaped."""
    cls = cls or exception.MagnumException
    return cls(message=str(message).replace("%", "%%"), **kwargs)


def cluster_values(cluster):
    """The cluster's fields and template the driver maps, as plain values."""
    ct = cluster.cluster_template
    return {"fixed_network": cluster.fixed_network or ct.fixed_network,
            "fixed_subnet": cluster.fixed_subnet or ct.fixed_subnet,
            "network_driver": ct.network_driver,
            "external_network_id": ct.external_network_id,
            "floating_ip_enabled": cluster.floating_ip_enabled,
            "master_count": cluster.master_count, "keypair": cluster.keypair,
            "labels": dict(cluster.labels or {})}


def nodegroup_values(ng):
    return {"uuid": ng.uuid, "name": ng.name, "node_count": ng.node_count,
            "flavor_id": ng.flavor_id, "image_id": ng.image_id, "labels": ng.labels or {},
            "min_node_count": ng.min_node_count, "max_node_count": ng.max_node_count}


def shown(values, ng=None):
    """Magnum's values, under the names explain_refusal gives them."""
    labels = values.get("labels") or {}
    out = {"label " + k: v for k, v in labels.items()}
    out.update({k: values.get(k) for k in ("master_count", "fixed_subnet", "fixed_network",
                                           "external_network_id", "keypair")})
    if ng is not None:
        out.update({k: getattr(ng, k) for k in ("flavor_id", "image_id", "node_count")})
    return out


def ca_secrets(context, cluster):
    """{field: {tls.crt, tls.key}} of the CAs the conductor made before calling the
    driver: the cluster CA, and on 15.0.1 an etcd and a front-proxy CA too (a cluster made
    by an older Magnum may lack those: kubeseed then makes them)."""
    out = {}
    for field, ca_type, ref in CAS:
        if not getattr(cluster, ref, None):
            continue
        ca = cert_manager.get_cluster_ca_certificate(cluster, context=context,
                                                     ca_cert_type=ca_type)
        out[field] = {
            "tls.crt": encodeutils.safe_decode(ca.get_certificate()),
            "tls.key": encodeutils.safe_decode(ca.get_decrypted_private_key()),
        }
    if "cluster" not in out:
        raise magnum_error("cluster %s has no CA (ca_cert_ref): Magnum did not make its "
                           "certificates" % cluster.uuid)
    return out


def clouds_yaml(cluster):
    """The Secret data kubeseed acts in the customer's project with: Magnum's trustee,
    scoped by the cluster's trust (impersonating the user who made the cluster)."""
    if not (cluster.trust_id and cluster.trustee_user_id and cluster.trustee_password):
        raise magnum_error("cluster %s has no trust: Magnum did not create its trustee"
                           % cluster.uuid)
    auth_url = CONF.kubeseed.auth_url or _magnum_auth_url()
    if not auth_url:
        raise magnum_error("no Keystone URL for kubeseed: set [kubeseed] auth_url or "
                           "[keystone_authtoken] www_authenticate_uri in magnum.conf")
    entry = {"auth_type": "password",
             "auth": {"auth_url": auth_url, "user_id": cluster.trustee_user_id,
                      "password": cluster.trustee_password, "trust_id": cluster.trust_id},
             "interface": CONF.kubeseed.interface}
    region = CONF.kubeseed.region_name or CONF.trust.trustee_keystone_region_name
    if region:
        entry["region_name"] = region
    data = {"clouds.yaml": yaml.safe_dump({"clouds": {CLOUD_NAME: entry}},
                                          default_flow_style=False),
            "cloud": CLOUD_NAME}
    ca_file = CONF.drivers.openstack_ca_file
    if ca_file:
        with open(ca_file) as f:  # kubeseed never reads files: the bundle goes inline
            data["cacert"] = f.read()
    return data


def _magnum_auth_url():
    """The Keystone URL Magnum gives its trustees ([keystone_authtoken])."""
    try:
        return keystone.KeystoneClientV3(None).auth_url
    except Exception:  # the group is not registered: [kubeseed] auth_url must say
        return None


def resolve_network(context, network, subnet):
    """(network ID, subnet ID) from names or IDs, checking the subnet is on the network."""
    if uuidutils.is_uuid_like(network):
        net_id = network
    else:
        net_id = neutron.get_network(context, network, source="name", target="id",
                                     external=False)
    sub_id = neutron.get_fixed_subnet_id(context, subnet)
    on = neutron.get_subnet(context, sub_id, source="id", target="network_id")
    if on != net_id:
        raise magnum_error("fixed_subnet %s is not on fixed_network %s" % (subnet, network),
                           exception.InvalidParameterValue)
    return net_id.lower(), sub_id.lower()


def external_network_id(context, network):
    return neutron.get_external_network_id(context, network).lower()


def _pool_servers(nova, namespace, pool):
    """The pool's Nova servers: named <pool>-<n>, with kubeseed's metadata."""
    found = nova.servers.list(search_opts={"name": "^%s-[0-9]+$" % re.escape(pool)})
    return [s for s in found if re.match("^%s-[0-9]+$" % re.escape(pool), s.name) and
            (getattr(s, "metadata", None) or {}).get("kubeseed-worker-pool") ==
            "%s/%s" % (namespace, pool)]


def server_names(context, pool, wanted):
    """Node names of nodes_to_remove (server names or IDs): a Node is named as its
    server. The WorkerPool's status lists no servers, so IDs are asked of Nova."""
    names, nova = [], None
    for w in wanted or []:
        name = w
        if uuidutils.is_uuid_like(w):
            nova = nova or clients.OpenStackClients(context).nova()
            name = nova.servers.get(w).name
        if not re.match("^%s-[0-9]+$" % re.escape(pool), name or ""):
            raise magnum_error("nodes_to_remove: server %s is not a node of WorkerPool %s "
                               "(its servers are named %s-<n>)" % (w, pool, pool),
                               exception.InvalidParameterValue)
        names.append(name)
    return names


def node_addresses(cluster, namespace, pool):
    """Fixed IPs of the pool's servers, by server name; None when Nova cannot say."""
    try:
        nova = clients.OpenStackClients(mag_ctx.make_cluster_context(cluster)).nova()
        out = []
        for s in sorted(_pool_servers(nova, namespace, pool), key=lambda s: s.name):
            fixed = [a["addr"] for addrs in (s.addresses or {}).values() for a in addrs
                     if a.get("OS-EXT-IPS:type", "fixed") == "fixed"]
            out += fixed[:1]
        return out
    except Exception as e:  # addresses are informative; never fail a poll on them
        LOG.warning("cluster %s: cannot list the servers of WorkerPool %s in Nova: %s",
                    cluster.uuid, pool, e)
        return None


def delete_magnum_credentials(context, cluster):
    """What Magnum's Heat driver does once a cluster's stack is gone (15.0.1's
    HeatPoller._delete_complete): the trustee and trust, the CA and client certificates,
    the cached client files; also the etcd and front-proxy CAs, which 15.0.1 leaks."""
    try:
        osc = clients.OpenStackClients(context)
        trust_manager.delete_trustee_and_trust(osc, context, cluster)
        cert_manager.delete_certificates_from_cluster(cluster, context=context)
        for ref in ("etcd_ca_cert_ref", "front_proxy_ca_cert_ref"):
            if getattr(cluster, ref, None):
                try:
                    cert_backend.get_backend().CertManager.delete_cert(
                        getattr(cluster, ref), resource_ref=cluster.uuid, context=context)
                except Exception:
                    LOG.warning("cluster %s: deleting %s failed", cluster.uuid, ref)
        cert_manager.delete_client_files(cluster, context=context)
    except exception.ClusterNotFound:
        LOG.info("The cluster %s has been deleted by others.", cluster.uuid)
