#!/usr/bin/env bash
# Brings up kubeseed's OpenStack test cloud on this machine: MariaDB, RabbitMQ, Keystone,
# Glance, Placement, Nova (fake driver, two fake hypervisors), Neutron (ML2, no agents),
# Octavia (amphora provider, noop amphora driver, real VIP ports), Magnum (with kubeseed's
# driver, magnum.sh), Swift (one node, swift.sh), each started by hand (the APIs on every
# interface, see API_HOST in lib.sh) with configs, data, PIDs and logs under
# $KUBESEED_OPENSTACK_DIR (default /var/lib/kubeseed-openstack). Needs hack/openstack/install.sh first.
#
# Idempotent: one-time steps (DB syncs, seeding) leave markers in done/, and a service is
# started only when it is not running, so a second run only checks health. docs/test-cloud.md.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$HERE/magnum.sh" # Magnum and kubeseed's driver: magnum_configs, magnum_db, start_magnum
. "$HERE/swift.sh"  # Swift: swift_configs, start_swift (builds the rings once), wait_swift
[ "$(id -u)" = 0 ] || die "must run as root"
command -v keystone-manage >/dev/null || die "OpenStack is not installed: run hack/openstack/install.sh (or make openstack-up)"

T0=$(date +%s.%N)
TLAST=$T0
PHASES=()
phase() { # phase NAME: records the time since the previous phase
  local now
  now=$(date +%s.%N)
  PHASES+=("$(awk -v n="$1" -v a="$TLAST" -v b="$now" 'BEGIN {printf "%-34s %5.1fs", n, b - a}')")
  TLAST=$now
}
done_step() { [ -f "$DONE/$1" ]; }
mark() { touch "$DONE/$1"; }

COLD=false
[ -f "$DONE/ready" ] || COLD=true
mkdir -p "$ETC" "$RUN" "$LOG" "$DONE"
chmod 755 "$STATE" # mysql (MariaDB's user) must reach its datadir below it

# ---- secrets: made once, kept until down.sh --------------------------------------------
if [ ! -f "$ETC/secrets.env" ]; then
  (
    umask 077
    for v in DB_PASSWORD ADMIN_PASSWORD SERVICE_PASSWORD CUSTOMER_PASSWORD; do
      echo "$v=$(openssl rand -hex 16)"
    done >"$ETC/secrets.env"
  )
fi
# shellcheck disable=SC1091
. "$ETC/secrets.env"
DB="mysql+pymysql://openstack:$DB_PASSWORD@127.0.0.1:3306"
RABBIT="rabbit://guest:guest@127.0.0.1:5672/" # guest is allowed on loopback only, which is all we use

. "$HERE/configs.sh" # authtoken, service_auth, uwsgi_ini, write_configs, json_get, octavia_ca

# ---- MariaDB and RabbitMQ: private instances, their data under $STATE -------------------
MYSQL_SOCK=$STATE/mysql/mysqld.sock
mysql_root() { mariadb --no-defaults --socket="$MYSQL_SOCK" -uroot "$@"; }

start_mariadb() {
  alive mariadb && return 0
  port_open 3306 && die "127.0.0.1:3306 is taken by another process: stop it (a system MariaDB?) first"
  if [ ! -d "$STATE/mysql/mysql" ]; then
    rm -rf "${STATE:?}/mysql"
    mkdir -p "$STATE/mysql"
    chown mysql:mysql "$STATE/mysql"
    mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
      --skip-test-db >>"$LOG/mariadb.log" 2>&1 || { log_tail mariadb; die "mariadb-install-db failed; log: $LOG/mariadb.log"; }
  fi
  launch mariadb /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" --socket="$MYSQL_SOCK" \
    --pid-file="$STATE/mysql/mysqld.pid" --bind-address=127.0.0.1 --port=3306 --skip-name-resolve \
    --max-connections=1000 --innodb-buffer-pool-size=128M --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_general_ci --skip-log-bin
  STARTED+=(mariadb)
}

start_rabbitmq() {
  alive rabbitmq && return 0
  port_open 5672 && die "127.0.0.1:5672 is taken by another process: stop it (a system RabbitMQ?) first"
  mkdir -p "$STATE/rabbitmq"
  # Erlang's port mapper, run by us in the foreground so that it is tracked and stopped
  # like the rest (RabbitMQ's VM would start a daemonized one of its own); one that runs
  # already, for another Erlang node, is used as it is.
  if ! alive epmd && ! port_open 4369; then
    launch epmd /usr/bin/epmd -address 127.0.0.1
    wait_port epmd 4369 10
  fi
  # HOME holds the Erlang cookie; the node name and paths keep this instance apart from
  # a system one. RabbitMQ's wrapper script stays the process group leader and turns
  # SIGTERM into a clean stop.
  launch rabbitmq env HOME="$STATE/rabbitmq" RABBITMQ_NODENAME=kubeseed@localhost \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672 RABBITMQ_DIST_PORT=25672 ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_MNESIA_BASE="$STATE/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$LOG" RABBITMQ_LOGS=- \
    RABBITMQ_CONFIG_FILE="$STATE/rabbitmq/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$STATE/rabbitmq/enabled_plugins" \
    RABBITMQ_PID_FILE="$STATE/rabbitmq/rabbitmq.pid" /usr/lib/rabbitmq/bin/rabbitmq-server
  STARTED+=(rabbitmq)
}
create_databases() {
  done_step databases && return 0
  local sql="" db
  for db in keystone glance placement nova_api nova nova_cell0 neutron octavia; do
    sql+="CREATE DATABASE IF NOT EXISTS $db CHARACTER SET utf8mb4;"
  done
  for host in 127.0.0.1 localhost; do
    sql+="CREATE USER IF NOT EXISTS 'openstack'@'$host' IDENTIFIED BY '$DB_PASSWORD';"
    sql+="GRANT ALL PRIVILEGES ON *.* TO 'openstack'@'$host';"
  done
  mysql_root -e "$sql" || die "creating the databases failed (MariaDB log: $LOG/mariadb.log)"
  mark databases
}

wait_mariadb() {
  local i
  for ((i = 0; i < 120; i++)); do
    mariadb-admin --no-defaults --socket="$MYSQL_SOCK" -uroot ping >/dev/null 2>&1 && return 0
    alive mariadb || { log_tail mariadb; die "mariadb exited during start-up; log: $LOG/mariadb.log"; }
    sleep 0.25
  done
  log_tail mariadb
  die "mariadb did not answer within 30s; log: $LOG/mariadb.log"
}

# ---- DB syncs: run in the background, in parallel (each is mostly interpreter start-up
# and migrations), waited for before the services start --------------------------------
declare -A SYNC_PIDS=()
# A failed up.sh leaves no sync running behind it (a re-run would start it a second time).
stop_syncs() {
  local pid
  for pid in "${SYNC_PIDS[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
}
trap stop_syncs EXIT
db_sync() { # name command...
  local name=$1
  shift
  done_step "dbsync-$name" && return 0
  (
    "$@" >>"$LOG/dbsync-$name.log" 2>&1 && mark "dbsync-$name"
  ) &
  SYNC_PIDS[$name]=$!
}
wait_syncs() { # names
  local name failed=()
  for name in "$@"; do
    [ -n "${SYNC_PIDS[$name]:-}" ] || continue
    wait "${SYNC_PIDS[$name]}" || true
    unset "SYNC_PIDS[$name]"
    done_step "dbsync-$name" || { log_tail "dbsync-$name" 15; failed+=("$name"); }
  done
  [ ${#failed[@]} -eq 0 ] || die "database sync failed for: ${failed[*]}; logs: $LOG/dbsync-<name>.log"
}

nova_db() {
  local m=(nova-manage --config-file "$ETC/nova/nova.conf")
  "${m[@]}" api_db sync && "${m[@]}" cell_v2 map_cell0 &&
    { "${m[@]}" cell_v2 list_cells | grep -q ' cell1 ' || "${m[@]}" cell_v2 create_cell --name cell1; } &&
    "${m[@]}" db sync
}

# ---- the OpenStack services ---------------------------------------------------------------
STARTED=()
start() { # name command...: unless it runs already
  local name=$1
  shift
  alive "$name" && return 0
  if [ -n "${PORT[$name]:-}" ] && port_open "${PORT[$name]}"; then
    die "$name: 127.0.0.1:${PORT[$name]} is taken by a process this cloud did not start; stop it first"
  fi
  launch "$name" "$@"
  STARTED+=("$name")
}

start_keystone() { start keystone uwsgi --ini "$ETC/keystone/uwsgi.ini"; }
start_core() {
  start glance glance-api --config-file "$ETC/glance/glance-api.conf"
  start placement uwsgi --ini "$ETC/placement/uwsgi.ini"
  start neutron env PYTHONPATH="$STATE/lib/neutron-plugin" \
    neutron-server --config-file "$ETC/neutron/neutron.conf" --config-file "$ETC/neutron/ml2_conf.ini"
}
start_nova() {
  start nova-api nova-api --config-file "$ETC/nova/nova.conf"
  start nova-conductor nova-conductor --config-file "$ETC/nova/nova.conf"
  start nova-scheduler nova-scheduler --config-file "$ETC/nova/nova.conf"
  start nova-compute1 "$PY" "$STATE/lib/nova_compute.py" --config-file "$ETC/nova/nova.conf"
  start nova-compute2 "$PY" "$STATE/lib/nova_compute.py" --config-file "$ETC/nova/nova.conf" \
    --config-file "$ETC/nova/compute2.conf"
}
start_octavia() {
  start octavia-api uwsgi --ini "$ETC/octavia/uwsgi.ini"
  start octavia-worker octavia-worker --config-file "$ETC/octavia/octavia.conf"
}
# Processes without a port: still alive 2 s after their start (import errors, bad config end them sooner).
wait_alive() {
  local name i
  for name in "$@"; do
    [[ " ${STARTED[*]} " == *" $name "* ]] || continue # was running already
    for ((i = 0; i < 12; i++)); do
      alive "$name" || { log_tail "$name"; die "$name exited during start-up; log: $LOG/$name.log"; }
      [ "$(age "$name")" -ge 2 ] && break
      sleep 0.25
    done
  done
}

seed_env() {
  env KEYSTONE_URL="$KEYSTONE_URL" API_HOST="$API_HOST" REGION="$REGION" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    SERVICE_PASSWORD="$SERVICE_PASSWORD" CUSTOMER_PASSWORD="$CUSTOMER_PASSWORD" \
    CLOUDS_YAML="$STATE/clouds.yaml" KEYSTONE_IDS="$ETC/keystone-ids.json" IDS_JSON="$STATE/openstack.json" \
    ENV_FILE="$STATE/openstack.env" OS_CLIENT_CONFIG_FILE="$STATE/clouds.yaml" "$@"
}

# =========================================================================================
say "state in $STATE, logs in $LOG ($([ "$COLD" = true ] && echo "cold start" || echo "checking a running cloud"))"
write_configs
octavia_ca

start_rabbitmq # boots in the background while MariaDB starts and Keystone syncs
start_mariadb
wait_mariadb
create_databases
phase "mariadb, rabbitmq"

# The other services' DB syncs run while Keystone is set up.
db_sync glance glance-manage --config-file "$ETC/glance/glance-api.conf" db_sync
db_sync placement placement-manage --config-file "$ETC/placement/placement.conf" db sync
db_sync nova nova_db
db_sync neutron neutron-db-manage --config-file "$ETC/neutron/neutron.conf" --config-file "$ETC/neutron/ml2_conf.ini" upgrade heads
db_sync octavia octavia-db-manage --config-file "$ETC/octavia/octavia.conf" upgrade head

if ! done_step keystone-bootstrap; then
  k=(keystone-manage --config-file "$ETC/keystone/keystone.conf")
  {
    "${k[@]}" db_sync &&
      "${k[@]}" fernet_setup --keystone-user root --keystone-group root &&
      "${k[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-region-id "$REGION" \
        --bootstrap-admin-url "$KEYSTONE_URL/" --bootstrap-internal-url "$KEYSTONE_URL/" \
        --bootstrap-public-url "$KEYSTONE_URL/"
  } >>"$LOG/keystone-manage.log" 2>&1 || { log_tail keystone-manage; die "keystone-manage failed; log: $LOG/keystone-manage.log"; }
  mark keystone-bootstrap
fi
start_keystone
wait_http keystone 5000 60
db_sync magnum magnum_db # later than the others: it takes a core the Keystone seed leaves idle
phase "keystone: db, bootstrap, start"
# "-3" since Swift's pieces were added (-2: Magnum's): a cloud seeded before seeds again (both
# seeds find before they create).
if ! done_step keystone-seed-3; then
  seed_env "$PY" "$HERE/seed_keystone.py" 2>>"$LOG/seed.log" || { log_tail seed; die "seeding Keystone failed; log: $LOG/seed.log"; }
  mark keystone-seed-3
fi
phase "keystone seed: catalog, users, app cred"

wait_port rabbitmq 5672 60
# Each service starts as soon as its own schema is there: Nova's sync is the longest.
wait_syncs glance placement neutron
start_core
wait_syncs nova
phase "db syncs still running (waited for)"
start_nova
wait_http glance 9292 60
wait_http placement 8778 60
wait_http neutron 9696 90
wait_http nova-api 8774 90
wait_alive nova-conductor nova-scheduler nova-compute1 nova-compute2
wait_syncs magnum
start_magnum # starts while the cloud is seeded; waited for at the end
start_swift  # likewise
phase "glance, placement, neutron, nova up"

if ! done_step cloud-seed-2; then
  seed_env "$PY" "$HERE/seed_cloud.py" 2>>"$LOG/seed.log" || { log_tail seed; die "seeding the cloud failed; log: $LOG/seed.log"; }
  # Map both fake hypervisors to cell1 now rather than at the scheduler's next periodic run.
  nova-manage --config-file "$ETC/nova/nova.conf" cell_v2 discover_hosts >>"$LOG/seed.log" 2>&1 ||
    { log_tail seed; die "nova-manage cell_v2 discover_hosts failed; log: $LOG/seed.log"; }
  mark cloud-seed-2
  write_configs # Octavia's config now has the amphora flavor, network and security group
fi
phase "seed: flavors, images, networks"

wait_syncs octavia
start_octavia
wait_http octavia-api 9876 60
wait_alive octavia-worker
phase "octavia up"
wait_magnum
phase "magnum up"
wait_swift
phase "swift up"
mark ready

total=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
if [ ${#STARTED[@]} -eq 0 ]; then
  say "every service was already running"
else
  say "started: ${STARTED[*]}"
fi
echo "timing up ($([ "$COLD" = true ] && echo cold || echo warm)): ${total}s"
[ "$COLD" = true ] && printf '  %s\n' "${PHASES[@]}"
echo "memory (RSS):"
rss_report
echo "clouds.yaml: $STATE/clouds.yaml  env: $STATE/openstack.env  logs: $LOG"
