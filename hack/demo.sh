#!/usr/bin/env bash
# make demo, after `make seed-up manager-image tunnel-image autoscaler-image`: install the
# operator from its chart into the local seed (hack/operator-up.sh), apply a sample
# TenantCluster, show its progress, and print how to use it.
#
# Environment (set by the Makefile): KUBESEED_CACHE, SEED (the seed tool), KUBECTL (the
# seed's kubectl), KUBESEED (the kubeseed CLI).
set -euo pipefail

cache=${KUBESEED_CACHE:?}
ns=${DEMO_NAMESPACE:-demo}
name=small
timeout=${DEMO_TIMEOUT:-300}
kubeconfig=$("$SEED" kubeconfig)
k() { "$KUBECTL" --kubeconfig "$kubeconfig" "$@"; }

hack/operator-up.sh

k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n "$ns" apply -f config/samples/tenantcluster-small.yaml
echo "demo: TenantCluster $ns/$name applied; waiting for it to be Ready (at most ${timeout}s)"

start=$SECONDS
last=""
while :; do
	# The phase, then each condition that is not True yet (Ready repeats them), shortened.
	line=$(k -n "$ns" get tenantcluster "$name" -o jsonpath='{.status.phase}{"\n"}{range .status.conditions[?(@.status!="True")]}{.type}: {.message}{"\n"}{end}' 2>&1 |
		grep -v '^Ready: ' | cut -c1-110 || true)
	if [[ "$line" != "$last" ]]; then
		printf '%4ds %s\n' $((SECONDS - start)) "$(sed '2,$s/^/        /' <<<"${line:-(no status yet)}")"
		last=$line
	fi
	if [[ "$(k -n "$ns" get tenantcluster "$name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == "True" ]]; then
		break
	fi
	if ((SECONDS - start > timeout)); then
		echo "demo: $ns/$name is not Ready after ${timeout}s. Look at:" >&2
		echo "  $KUBECTL --kubeconfig $kubeconfig -n $ns describe tenantcluster $name" >&2
		echo "  $KUBECTL --kubeconfig $kubeconfig -n kubeseed-system logs deploy/kubeseed-manager" >&2
		exit 1
	fi
	sleep 2
done

out="$cache/demo/$name.kubeconfig"
mkdir -p "$(dirname "$out")"
k -n "$ns" get secret "$name-kubeconfig" -o jsonpath='{.data.value}' | base64 -d >"$out"
chmod 600 "$out"
# Prove the kubeconfig works before telling anyone to use it.
"$KUBECTL" --kubeconfig "$out" get --raw /readyz >/dev/null
echo
echo "demo: TenantCluster $ns/$name is Ready after $((SECONDS - start))s. Use it with:"
echo "  $KUBECTL --kubeconfig $out get namespaces"
