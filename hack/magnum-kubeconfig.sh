#!/usr/bin/env bash
# Gives the test cloud's Magnum its kubeconfig for the local seed, as docs/magnum.md tells an
# admin to: a token of the ServiceAccount kubeseed-magnum (chart value magnum.enabled, which
# hack/operator-up.sh sets), written where the test cloud's magnum.conf looks
# (KUBESEED_MAGNUM_KUBECONFIG in openstack.env). The e2e writes its own the same way.
#
# Environment (set by the Makefile): SEED (the seed tool), KUBECTL.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kubeconfig=$("${SEED:?}" kubeconfig)
env_file="$(dirname "$("$here/openstack/clouds.sh")")/openstack.env"
out=$(sed -n 's/^KUBESEED_MAGNUM_KUBECONFIG=//p' "$env_file")
[ -n "$out" ] || { echo "magnum-kubeconfig: $env_file names no KUBESEED_MAGNUM_KUBECONFIG (make openstack-up)" >&2; exit 1; }
k() { "${KUBECTL:?}" --kubeconfig "$kubeconfig" "$@"; }
k -n kubeseed-system get serviceaccount kubeseed-magnum >/dev/null ||
  { echo "magnum-kubeconfig: no ServiceAccount kubeseed-magnum: install the operator with magnum.enabled=true (make demo does)" >&2; exit 1; }
token=$(k -n kubeseed-system create token kubeseed-magnum --duration 24h)
server=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
ca=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
if [ -z "$ca" ]; then
  cafile=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
  [ -n "$cafile" ] && ca=$(base64 -w0 <"$cafile")
fi
[ -n "$ca" ] || { echo "magnum-kubeconfig: the seed's kubeconfig names no CA" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
umask 077
# Written beside and renamed: the driver reads the file at every call.
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat >"$tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: seed
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: kubeseed-magnum
  user:
    token: $token
contexts:
- name: magnum
  context: {cluster: seed, user: kubeseed-magnum}
current-context: magnum
KC
mv -f "$tmp" "$out"
echo "magnum-kubeconfig: wrote $out (kubeseed-magnum, valid 24h)"
