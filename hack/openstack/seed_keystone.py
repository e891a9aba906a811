"""Seeds Keystone for kubeseed's OpenStack test cloud, in one process (the openstack CLI
would cost 1.5-2 s of start-up per call): service project and users, the catalog, the
customer project with its user, roles and application credential, Magnum's trustee domain;
then writes clouds.yaml.

Idempotent: finds before it creates. Run by hack/openstack/up.sh with /usr/bin/python3;
input from the environment (see main).
"""

import json
import os
import sys
import time

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

SERVICE_USERS = ["glance", "placement", "nova", "neutron", "octavia", "magnum", "swift"]
# type, name, port, path after host:port (Keystone puts the token's project ID for %(project_id)s)
CATALOG = [
    ("image", "glance", 9292, ""),
    ("placement", "placement", 8778, ""),
    ("compute", "nova", 8774, "/v2.1"),
    ("network", "neutron", 9696, ""),
    ("load-balancer", "octavia", 9876, ""),
    ("container-infra", "magnum", 9511, "/v1"),
    ("object-store", "swift", 8080, "/v1/AUTH_%(project_id)s"),
]
# Magnum's conductor makes a trustee user per cluster in this domain, as its domain admin
# (magnum.conf [trust], hack/openstack/magnum.sh).
MAGNUM_DOMAIN, MAGNUM_DOMAIN_ADMIN = "magnum", "magnum_domain_admin"
# What a customer needs: member for Nova/Neutron and Swift (an operator role of the proxy's
# keystoneauth, hack/openstack/swift.sh), load-balancer_member for Octavia's default policy
# (member_and_owner = role:load-balancer_member and role:member).
CUSTOMER_ROLES = ["member", "load-balancer_member"]
APP_CRED = "kubeseed-test"


def log(msg):
    print("openstack: seed keystone: " + msg, file=sys.stderr, flush=True)


def find_or_create(manager, name, create, **filters):
    found = [x for x in manager.list(**filters) if x.name == name]
    return found[0] if found else create()


def main():
    e = os.environ
    url, region = e["KEYSTONE_URL"], e["REGION"]
    admin_pw, service_pw, customer_pw = e["ADMIN_PASSWORD"], e["SERVICE_PASSWORD"], e["CUSTOMER_PASSWORD"]
    clouds_path, ids_path = e["CLOUDS_YAML"], e["KEYSTONE_IDS"]

    auth = v3.Password(auth_url=url, username="admin", password=admin_pw, project_name="admin",
                       user_domain_id="default", project_domain_id="default")
    ks = client.Client(session=session.Session(auth=auth), interface="public")

    roles = {r.name: r for r in ks.roles.list()}
    for name in ["admin", "member", "reader", "service", "load-balancer_member"]:
        if name not in roles:
            roles[name] = ks.roles.create(name)

    service_project = find_or_create(ks.projects, "service",
                                     lambda: ks.projects.create("service", "default", description="OpenStack services"),
                                     domain="default")
    for name in SERVICE_USERS:
        user = find_or_create(ks.users, name, lambda: ks.users.create(name, domain="default", password=service_pw),
                              domain="default")
        for role in ("admin", "service"):
            ks.roles.grant(roles[role], user=user, project=service_project)

    services = {s.type: s for s in ks.services.list()}
    endpoints = ks.endpoints.list()
    for stype, name, port, path in CATALOG:
        svc = services.get(stype) or ks.services.create(name, type=stype)
        for iface in ("public", "internal", "admin"):
            if not any(ep.service_id == svc.id and ep.interface == iface and ep.region_id == region for ep in endpoints):
                ks.endpoints.create(svc, "http://%s:%d%s" % (e["API_HOST"], port, path), interface=iface, region=region)

    domain = find_or_create(ks.domains, MAGNUM_DOMAIN,
                            lambda: ks.domains.create(MAGNUM_DOMAIN,
                                                      description="Magnum's trustees, a user per cluster"))
    domain_admin = find_or_create(ks.users, MAGNUM_DOMAIN_ADMIN,
                                  lambda: ks.users.create(MAGNUM_DOMAIN_ADMIN, domain=domain, password=service_pw),
                                  domain=domain)
    ks.roles.grant(roles["admin"], user=domain_admin, domain=domain)

    customer_project = find_or_create(ks.projects, "customer",
                                      lambda: ks.projects.create("customer", "default",
                                                                 description="a kubeseed customer"),
                                      domain="default")
    customer = find_or_create(ks.users, "customer",
                              lambda: ks.users.create("customer", domain="default", password=customer_pw,
                                                      default_project=customer_project), domain="default")
    for role in CUSTOMER_ROLES:
        ks.roles.grant(roles[role], user=customer, project=customer_project)

    # The application credential is created by the customer (a user may only create its
    # own), scoped to the customer project; its secret is shown only now, so an existing
    # one whose secret we do not have is replaced.
    cauth = v3.Password(auth_url=url, username="customer", password=customer_pw, project_id=customer_project.id,
                        user_domain_id="default")
    cks = client.Client(session=session.Session(auth=cauth), interface="public")
    old = {}
    if os.path.exists(ids_path):
        with open(ids_path) as f:
            old = json.load(f)
    cred_id, cred_secret = old.get("app_cred_id"), old.get("app_cred_secret")
    existing = [c for c in cks.application_credentials.list(user=customer.id) if c.name == APP_CRED]
    if not (existing and existing[0].id == cred_id and cred_secret):
        for c in existing:
            cks.application_credentials.delete(c, user=customer.id)
        for attempt in (1, 2):
            try:
                cred = cks.application_credentials.create(APP_CRED, user=customer.id,
                                                          description="kubeseed test cloud: the customer's credential")
                break
            except ks_exc.BadRequest as err:
                # Seen once in the feasibility probe: 400 "Could not find role assignment
                # with role: <id>" right after the grants; the retry succeeded.
                if attempt == 2:
                    raise
                log("application credential creation failed (%s); retrying once" % err)
                time.sleep(2)
        cred_id, cred_secret = cred.id, cred.secret

    ids = {
        "service_project_id": service_project.id,
        "customer_project_id": customer_project.id,
        "customer_user_id": customer.id,
        "app_cred_id": cred_id,
        "app_cred_secret": cred_secret,
    }
    write_private(ids_path, json.dumps(ids, indent=2) + "\n")
    write_private(clouds_path, CLOUDS % dict(url=url, region=region, admin_pw=admin_pw, customer_pw=customer_pw,
                                             cred_id=cred_id, cred_secret=cred_secret,
                                             customer_project_id=customer_project.id))
    log("done (customer project %s, application credential %s)" % (customer_project.id, cred_id))


CLOUDS = """\
# kubeseed's OpenStack test cloud (hack/openstack/up.sh). Secrets: keep it private.
clouds:
  admin:
    auth_type: password
    auth:
      auth_url: %(url)s
      username: admin
      password: %(admin_pw)s
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: %(region)s
    interface: public
    identity_api_version: 3
  customer:
    # project "customer" (%(customer_project_id)s), user "customer", roles member and load-balancer_member
    auth_type: v3applicationcredential
    auth:
      auth_url: %(url)s
      application_credential_id: %(cred_id)s
      application_credential_secret: %(cred_secret)s
    region_name: %(region)s
    interface: public
    identity_api_version: 3
  customer-password:
    # the same user and project with its password: Keystone refuses trusts to application
    # credentials, and Magnum's cluster create makes a trust from its caller
    auth_type: password
    auth:
      auth_url: %(url)s
      username: customer
      password: %(customer_pw)s
      project_name: customer
      user_domain_name: Default
      project_domain_name: Default
    region_name: %(region)s
    interface: public
    identity_api_version: 3
"""


def write_private(path, text):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
