#!/usr/bin/env bash
# Stops every service hack/openstack/up.sh started (by the PIDs it recorded) and removes
# the cloud's state directory: MariaDB's and RabbitMQ's data go with it, so the databases
# and queues are gone and the next up.sh starts from nothing. Installed packages stay.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
start=$(date +%s)
if [ ! -d "$STATE" ]; then
  say "nothing to do: $STATE does not exist"
  exit 0
fi
# The OpenStack services all at once (octavia-worker alone takes 5-10 s to finish on
# SIGTERM), then what they used: RabbitMQ, epmd, MariaDB (each flushes to disk).
stop_all() {
  local name pids=()
  for name in "$@"; do
    alive "$name" || continue
    (
      t=$SECONDS
      stop "$name" 30
      say "stopped $name in $((SECONDS - t))s"
    ) &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}
infra=(rabbitmq epmd mariadb)
services=()
for name in "${SERVICES[@]}"; do
  [[ " ${infra[*]} " == *" $name "* ]] || services+=("$name")
done
stop_all "${services[@]}"
for name in "${infra[@]}"; do stop_all "$name"; done
case "$STATE" in
/ | /var | /var/lib | /tmp | "$HOME") die "refusing to remove $STATE" ;;
esac
rm -rf "$STATE"
say "stopped and removed $STATE in $(($(date +%s) - start))s"
