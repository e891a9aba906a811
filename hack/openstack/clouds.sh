#!/usr/bin/env bash
# Prints the path of the test cloud's clouds.yaml (clouds "admin" and "customer"); next to
# it, openstack.env holds the names and IDs tests read. Fails when the cloud is not up.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ ! -f "$DONE/ready" ] || [ ! -f "$STATE/clouds.yaml" ] || [ ! -f "$STATE/openstack.env" ]; then
  die "no test cloud in $STATE: run make openstack-up"
fi
echo "$STATE/clouds.yaml"
