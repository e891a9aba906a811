# shellcheck shell=bash
# OpenStack Swift 2.30 (object storage) in the test cloud: one node, one replica, one device
# (a directory of the state directory's filesystem), the account, container and object
# servers and the proxy, nothing else (no replicators, auditors, updaters, expirer: with one
# replica there is nothing to replicate, and nothing here runs long enough to need them).
# Sourced by hack/openstack/up.sh, whose variables (ETC, STATE, LOG, SERVICE_PASSWORD,
# REGION, PY, HERE) and helpers (start, wait_port, wait_http, done_step, mark) these
# functions use; the ports are lib.sh's PORT. Keystone's side (service user "swift", the
# object-store endpoints) is made by seed_keystone.py. docs/test-cloud.md, section Swift.

SWIFT_DIR=$ETC/swift            # swift.conf, the servers' configs, the rings (swift_dir)
SWIFT_DEVICES=$STATE/swift/node # devices = ...; the one device is its subdirectory d1
SWIFT_KINDS=(account container object)

# swift_configs: after write_configs made lib/ afresh. Rewritten on every run like the others;
# the rings are not (swift_rings).
swift_configs() {
  mkdir -p "$SWIFT_DIR" "$SWIFT_DEVICES/d1"
  cp "$HERE/swift_server.py" "$STATE/lib/"
  # The hash path suffix salts where every object lives: made once, like the passwords, and
  # kept until down.sh (a cloud made before Swift was added gets it now).
  if [ -z "${SWIFT_HASH_PATH_SUFFIX:-}" ]; then
    SWIFT_HASH_PATH_SUFFIX=$(openssl rand -hex 16)
    echo "SWIFT_HASH_PATH_SUFFIX=$SWIFT_HASH_PATH_SUFFIX" >>"$ETC/secrets.env"
  fi
  # Read from here, not /etc/swift/swift.conf, through swift_server.py.
  cat >"$SWIFT_DIR/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = $SWIFT_HASH_PATH_SUFFIX
[storage-policy:0]
name = Policy-0
default = yes
EOF
  local kind
  for kind in "${SWIFT_KINDS[@]}"; do
    cat >"$SWIFT_DIR/$kind-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${PORT[swift-$kind]}
# 0: serve in the one process, no forked worker. Swift drops privileges (to "user") only in
# forked workers, so the servers run as root, like the rest of this cloud, and own the data.
workers = 0
user = root
swift_dir = $SWIFT_DIR
devices = $SWIFT_DEVICES
# The device is a plain directory of the root filesystem (ext4: user xattrs work), not a mount.
mount_check = false
log_name = $kind-server
[pipeline:main]
pipeline = healthcheck $kind-server
[filter:healthcheck]
use = egg:swift#healthcheck
[app:$kind-server]
use = egg:swift#$kind
EOF
  done
  # The proxy: Keystone tokens (authtoken) and Keystone roles (keystoneauth) instead of the
  # package's tempauth; no cache filter, so no memcached (authtoken keeps tokens in-process).
  # The required filters Swift would insert itself (copy, dlo, versioned_writes) are listed.
  cat >"$SWIFT_DIR/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 0.0.0.0
bind_port = ${PORT[swift-proxy]}
workers = 0
user = root
swift_dir = $SWIFT_DIR
log_name = proxy-server
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging listing_formats tempurl formpost authtoken keystoneauth copy slo dlo versioned_writes proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
# The first request of a project to its AUTH_<project_id> account creates the account.
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:tempurl]
use = egg:swift#tempurl
# Without sha1, which Swift 2.30 still allows but warns about at every start.
allowed_digests = sha256 sha512
[filter:formpost]
use = egg:swift#formpost
allowed_digests = sha256 sha512
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = http://127.0.0.1:5000
auth_url = http://127.0.0.1:5000
auth_type = password
username = swift
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $REGION
# keystoneauth decides, so that tempurl, formpost and public-read containers work without a token.
delay_auth_decision = true
service_token_roles_required = true
[filter:keystoneauth]
use = egg:swift#keystoneauth
# A user with one of these roles in a project owns its account AUTH_<project_id>: the customer
# has member (seed_keystone.py's CUSTOMER_ROLES), the admin admin.
operator_roles = admin, member
reseller_admin_role = ResellerAdmin
EOF
}

# swift_rings: the account, container and object rings (part power 8, one replica, the one
# device), built once in one Python process (swift-ring-builder costs ~1.5 s an invocation).
# They stay with the data: rebuilding them would move partitions away from what is stored.
swift_rings() {
  done_step swift-rings && return 0
  rm -f "$SWIFT_DIR"/*.builder "$SWIFT_DIR"/*.ring.gz
  "$PY" - "$SWIFT_DIR" "${PORT[swift-account]}" "${PORT[swift-container]}" "${PORT[swift-object]}" \
    >>"$LOG/swift-rings.log" 2>&1 <<'EOF' || { log_tail swift-rings; die "building Swift's rings failed; log: $LOG/swift-rings.log"; }
import sys
from swift.common.ring import RingBuilder

swift_dir, ports = sys.argv[1], dict(zip(("account", "container", "object"), map(int, sys.argv[2:5])))
for kind, port in ports.items():
    b = RingBuilder(8, 1, 1)  # part power, replicas, min_part_hours
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port, "device": "d1", "weight": 100})
    b.rebalance()
    b.save("%s/%s.builder" % (swift_dir, kind))
    b.get_ring().save("%s/%s.ring.gz" % (swift_dir, kind))
    print("%s ring: %d partitions on 127.0.0.1:%d/d1" % (kind, b.parts, port))
EOF
  mark swift-rings
}

# -v: Swift logs to syslog (here: nothing listens, the datagrams are lost) and, with -v, to
# stderr too, which launch() appends to log/swift-NAME.log.
start_swift() {
  swift_rings
  local kind
  for kind in "${SWIFT_KINDS[@]}"; do
    start "swift-$kind" "$PY" "$STATE/lib/swift_server.py" "$SWIFT_DIR" "/usr/bin/swift-$kind-server" \
      "$SWIFT_DIR/$kind-server.conf" -v
  done
  start swift-proxy "$PY" "$STATE/lib/swift_server.py" "$SWIFT_DIR" /usr/bin/swift-proxy-server \
    "$SWIFT_DIR/proxy-server.conf" -v
}

# wait_swift: every server listens, and the proxy's healthcheck answers OK.
wait_swift() {
  local kind
  for kind in "${SWIFT_KINDS[@]}"; do
    wait_port "swift-$kind" "${PORT[swift-$kind]}" 60
  done
  wait_http swift-proxy "${PORT[swift-proxy]}" 60
  [ "$(curl -s --max-time 5 "http://127.0.0.1:${PORT[swift-proxy]}/healthcheck")" = OK ] ||
    { log_tail swift-proxy; die "swift-proxy's /healthcheck did not answer OK; log: $LOG/swift-proxy.log"; }
}
