"""magnum.conf options of the driver, group [kubeseed].

Registered on oslo.config's global CONF (Magnum's) when this module is imported. Importing
it twice (tests, a reloaded driver) must not fail, so registration is guarded.
"""

from oslo_config import cfg

GROUP = "kubeseed"

kubeseed_group = cfg.OptGroup(
    name=GROUP, title="kubeseed driver",
    help="The seed cluster that runs kubeseed-manager, as Magnum's kubeseed driver "
         "reaches it.")

kubeseed_opts = [
    cfg.StrOpt("kubeconfig",
               help="Path of a kubeconfig for the seed, bound to the ServiceAccount "
                    "kubeseed-magnum (chart value magnum.enabled=true). Read at every "
                    "call, so it may be written or rotated while Magnum runs."),
    cfg.StrOpt("namespace_prefix", default="magnum-",
               help="Prefix of the seed namespace of each OpenStack project: "
                    "<prefix><project_id>. Must equal the chart's "
                    "magnum.namespacePrefix."),
    cfg.StrOpt("operator_namespace", default="kubeseed-system",
               help="Namespace of the kubeseed release, where the ServiceAccount "
                    "kubeseed-magnum lives."),
    cfg.StrOpt("auth_url", default="",
               help="Keystone URL written into the clouds.yaml kubeseed uses for a "
                    "cluster's project. Empty: [keystone_authtoken] "
                    "www_authenticate_uri (or auth_uri), as Magnum itself uses. It must "
                    "be one of the seed's manager.allowedAuthURLs."),
    cfg.StrOpt("region_name", default="",
               help="Region written into that clouds.yaml. Empty: "
                    "[trust] trustee_keystone_region_name, else the only region."),
    cfg.StrOpt("interface", default="public",
               choices=["public", "internal", "admin"],
               help="Endpoint interface kubeseed uses in the customer's cloud."),
    cfg.IntOpt("request_timeout", default=10, min=1,
               help="Seconds every call to the seed (and to a tenant) may take."),
]

_registered = False


def register_opts(conf=cfg.CONF):
    global _registered
    if _registered and conf is cfg.CONF:
        return
    conf.register_group(kubeseed_group)
    try:
        conf.register_opts(kubeseed_opts, group=kubeseed_group)
    except cfg.DuplicateOptError:
        pass  # same names registered by an earlier copy of this module
    if conf is cfg.CONF:
        _registered = True


def list_opts():
    """For oslo-config-generator (entry point oslo.config.opts)."""
    return [(kubeseed_group, kubeseed_opts)]


register_opts()
CONF = cfg.CONF
