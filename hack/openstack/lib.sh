# shellcheck shell=bash disable=SC2034 # (variables used by the scripts that source this)
# Shared by hack/openstack/{up,down,clouds}.sh: where the test cloud keeps its state and how
# its services are started, checked and stopped. Sourced, not run.

# Everything the cloud writes lives under one directory, so that down.sh can remove it
# whole: configs (etc/), PID files (run/), logs (log/), MariaDB's and RabbitMQ's data,
# Glance's images, Swift's rings and objects, Octavia's CA, and the outputs (clouds.yaml,
# openstack.env, openstack.json).
# It is root's: the services run as root (MariaDB as mysql) and bind 127.0.0.1 only.
STATE=${KUBESEED_OPENSTACK_DIR:-/var/lib/kubeseed-openstack}
export KUBESEED_OPENSTACK_DIR=$STATE
ETC=$STATE/etc
RUN=$STATE/run
LOG=$STATE/log
DONE=$STATE/done # one marker file per finished one-time step (DB sync, seeding, ...)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3 # Debian's modules: python3 on PATH may be a pyenv shim without them

# The APIs listen on every interface and the catalog names the host's own address (the source
# of its default route): the kubeseed manager calls them from a pod of the local seed, and the
# e2e harness's machines from their own network namespaces, where 127.0.0.1 is not this host.
# MariaDB and RabbitMQ stay on 127.0.0.1. Override with KUBESEED_OPENSTACK_HOST.
api_host() {
  local ip
  ip=$(ip -4 route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1)
  echo "${ip:-127.0.0.1}"
}
API_HOST=${KUBESEED_OPENSTACK_HOST:-$(api_host)}
KEYSTONE_URL=http://$API_HOST:5000/v3
REGION=RegionOne
# Start order; down.sh stops in reverse.
SERVICES=(mariadb epmd rabbitmq keystone glance placement neutron nova-api nova-conductor
  nova-scheduler nova-compute1 nova-compute2 octavia-api octavia-worker magnum-api magnum-conductor
  swift-account swift-container swift-object swift-proxy)
# Swift's account, container and object servers listen on 127.0.0.1 only (the proxy calls them).
declare -A PORT=([mariadb]=3306 [epmd]=4369 [rabbitmq]=5672 [keystone]=5000 [glance]=9292 [placement]=8778
  [nova-api]=8774 [neutron]=9696 [octavia-api]=9876 [magnum-api]=9511
  [swift-proxy]=8080 [swift-account]=6202 [swift-container]=6201 [swift-object]=6200)

say() { echo "openstack: $*" >&2; }
die() { echo "openstack: error: $*" >&2; exit 1; }

# The last lines of a service's log, for error messages.
log_tail() {
  local f=$LOG/$1.log
  [ -f "$f" ] || return 0
  echo "---- last lines of $f ----" >&2
  tail -n "${2:-25}" "$f" >&2
  echo "----" >&2
}

# run/NAME.pid holds "PID STARTTIME" (field 22 of /proc/PID/stat, clock ticks since boot):
# the pair names one process for good, so a PID reused after a reboot is not taken for the
# service. (Not the environment: neutron-server's setproctitle overwrites it.)
pid_of() { local pid="" _; read -r pid _ 2>/dev/null <"$RUN/$1.pid" || true; echo "$pid"; }
starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # the fields after "(comm) ", which may hold spaces
  # shellcheck disable=SC2086 # split into fields on purpose
  set -- $stat
  echo "${20}"
}

# alive NAME: the recorded process still runs (and is not a zombie).
alive() {
  local pid t state
  read -r pid t 2>/dev/null <"$RUN/$1.pid" || return 1
  [ -n "$pid" ] && [ -n "$t" ] && [ "$(starttime "$pid")" = "$t" ] || return 1
  state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  [ -n "$state" ] && [ "$state" != Z ]
}

# age NAME: seconds since the recorded process started (0 when it is gone).
age() {
  local s
  s=$(ps -o etimes= -p "$(pid_of "$1")" 2>/dev/null | tr -d ' ')
  echo "${s:-0}"
}

# launch NAME CMD...: runs CMD in a session of its own (so that stop() can signal all its
# workers as one process group), output appended to log/NAME.log, PID in run/NAME.pid.
launch() {
  local name=$1
  shift
  echo "==== $(date -Is) starting: $*" >>"$LOG/$name.log"
  setsid "$@" </dev/null >>"$LOG/$name.log" 2>&1 &
  echo "$! $(starttime $! || echo gone)" >"$RUN/$name.pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port NAME PORT SECONDS: until PORT accepts connections; fails at once, naming the
# log, when the service exits meanwhile.
wait_port() {
  local name=$1 port=$2 secs=$3 i
  for ((i = 0; i < secs * 4; i++)); do
    port_open "$port" && return 0
    alive "$name" || { log_tail "$name"; die "$name exited during start-up; log: $LOG/$name.log"; }
    sleep 0.25
  done
  log_tail "$name"
  die "$name did not listen on 127.0.0.1:$port within ${secs}s; log: $LOG/$name.log"
}

# wait_http NAME PORT SECONDS: until the API answers HTTP at all (any status: the roots of
# these APIs answer 200, 300 or 401).
wait_http() {
  local name=$1 port=$2 secs=$3 i code
  for ((i = 0; i < secs * 4; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/" || true)
    [ "$code" != 000 ] && [ "${code:0:1}" != 5 ] && return 0
    alive "$name" || { log_tail "$name"; die "$name exited during start-up; log: $LOG/$name.log"; }
    sleep 0.25
  done
  log_tail "$name"
  die "$name did not answer on http://127.0.0.1:$port/ within ${secs}s (last status $code); log: $LOG/$name.log"
}

# stop NAME [SECONDS]: SIGTERM to the service's process group, SIGKILL after SECONDS.
stop() {
  local name=$1 secs=${2:-20} pid i
  pid=$(pid_of "$name")
  if ! alive "$name"; then
    rm -f "$RUN/$name.pid"
    return 0
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 4; i++)); do
    kill -0 -- "-$pid" 2>/dev/null || kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 -- "-$pid" 2>/dev/null; then
    say "$name (pid $pid) still running after ${secs}s: SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
}

# Memory: the summed RSS of every process of each service's process group.
rss_report() {
  local name pid kb total=0
  for name in "${SERVICES[@]}"; do
    alive "$name" || continue
    pid=$(pid_of "$name")
    kb=$(ps -o rss= -g "$pid" 2>/dev/null | awk '{s+=$1} END {print s+0}')
    total=$((total + kb))
    printf '  %-17s %5d MiB\n' "$name" $((kb / 1024))
  done
  printf '  %-17s %5d MiB\n' total $((total / 1024))
}
