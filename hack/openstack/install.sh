#!/usr/bin/env bash
# Installs the OpenStack test cloud's services from Debian's packages (bookworm: Zed-era
# Keystone 22, Nova 26, Neutron 21, Octavia 11, Magnum 15, Swift 2.30). Nothing is started or
# configured here: hack/openstack/up.sh runs every service by hand with configs of its own.
# Idempotent: exits at once when everything is installed.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "openstack install: must run as root (apt-get install)" >&2; exit 1; }

# Not installed: nova-compute (pulls libvirt/qemu; python3-nova has its code, up.sh runs it
# through hack/openstack/nova_compute.py), Neutron agents and openvswitch (no data plane),
# Cinder (the product does not use volumes), octavia-health-manager/housekeeping (the noop
# amphora driver sends no heartbeats and needs no certificate rotation). Swift's packages
# bring its servers' console scripts (and pull rsyslog, which nothing starts); its proxy's
# Keystone middleware, only recommended, is asked for by name.
pkgs=(
  mariadb-server rabbitmq-server python3-pymysql
  keystone glance-api placement-api
  nova-api nova-conductor nova-scheduler python3-nova
  neutron-server octavia-api octavia-worker
  magnum-api magnum-conductor python3-magnumclient python3-kubernetes
  swift swift-proxy swift-account swift-container swift-object python3-keystonemiddleware
  python3-openstackclient python3-keystoneclient python3-openstacksdk python3-octaviaclient
  uwsgi-core uwsgi-plugin-python3 openssl curl
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "openstack install: all ${#pkgs[@]} packages already installed" >&2
  exit 0
fi

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
# Maintainer scripts must start nothing (there is no systemd, and up.sh runs its own
# instances): policy-rc.d exiting 101 forbids every invoke-rc.d start. An existing one is
# put back afterwards.
policy=/usr/sbin/policy-rc.d
backup=""
if [ -e "$policy" ]; then backup=$(mktemp); cp -p "$policy" "$backup"; fi
restore() {
  if [ -n "$backup" ]; then mv -f "$backup" "$policy"; else rm -f "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"

# dbconfig-common would try to create and sync databases in a MariaDB that is not running:
# tell it to leave databases alone. Keystone's own questions (admin tenant, endpoint
# registration) default to no.
{
  for p in keystone glance-common glance-api placement-common placement-api \
    nova-common nova-api nova-conductor nova-scheduler neutron-common neutron-server \
    octavia-common octavia-api octavia-worker magnum-common magnum-api magnum-conductor; do
    echo "$p $p/dbconfig-install boolean false"
    echo "$p $p/configure_db boolean false"
    echo "$p $p/register-endpoint boolean false"
  done
  echo "keystone keystone/create-admin-tenant boolean false"
} | debconf-set-selections

if ! apt-cache policy keystone 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  apt-get update -qq
fi
echo "openstack install: installing ${#missing[@]} packages (${missing[*]})" >&2
log=$(mktemp /tmp/kubeseed-openstack-install.XXXXXX.log)
if ! apt-get install -y -q --no-install-recommends "${pkgs[@]}" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "openstack install: apt-get install failed; full output in $log" >&2
  exit 1
fi
rm -f "$log"
echo "openstack install: done in $(( $(date +%s) - start ))s" >&2
echo "timing install: $(( $(date +%s) - start ))s"
