#!/usr/bin/env bash
# Installs what the local seed needs from Debian's packages: containerd, runc and the CNI
# plugins run pods; iptables and conntrack serve kube-proxy and the CNI portmap/masquerade;
# ipset is packed into the kube-router image, which shells out to it (hack/seed).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "seed-deps: must run as root (apt-get install)" >&2; exit 1; }
pkgs=(containerd runc containernetworking-plugins iptables conntrack ipset)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
echo "seed-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts containerd through an init script where it can; the seed runs its own.
if command -v service >/dev/null && [ -x /etc/init.d/containerd ]; then service containerd stop >/dev/null 2>&1 || true; fi
