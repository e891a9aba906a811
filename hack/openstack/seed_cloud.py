"""Seeds the resources of kubeseed's OpenStack test cloud, in one process with openstacksdk:

- admin: flavors m1.small (public) and the amphora's (private), images ubuntu-22.04 and
  ubuntu-22.04-kubeseed (public; the latter with os_distro=kubeseed, which makes Magnum pick
  kubeseed's driver), the external flat network "public" with a subnet for floating IPs;
- octavia (service project): lb-mgmt-net and its subnet, the amphorae's security group and
  the amphora image (tagged "amphora"), which Octavia finds by ID or tag;
- customer (its application credential, so that the resources are the customer's own and
  the credential is exercised): customer-net, customer-subnet 10.0.0.0/24 and
  customer-router with its gateway on "public" and an interface on the subnet.

It waits for both fake hypervisors first, and finds before it creates (idempotent). Writes
openstack.json (all IDs, for up.sh and Octavia's config) and openstack.env (what the tests
read). Run by hack/openstack/up.sh with /usr/bin/python3; input from the environment.
"""

import json
import os
import sys
import time

import openstack

FLAVOR, IMAGE = "m1.small", "ubuntu-22.04"
# Magnum chooses a cluster's driver by (server_type, the image's os_distro, coe): the worker
# image of a Magnum cluster template says os_distro=kubeseed.
MAGNUM_IMAGE, MAGNUM_OS_DISTRO = "ubuntu-22.04-kubeseed", "kubeseed"
# The cloud (clouds.yaml) that runs `openstack coe ...` as the customer: a password, since
# cluster creation makes a Keystone trust, which an application credential may not.
MAGNUM_CLOUD = "customer-password"
AMP_FLAVOR_ID = "kubeseed-amphora"
CUSTOMER_CIDR = "10.0.0.0/24"


def log(msg):
    print("openstack: seed cloud: " + msg, file=sys.stderr, flush=True)


def one(iterable, what):
    items = list(iterable)
    if len(items) > 1:
        raise SystemExit("openstack: seed cloud: %d %s found, expected at most one" % (len(items), what))
    return items[0] if items else None


def wait_hypervisors(conn, hosts, secs=180):
    deadline = time.time() + secs
    while True:
        up = {s.host for s in conn.compute.services(binary="nova-compute") if s.state == "up" and s.status == "enabled"}
        if hosts <= up:
            return
        if time.time() > deadline:
            raise SystemExit("openstack: seed cloud: nova-compute up on %s, want %s after %ds; see log/nova-compute*.log"
                             % (sorted(up), sorted(hosts), secs))
        time.sleep(1)


def ensure_image(conn, name, visibility, tags, size, properties=None):
    """Glance image from `size` zero bytes (no VM ever boots: Nova's fake driver and
    Octavia's noop amphora driver only need the image to exist). Direct POST + PUT: the
    SDK's create_image adds checksum properties and import logic we do not need."""
    img = one((i for i in conn.image.images() if i.name == name), "images named " + name)
    if img and img.status == "active":
        return img.id
    if img:  # an upload that did not finish: start over
        conn.image.delete_image(img)
    body = {"name": name, "disk_format": "raw", "container_format": "bare", "visibility": visibility,
            "tags": tags, "min_disk": 0, "min_ram": 0}
    body.update(properties or {})
    r = conn.image.post("/images", json=body)
    r.raise_for_status()
    image_id = r.json()["id"]
    r = conn.image.put("/images/%s/file" % image_id, data=b"\0" * size,
                       headers={"Content-Type": "application/octet-stream"})
    r.raise_for_status()
    return image_id


def ensure_network(conn, name, project_id=None, **attrs):
    query = {"name": name}
    if project_id:
        query["project_id"] = project_id
    net = one(conn.network.networks(**query), "networks named " + name)
    if not net:
        if project_id:
            attrs["project_id"] = project_id
        net = conn.network.create_network(name=name, **attrs)
    return net


def ensure_subnet(conn, name, network_id, **attrs):
    sub = one(conn.network.subnets(name=name, network_id=network_id), "subnets named " + name)
    return sub or conn.network.create_subnet(name=name, network_id=network_id, ip_version=4, **attrs)


def main():
    e = os.environ
    admin = openstack.connect(cloud="admin")
    customer = openstack.connect(cloud="customer")
    octavia = openstack.connect(auth_url=e["KEYSTONE_URL"], username="octavia", password=e["SERVICE_PASSWORD"],
                                project_name="service", user_domain_name="Default", project_domain_name="Default",
                                region_name=e["REGION"], interface="public", identity_api_version="3")
    admin_project = admin.current_project_id
    service_project = octavia.current_project_id
    customer_project = customer.current_project_id

    wait_hypervisors(admin, {"compute1", "compute2"})

    # Flavors: the workers' (public), the amphora's (private to the service project; a
    # fixed ID because Octavia takes an ID and Nova hides private flavors from name lookups).
    flavor = one((f for f in admin.compute.flavors(is_public="None") if f.name == FLAVOR), "flavors named " + FLAVOR)
    if not flavor:
        flavor = admin.compute.create_flavor(name=FLAVOR, vcpus=2, ram=4096, disk=20, is_public=True)
    amp_flavor = admin.compute.find_flavor(AMP_FLAVOR_ID)
    if not amp_flavor:
        amp_flavor = admin.compute.create_flavor(id=AMP_FLAVOR_ID, name="amphora", vcpus=1, ram=1024, disk=2,
                                                 is_public=False)
        admin.compute.flavor_add_tenant_access(amp_flavor, service_project)

    image_id = ensure_image(admin, IMAGE, "public", [], 64 * 1024)
    magnum_image_id = ensure_image(admin, MAGNUM_IMAGE, "public", [], 64 * 1024, {"os_distro": MAGNUM_OS_DISTRO})
    amp_image_id = ensure_image(octavia, "amphora", "private", ["amphora"], 1024 * 1024)

    # The external network: flat on physnet "public" (ml2_type_flat.flat_networks).
    public = ensure_network(admin, "public", project_id=admin_project, is_router_external=True,
                            provider_network_type="flat", provider_physical_network="public")
    public_subnet = ensure_subnet(admin, "public-subnet", public.id, cidr="172.24.4.0/24", gateway_ip="172.24.4.1",
                                  is_dhcp_enabled=False,
                                  allocation_pools=[{"start": "172.24.4.10", "end": "172.24.4.250"}])

    # Octavia's management network and the amphorae's security group, in its service project.
    mgmt = ensure_network(octavia, "lb-mgmt-net", project_id=service_project)
    mgmt_subnet = ensure_subnet(octavia, "lb-mgmt-subnet", mgmt.id, cidr="172.31.0.0/24")
    sg = one(octavia.network.security_groups(name="lb-mgmt-sec-grp", project_id=service_project),
             "security groups named lb-mgmt-sec-grp")
    if not sg:
        sg = octavia.network.create_security_group(name="lb-mgmt-sec-grp",
                                                   description="Octavia amphorae (controller to agent)")
        for port in (22, 9443):
            octavia.network.create_security_group_rule(security_group_id=sg.id, direction="ingress",
                                                       ethertype="IPv4", protocol="tcp",
                                                       port_range_min=port, port_range_max=port)

    # The customer's own network, subnet and router, created with its application credential.
    net = ensure_network(customer, "customer-net", project_id=customer_project)
    subnet = ensure_subnet(customer, "customer-subnet", net.id, cidr=CUSTOMER_CIDR)
    router = one(customer.network.routers(name="customer-router", project_id=customer_project),
                 "routers named customer-router")
    if not router:
        router = customer.network.create_router(name="customer-router",
                                                external_gateway_info={"network_id": public.id})
    if not any(p.fixed_ips and p.fixed_ips[0]["subnet_id"] == subnet.id
               for p in customer.network.ports(device_id=router.id)):
        customer.network.add_interface_to_router(router, subnet_id=subnet.id)

    ids = {
        "flavor": FLAVOR, "flavor_id": flavor.id, "image": IMAGE, "image_id": image_id,
        "magnum_image": MAGNUM_IMAGE, "magnum_image_id": magnum_image_id,
        "public_network_id": public.id, "public_subnet_id": public_subnet.id,
        "customer_project_id": customer_project, "customer_network_id": net.id,
        "customer_subnet_id": subnet.id, "customer_router_id": router.id,
        "amp_flavor_id": amp_flavor.id, "amp_image_id": amp_image_id, "lb_mgmt_network_id": mgmt.id,
        "lb_mgmt_subnet_id": mgmt_subnet.id, "lb_mgmt_secgroup_id": sg.id, "service_project_id": service_project,
    }
    with open(e["IDS_JSON"] + ".tmp", "w") as f:
        json.dump(ids, f, indent=2)
        f.write("\n")
    os.replace(e["IDS_JSON"] + ".tmp", e["IDS_JSON"])
    env = [
        "# kubeseed's OpenStack test cloud (hack/openstack/up.sh): what tests against it read.",
        "# Shell syntax; load with: set -a; . %s; set +a" % e["ENV_FILE"],
        "KUBESEED_OPENSTACK_CLOUDS=%s" % e["CLOUDS_YAML"],
        "KUBESEED_OPENSTACK_FLAVOR=%s" % FLAVOR,
        "KUBESEED_OPENSTACK_IMAGE=%s" % IMAGE,
        "KUBESEED_OPENSTACK_EXTERNAL_NETWORK=%s" % public.id,
        "KUBESEED_OPENSTACK_PUBLIC_SUBNET=%s" % public_subnet.id,
        "KUBESEED_OPENSTACK_CUSTOMER_PROJECT=%s" % customer_project,
        "KUBESEED_OPENSTACK_CUSTOMER_NETWORK=%s" % net.id,
        "KUBESEED_OPENSTACK_CUSTOMER_SUBNET=%s" % subnet.id,
        "KUBESEED_OPENSTACK_CUSTOMER_ROUTER=%s" % router.id,
        "# Magnum (hack/openstack/magnum.sh): the customer's cloud for `openstack coe`, the template's",
        "# image, and where kubeseed's Magnum driver reads the seed's kubeconfig (whoever brings the",
        "# seed up writes it there).",
        "KUBESEED_MAGNUM_CLOUD=%s" % MAGNUM_CLOUD,
        "KUBESEED_MAGNUM_IMAGE=%s" % MAGNUM_IMAGE,
        "KUBESEED_MAGNUM_KUBECONFIG=%s" % os.path.join(e["KUBESEED_OPENSTACK_DIR"], "magnum", "seed.kubeconfig"),
    ]
    with open(e["ENV_FILE"] + ".tmp", "w") as f:
        f.write("\n".join(env) + "\n")
    os.replace(e["ENV_FILE"] + ".tmp", e["ENV_FILE"])
    log("done (public network %s, customer subnet %s)" % (public.id, subnet.id))


if __name__ == "__main__":
    main()
