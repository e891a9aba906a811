# shellcheck shell=bash
# OpenStack Magnum 15 (Zed) in the test cloud, with kubeseed's Magnum driver (contrib/magnum)
# loaded: sourced by hack/openstack/up.sh, whose variables (ETC, DB, RABBIT, SERVICE_PASSWORD,
# ...) and helpers (start, db_sync, wait_http, mysql_root) these functions use. Keystone's side
# (service user "magnum", the container-infra endpoints, the trustee domain "magnum" and its
# admin "magnum_domain_admin") is made by seed_keystone.py, the image with
# os_distro=kubeseed by seed_cloud.py. docs/test-cloud.md, section Magnum.

# The driver's package: DIR/kubeseed_magnum/driver.py, class Driver. Copied to lib/magnum with a
# dist-info registering it as the entry point magnum.drivers:k8s_kubeseed_v1 (magnum picks a
# driver by (server_type, the image's os_distro, coe) among those entry points).
MAGNUM_DRIVER_SRC=${KUBESEED_MAGNUM_DRIVER_DIR:-$(cd "$HERE/../.." && pwd)/contrib/magnum}
MAGNUM_CONF=$ETC/magnum/magnum.conf
MAGNUM_WARNED=false
# Magnum's own Heat-based drivers: this cloud has no Heat, and each costs imports (heatclient,
# ...) in both processes. Disabled, they neither load nor accept a template.
MAGNUM_HEAT_DRIVERS=k8s_coreos_v1,k8s_fedora_atomic_v1,k8s_fedora_coreos_v1,k8s_fedora_ironic_v1,mesos_ubuntu_v1,swarm_fedora_atomic_v1,swarm_fedora_atomic_v2

# magnum_configs: after write_configs made lib/ afresh. Rewritten on every run like the others.
magnum_configs() {
  mkdir -p "$ETC/magnum" "$STATE/magnum/lock" "$STATE/lib/magnum"
  if [ -f "$MAGNUM_DRIVER_SRC/kubeseed_magnum/driver.py" ]; then
    cp -r "$MAGNUM_DRIVER_SRC/kubeseed_magnum" "$HERE/magnum/kubeseed_magnum-0.1.0.dist-info" "$STATE/lib/magnum/"
    find "$STATE/lib/magnum" -name __pycache__ -prune -exec rm -rf {} +
  elif [ "$MAGNUM_WARNED" = false ]; then
    MAGNUM_WARNED=true
    say "warning: no $MAGNUM_DRIVER_SRC/kubeseed_magnum/driver.py: Magnum runs without kubeseed's driver (set KUBESEED_MAGNUM_DRIVER_DIR)"
  fi
  cp /etc/magnum/api-paste.ini "$ETC/magnum/api-paste.ini" # magnum-api needs one; the package's
  local ks=http://127.0.0.1:5000
  cat >"$MAGNUM_CONF" <<EOF
[DEFAULT]
transport_url = $RABBIT
state_path = $STATE/magnum
[api]
host = 0.0.0.0
port = 9511
# werkzeug's server: 1 = one process, one request at a time (N would fork one per request).
workers = 1
api_paste_config = $ETC/magnum/api-paste.ini
[conductor]
workers = 1
[database]
connection = $DB/magnum
[certificates]
# Each cluster's CA and client certificate in Magnum's database (no Barbican here).
cert_manager_type = x509keypair
[drivers]
disabled_drivers = $MAGNUM_HEAT_DRIVERS
[oslo_concurrency]
lock_path = $STATE/magnum/lock
[oslo_messaging_notifications]
driver = noop
[oslo_policy]
# Zed's defaults: any user of a project but the per-cluster trustees may create templates
# (not public ones: admin) and clusters in it.
enforce_scope = false
enforce_new_defaults = false
# Magnum builds its own Keystone calls from www_authenticate_uri, which must end in /v3
# (without it the trustee domain's token request goes to /auth/tokens and fails).
[keystone_authtoken]
www_authenticate_uri = $ks/v3
auth_url = $ks
auth_type = password
username = magnum
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $REGION
[keystone_auth]
auth_url = $ks/v3
auth_type = password
username = magnum
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
# Every cluster: a trustee user in domain "magnum" (made by magnum_domain_admin) and a trust
# from the cluster's creator to it, delegating these roles in the creator's project: what
# kubeseed's WorkerPools and Octavia endpoint need. The creator must hold both, and must have
# logged in with a password (Keystone forbids managing trusts with an application credential).
[trust]
cluster_user_trust = true
trustee_domain_name = magnum
trustee_domain_admin_name = magnum_domain_admin
trustee_domain_admin_password = $SERVICE_PASSWORD
roles = member,load-balancer_member
trustee_keystone_interface = public
trustee_keystone_region_name = $REGION
# Read by kubeseed's driver. The kubeconfig of the seed cluster is written by whoever brings the
# seed up (the e2e); the driver reads it at each call. auth_url goes into the clouds.yaml the
# driver hands kubeseed, whose manager runs in a pod: the host's address, not 127.0.0.1.
[kubeseed]
kubeconfig = $STATE/magnum/seed.kubeconfig
namespace_prefix = magnum-
operator_namespace = kubeseed-system
auth_url = $KEYSTONE_URL
region_name = $REGION
EOF
}

# magnum_db: its database (created here rather than in create_databases, so that a cloud made
# before Magnum was added gets it too) and schema; run by db_sync beside the others.
magnum_db() {
  mysql_root -e "CREATE DATABASE IF NOT EXISTS magnum CHARACTER SET utf8mb4;" &&
    magnum-db-manage --config-file "$MAGNUM_CONF" upgrade
}

# Both with lib/magnum on PYTHONPATH: the API looks the driver up when a template is created,
# the conductor calls it.
start_magnum() {
  start magnum-api env PYTHONPATH="$STATE/lib/magnum" magnum-api --config-file "$MAGNUM_CONF"
  start magnum-conductor env PYTHONPATH="$STATE/lib/magnum" magnum-conductor --config-file "$MAGNUM_CONF"
}
wait_magnum() {
  wait_http magnum-api 9511 60
  wait_alive magnum-conductor
}
