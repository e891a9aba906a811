# shellcheck shell=bash
# The test cloud's service configs: rewritten on every run (cheap), read by services when they
# start. Sourced by hack/openstack/up.sh, whose variables (ETC, STATE, LOG, DB, RABBIT,
# SERVICE_PASSWORD, REGION, PY, ...) and helpers (die, ...) these functions use at call time.

authtoken() { # [keystone_authtoken] for service user $1
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000
auth_url = http://127.0.0.1:5000
auth_type = password
username = $1
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $REGION
EOF
}
service_auth() { # a keystoneauth section for service user $2 named $1
  cat <<EOF
[$1]
auth_type = password
auth_url = http://127.0.0.1:5000
username = $2
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $REGION
EOF
}
# uwsgi for the WSGI-only services: "Connection: close" because uwsgi's http-socket resets
# the second request on a kept-alive connection; die-on-term because SIGTERM reloads it otherwise.
uwsgi_ini() { # name port wsgi-file processes extra-lines
  cat <<EOF
[uwsgi]
plugin = python3
http-socket = 0.0.0.0:$2
wsgi-file = $3
master = true
processes = $4
threads = 1
enable-threads = true
lazy-apps = true
die-on-term = true
need-app = true
buffer-size = 65535
add-header = Connection: close
$5
EOF
}

write_configs() {
  mkdir -p "$ETC"/{keystone,glance,placement,nova,neutron,octavia} "$STATE"/{keystone,glance/images,nova,neutron,octavia}
  # Our Python pieces run from a copy, so that a running cloud does not depend on the
  # checkout it was started from (CI's clone goes away; the cloud may stay up).
  rm -rf "${STATE:?}/lib.new"
  mkdir -p "$STATE/lib.new"
  cp -r "$HERE/neutron-plugin" "$HERE/nova_compute.py" "$STATE/lib.new/"
  rm -rf "${STATE:?}/lib"
  mv "$STATE/lib.new" "$STATE/lib"
  cat >"$ETC/keystone/keystone.conf" <<EOF
[database]
connection = $DB/keystone
[identity]
# bcrypt's minimum: every password check (each service's, each test's) costs ~4 ms
# instead of ~250 ms at the default 12 rounds, which a 2-core machine feels.
password_hash_rounds = 4
[token]
provider = fernet
[fernet_tokens]
key_repository = $STATE/keystone/fernet-keys
[oslo_messaging_notifications]
driver = noop
EOF
  uwsgi_ini keystone 5000 /usr/bin/keystone-wsgi-public 2 "env = OS_KEYSTONE_CONFIG_DIR=$ETC/keystone" >"$ETC/keystone/uwsgi.ini"

  {
    cat <<EOF
[DEFAULT]
bind_host = 0.0.0.0
bind_port = 9292
# 0: serve in the one process (no forked worker: ~140 MiB less).
workers = 0
transport_url = $RABBIT
[database]
connection = $DB/glance
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = $STATE/glance/images
[oslo_concurrency]
lock_path = $STATE/glance/lock
[oslo_messaging_notifications]
driver = noop
EOF
    authtoken glance
  } >"$ETC/glance/glance-api.conf"

  {
    cat <<EOF
[api]
auth_strategy = keystone
[placement_database]
connection = $DB/placement
EOF
    authtoken placement
  } >"$ETC/placement/placement.conf"
  uwsgi_ini placement 8778 /usr/bin/placement-api 1 "env = OS_PLACEMENT_CONFIG_DIR=$ETC/placement" >"$ETC/placement/uwsgi.ini"

  # Nova: the eventlet nova-api (under uwsgi a synchronous RPC from Octavia's interface
  # attach timed out), the fake virt driver, every service with one worker.
  {
    cat <<EOF
[DEFAULT]
host = compute1
my_ip = 127.0.0.1
state_path = $STATE/nova
transport_url = $RABBIT
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
osapi_compute_listen = 0.0.0.0
osapi_compute_listen_port = 8774
osapi_compute_workers = 1
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
[api_database]
connection = $DB/nova_api
[database]
connection = $DB/nova
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 5
[oslo_concurrency]
lock_path = $STATE/nova/lock
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
EOF
    authtoken nova
    service_auth placement nova
    echo "valid_interfaces = public"
    service_auth neutron nova
    echo "valid_interfaces = public"
    echo "[glance]"
    echo "valid_interfaces = public"
  } >"$ETC/nova/nova.conf"
  # The second fake hypervisor: the same config plus its own host name.
  printf '[DEFAULT]\nhost = compute2\n' >"$ETC/nova/compute2.conf"

  # Neutron: ML2 without agents; kubeseed_binder (hack/openstack/neutron-plugin) binds ports.
  {
    cat <<EOF
[DEFAULT]
bind_host = 0.0.0.0
bind_port = 9696
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
allow_overlapping_ips = true
# The API in the main process, one RPC worker (the least Neutron forks), no separate
# state-report worker (there are no agents to report): ~450 MiB less than the defaults.
api_workers = 0
rpc_workers = 1
rpc_state_report_workers = 0
state_path = $STATE/neutron
transport_url = $RABBIT
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
[database]
connection = $DB/neutron
[oslo_concurrency]
lock_path = $STATE/neutron/lock
[oslo_messaging_notifications]
driver = noop
EOF
    authtoken neutron
    service_auth nova neutron
  } >"$ETC/neutron/neutron.conf"
  cat >"$ETC/neutron/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers = kubeseed_binder
extension_drivers = port_security
[ml2_type_flat]
flat_networks = public
[ml2_type_vxlan]
vni_ranges = 1:1000
[securitygroup]
enable_security_group = true
EOF

  # Octavia: amphora provider with the noop amphora driver (no VM, no haproxy) but the real
  # Nova compute and Neutron network drivers, so that the VIP is a real port. The amp_*
  # IDs come from seed_cloud.py (openstack.json); until then they are empty, which only
  # the DB sync reads.
  local amp_flavor="" amp_net="" amp_sg=""
  if [ -f "$STATE/openstack.json" ]; then
    amp_flavor=$(json_get amp_flavor_id)
    amp_net=$(json_get lb_mgmt_network_id)
    amp_sg=$(json_get lb_mgmt_secgroup_id)
  fi
  {
    cat <<EOF
[DEFAULT]
transport_url = $RABBIT
[api_settings]
bind_host = 0.0.0.0
bind_port = 9876
auth_strategy = keystone
default_provider_driver = amphora
enabled_provider_drivers = amphora:The Octavia Amphora driver.,octavia:Deprecated alias of the Octavia Amphora driver.
[database]
connection = $DB/octavia
[controller_worker]
workers = 1
amphora_driver = amphora_noop_driver
compute_driver = compute_nova_driver
network_driver = allowed_address_pairs_driver
image_driver = image_glance_driver
loadbalancer_topology = SINGLE
amp_image_tag = amphora
amp_flavor_id = $amp_flavor
amp_boot_network_list = $amp_net
amp_secgroup_list = $amp_sg
client_ca = $STATE/octavia/ca.pem
# The default 10 s made a load balancer take 34 s to go ACTIVE.
amp_active_wait_sec = 1
[certificates]
cert_generator = local_cert_generator
ca_certificate = $STATE/octavia/ca.pem
ca_private_key = $STATE/octavia/ca.key
[haproxy_amphora]
client_cert = $STATE/octavia/client.pem
server_ca = $STATE/octavia/ca.pem
[health_manager]
bind_ip = 127.0.0.1
controller_ip_port_list = 127.0.0.1:5555
heartbeat_key = kubeseed-test-cloud
[oslo_messaging]
topic = octavia_prov
[oslo_messaging_notifications]
driver = noop
[nova]
region_name = $REGION
[neutron]
region_name = $REGION
valid_interfaces = public
[glance]
region_name = $REGION
EOF
    authtoken octavia
    service_auth service_auth octavia
  } >"$ETC/octavia/octavia.conf"
  uwsgi_ini octavia-api 9876 /usr/bin/octavia-wsgi 1 "pyargv = --config-file $ETC/octavia/octavia.conf" >"$ETC/octavia/uwsgi.ini"
  magnum_configs
  swift_configs
}

json_get() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$STATE/openstack.json" "$1"; }

# Octavia needs a CA even with the noop amphora driver (it signs amphora certificates).
octavia_ca() {
  local d=$STATE/octavia
  [ -f "$d/client.pem" ] && return 0
  (
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kubeseed test cloud Octavia CA" \
      -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=octavia-controller" -keyout "$d/client.key" \
      -out "$d/client.csr" 2>/dev/null
    openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
      -out "$d/client.crt" 2>/dev/null
    cat "$d/client.crt" "$d/client.key" >"$d/client.pem"
  ) || die "creating Octavia's CA in $d failed"
}
