"""The seed, as the ServiceAccount kubeseed-magnum reaches it.

Every call carries [kubeseed] request_timeout; every failure becomes a SeedError whose
message names the object and the operation, so that a Magnum status_reason says what went
wrong where. The kubernetes client is imported lazily: Magnum instantiates every driver at
start-up, and this one must load even where python3-kubernetes is missing.
"""

import json
import logging
import shutil
import tempfile
import time

import yaml

from kubeseed_magnum import mapping

LOG = logging.getLogger(__name__)

PLURALS = {"TenantCluster": "tenantclusters", "WorkerPool": "workerpools"}
ROLEBINDING = "kubeseed-magnum"
CUSTOMER_ROLE = "kubeseed-customer"
SERVICE_ACCOUNT = "kubeseed-magnum"
RBAC_WAIT_SECONDS = 5.0  # how long a fresh RoleBinding may take to be authorised


class SeedError(Exception):
    """A call to the seed (or a tenant) failed; status is the HTTP status, if any."""

    def __init__(self, message, status=None, reason=""):
        super(SeedError, self).__init__(message)
        self.status = status
        self.reason = reason  # the API's own message, without what= prefix


def _api_message(e):
    try:
        body = json.loads(e.body or "{}")
        return body.get("message") or e.reason
    except (TypeError, ValueError):
        return (e.body or e.reason or str(e)).strip()[:500]


class Seed(object):
    def __init__(self, conf):
        self.conf = conf
        self._api = None

    # --- plumbing --------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._api is not None:
            try:
                self._api.close()
            except Exception:  # closing never matters more than the answer
                pass
            self._api = None

    @property
    def api(self):
        if self._api is None:
            path = self.conf.kubeconfig
            if not path:
                raise SeedError("the seed is not configured: set [kubeseed] kubeconfig in "
                                "magnum.conf (a kubeconfig of ServiceAccount kubeseed-magnum)")
            from kubernetes import config
            try:
                self._api = config.new_client_from_config(config_file=path,
                                                          persist_config=False)
            except Exception as e:
                raise SeedError("cannot load the seed's kubeconfig %s ([kubeseed] "
                                "kubeconfig): %s" % (path, e))
        return self._api

    def _call(self, what, fn, *args, **kwargs):
        from kubernetes.client.rest import ApiException
        kwargs["_request_timeout"] = self.conf.request_timeout
        try:
            return fn(*args, **kwargs)
        except ApiException as e:
            msg = _api_message(e)
            raise SeedError("%s: %s (HTTP %s)" % (what, msg, e.status), e.status, msg)
        except Exception as e:  # connection refused, timeouts, TLS
            raise SeedError("%s: no answer: %s" % (what, e))

    def _core(self):
        from kubernetes import client
        return client.CoreV1Api(self.api)

    def _custom(self):
        from kubernetes import client
        return client.CustomObjectsApi(self.api)

    def _dict(self, obj, kind):
        d = self.api.sanitize_for_serialization(obj)
        d.setdefault("kind", kind)
        return d

    # --- namespace and the RoleBinding -----------------------------------------------

    def ensure_namespace(self, namespace, project_id):
        """The project's namespace and Magnum's binding to kubeseed-customer in it."""
        core = self._core()
        project = mapping.namespace_name("", project_id)[:63]
        try:
            ns = self._call("reading namespace %s" % namespace, core.read_namespace, namespace)
            if ns.metadata.deletion_timestamp:
                raise SeedError("namespace %s is being deleted (its last cluster went "
                                "away); create the cluster again in a minute" % namespace)
            found = (ns.metadata.labels or {}).get(mapping.PROJECT_LABEL)
            if found != project:
                raise SeedError(
                    "namespace %s exists but is not OpenStack project %s's: its label %s is "
                    "%s; the driver does not adopt it (check [kubeseed] namespace_prefix, or "
                    "remove the namespace)" % (namespace, project_id, mapping.PROJECT_LABEL,
                                               repr(found) if found else "missing"), 409)
        except SeedError as e:
            if e.status != 404:
                raise
            body = {"metadata": {"name": namespace, "labels": {
                mapping.PROJECT_LABEL: project,
                "app.kubernetes.io/managed-by": "magnum"}}}
            self._ignore(409, "creating namespace %s" % namespace,
                         core.create_namespace, body)
        from kubernetes import client
        rbac = client.RbacAuthorizationV1Api(self.api)
        try:
            self._call("reading RoleBinding %s/%s" % (namespace, ROLEBINDING),
                       rbac.read_namespaced_role_binding, ROLEBINDING, namespace)
            return
        except SeedError as e:
            if e.status != 404:
                raise
        body = {"metadata": {"name": ROLEBINDING, "namespace": namespace,
                             "labels": {"app.kubernetes.io/managed-by": "magnum"}},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": CUSTOMER_ROLE},
                "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT,
                              "namespace": self.conf.operator_namespace}]}
        self._ignore(409, "binding %s to %s in %s" % (SERVICE_ACCOUNT, CUSTOMER_ROLE, namespace),
                     rbac.create_namespaced_role_binding, namespace, body)
        # RBAC is eventually consistent: wait, briefly, until the binding authorises us.
        deadline = time.monotonic() + RBAC_WAIT_SECONDS
        while True:
            try:
                self._call("listing Secrets in %s" % namespace,
                           core.list_namespaced_secret, namespace, limit=1)
                return
            except SeedError as e:
                if e.status != 403 or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _ignore(self, status, what, fn, *args, **kwargs):
        try:
            return self._call(what, fn, *args, **kwargs)
        except SeedError as e:
            if e.status != status:
                raise
            return None

    def namespace_exists(self, namespace):
        try:
            self._call("reading namespace %s" % namespace, self._core().read_namespace,
                       namespace)
            return True
        except SeedError as e:
            if e.status == 404:
                return False
            raise

    def namespace_unused(self, namespace):
        """True when no TenantCluster, WorkerPool or Secret is left in namespace."""
        for plural in PLURALS.values():
            got = self._call("listing %s in %s" % (plural, namespace),
                             self._custom().list_namespaced_custom_object, mapping.GROUP,
                             mapping.VERSION, namespace, plural, limit=1)
            if got.get("items"):
                return False
        got = self._call("listing Secrets in %s" % namespace,
                         self._core().list_namespaced_secret, namespace, limit=1)
        return not got.items

    def delete_namespace(self, namespace):
        self._ignore(404, "deleting namespace %s" % namespace,
                     self._core().delete_namespace, namespace)

    # --- Secrets ---------------------------------------------------------------------

    def apply_secret(self, namespace, name, data, cluster_uuid, secret_type="Opaque"):
        """Creates or updates a Secret the driver owns (string data), labelled with the
        cluster; one of that name owned by another cluster is an error, never adopted."""
        core = self._core()
        what = "Secret %s/%s" % (namespace, name)
        body = {"metadata": {"name": name, "namespace": namespace,
                             "labels": {mapping.CLUSTER_LABEL: cluster_uuid}},
                "type": secret_type, "stringData": data}
        try:
            cur = self._call("reading " + what, core.read_namespaced_secret, name, namespace)
        except SeedError as e:
            if e.status != 404:
                raise
            return self._call("creating " + what, core.create_namespaced_secret, namespace,
                              body)
        owner = (cur.metadata.labels or {}).get(mapping.CLUSTER_LABEL)
        if owner != cluster_uuid:
            raise SeedError("%s exists and belongs to %s, not to cluster %s" % (
                what, owner or "no Magnum cluster", cluster_uuid), 409)
        return self._call("updating " + what, core.patch_namespaced_secret, name, namespace,
                          {"stringData": data})

    def list_secrets(self, namespace, cluster_uuid):
        got = self._call("listing Secrets of cluster %s in %s" % (cluster_uuid, namespace),
                         self._core().list_namespaced_secret, namespace,
                         label_selector="%s=%s" % (mapping.CLUSTER_LABEL, cluster_uuid))
        return [self._dict(s, "Secret") for s in got.items]

    def stamp_secret(self, namespace, name, metadata):
        self._ignore(404, "updating Secret %s/%s" % (namespace, name),
                     self._core().patch_namespaced_secret, name, namespace,
                     {"metadata": metadata})

    def delete_secret(self, namespace, name):
        self._ignore(404, "deleting Secret %s/%s" % (namespace, name),
                     self._core().delete_namespaced_secret, name, namespace)

    def read_secret(self, namespace, name):
        import base64
        s = self._call("reading Secret %s/%s" % (namespace, name),
                       self._core().read_namespaced_secret, name, namespace)
        return {k: base64.b64decode(v).decode("utf-8") for k, v in (s.data or {}).items()}

    # --- TenantClusters and WorkerPools ----------------------------------------------

    def get(self, kind, namespace, name):
        try:
            return self._call("reading %s %s/%s" % (kind, namespace, name),
                              self._custom().get_namespaced_custom_object, mapping.GROUP,
                              mapping.VERSION, namespace, PLURALS[kind], name)
        except SeedError as e:
            if e.status == 404:
                return None
            raise

    def list(self, kind, namespace, selector):
        got = self._call("listing %ss (%s) in %s" % (kind, selector, namespace),
                         self._custom().list_namespaced_custom_object, mapping.GROUP,
                         mapping.VERSION, namespace, PLURALS[kind], label_selector=selector)
        items = got.get("items") or []
        for i in items:
            i.setdefault("kind", kind)
        return items

    def apply(self, obj):
        """Creates obj, or brings an existing one of the same cluster to its labels,
        annotations and spec (a retried create)."""
        kind, meta = obj["kind"], obj["metadata"]
        what = "%s %s/%s" % (kind, meta["namespace"], meta["name"])
        cur = self.get(kind, meta["namespace"], meta["name"])
        if cur is None:
            return self._call("creating " + what, self._custom().create_namespaced_custom_object,
                              mapping.GROUP, mapping.VERSION, meta["namespace"],
                              PLURALS[kind], obj)
        labels = cur["metadata"].get("labels") or {}
        owner = labels.get(mapping.CLUSTER_LABEL)
        if owner != meta["labels"][mapping.CLUSTER_LABEL]:
            raise SeedError("%s exists and belongs to %s, not to cluster %s" % (
                what, owner or "no Magnum cluster", meta["labels"][mapping.CLUSTER_LABEL]), 409)
        if kind == "WorkerPool":
            # Pool names are cut: two nodegroups of one cluster may collide. Never take
            # over (patch, relabel) another nodegroup's pool.
            ng, want = labels.get(mapping.NODEGROUP_LABEL), meta["labels"].get(
                mapping.NODEGROUP_LABEL)
            if ng != want:
                raise SeedError("%s exists and belongs to nodegroup %s, not to nodegroup %s" % (
                    what, ng or "(none)", want), 409)
        return self.patch(kind, meta["namespace"], meta["name"], {
            "metadata": {"labels": meta["labels"], "annotations": meta["annotations"]},
            "spec": obj["spec"]})

    def patch(self, kind, namespace, name, patch):
        """A JSON merge patch (null removes a field)."""
        return self._call("updating %s %s/%s" % (kind, namespace, name),
                          self._custom().patch_namespaced_custom_object, mapping.GROUP,
                          mapping.VERSION, namespace, PLURALS[kind], name, patch)

    def delete(self, kind, namespace, name):
        self._ignore(404, "deleting %s %s/%s" % (kind, namespace, name),
                     self._custom().delete_namespaced_custom_object, mapping.GROUP,
                     mapping.VERSION, namespace, PLURALS[kind], name)

    # --- inside the tenant -----------------------------------------------------------

    def annotate_tenant_nodes(self, kubeconfig, nodes, annotations):
        """Annotates Nodes of a tenant through its admin kubeconfig; returns the names
        that have no Node (servers that never joined)."""
        from kubernetes import client, config
        # The client writes the admin key (client-key-data) to files: into a directory
        # only this user reads (mkdtemp: 0700), removed when done.
        private = tempfile.mkdtemp(prefix="kubeseed-magnum-")
        try:
            kc = _inline_only(yaml.safe_load(kubeconfig))
            tenant = config.new_client_from_config_dict(config_dict=kc, persist_config=False,
                                                        temp_file_path=private)
        except Exception as e:
            _remove_private(private)
            raise SeedError("cannot use the tenant's admin kubeconfig: %s" % e)
        server = kc["clusters"][0]["cluster"].get("server")
        missing = []
        try:
            core = client.CoreV1Api(tenant)
            for node in nodes:
                try:
                    self._call("annotating Node %s through the tenant's API at %s (Magnum's "
                               "conductor must reach it)" % (node, server), core.patch_node,
                               node, {"metadata": {"annotations": annotations}})
                except SeedError as e:
                    if e.status != 404:
                        raise
                    missing.append(node)
        finally:
            tenant.close()
            _remove_private(private)
        return missing


def _remove_private(path):
    """Removes the directory of the tenant's key files, and forgets them in the client's
    cache of temp files (which would hand the removed names out again)."""
    shutil.rmtree(path, ignore_errors=True)
    try:
        from kubernetes.config import kube_config
        cache = kube_config._temp_files
        for k in [k for k, v in cache.items() if v.startswith(path + "/")]:
            del cache[k]
    except Exception:  # the cache is the client's business; a stale entry only costs
        pass


def _inline_only(kc):
    """The kubeconfig's current context with inline credentials only: no file, exec
    plugin, auth provider or proxy is ever used, whatever the Secret says."""
    ctx_name = kc.get("current-context")
    ctx = next((c["context"] for c in kc.get("contexts") or [] if c.get("name") == ctx_name),
               None) or (kc.get("contexts") or [{}])[0].get("context") or {}
    cluster = next((c["cluster"] for c in kc.get("clusters") or []
                    if c.get("name") == ctx.get("cluster")), {})
    user = next((u["user"] for u in kc.get("users") or []
                 if u.get("name") == ctx.get("user")), {})
    return {"apiVersion": "v1", "kind": "Config", "current-context": "tenant",
            "clusters": [{"name": "tenant", "cluster": {k: cluster[k] for k in (
                "server", "certificate-authority-data") if k in cluster}}],
            "users": [{"name": "admin", "user": {k: user[k] for k in (
                "client-certificate-data", "client-key-data", "token") if k in user}}],
            "contexts": [{"name": "tenant", "context": {"cluster": "tenant", "user": "admin"}}]}
