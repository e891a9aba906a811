#!/usr/bin/env bash
# Installs (or upgrades, idempotently) the operator into the local seed, as `make demo` and
# `make density` need it: loads the manager, tunnel and autoscaler images built by `make
# manager-image tunnel-image autoscaler-image` into the seed, then `kubeseed seed bootstrap`
# (cert-manager when missing, the operator from charts/kubeseed).
#
# Environment (set by the Makefile): KUBESEED_CACHE, SEED (the seed tool), KUBESEED (the
# kubeseed CLI).
set -euo pipefail

cache=${KUBESEED_CACHE:?}
kubeconfig=$("${SEED:?}" kubeconfig)

echo "operator-up: loading the manager, tunnel and autoscaler images into the seed"
"$SEED" load "$cache/images/kubeseed-manager.tar" "$cache/images/kubeseed-tunnel.tar" "$cache/images/kubeseed-autoscaler.tar"
echo "operator-up: installing the operator (charts/kubeseed) into kubeseed-system"
# The image's tag stays "dev": its content digest as a pod annotation rolls the manager
# when a rebuilt image was loaded.
image_id=$(head -1 "$cache/images/kubeseed-manager.tar.sha256" | tr -d ':')
# The local seed has one node: HA tenants' replicas must be allowed to share it. Magnum gets
# its identity (docs/magnum.md: make magnum-kubeconfig hands it to the test cloud's Magnum).
"${KUBESEED:?}" seed bootstrap --kubeconfig "$kubeconfig" --set "podAnnotations.kubeseed\.io/image-id=$image_id" \
  --set controlPlane.spread=preferred --set magnum.enabled=true
